//go:build !amd64

package prefetch

import "unsafe"

// Lines brings in the cache line holding each of ptrs by reading a byte of it (load). Each
// must point into a live Go object.
func Lines(ptrs []unsafe.Pointer) { load(ptrs) }
