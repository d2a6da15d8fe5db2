package prefetch

import "unsafe"

// Lines asks for the cache line holding each of ptrs, without waiting for any (PREFETCHT0,
// lines_amd64.s). Each must point into a live Go object.
//
//go:noescape
func Lines(ptrs []unsafe.Pointer)
