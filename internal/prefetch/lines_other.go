//go:build !amd64

package prefetch

import "unsafe"

// Lines brings in the cache line holding each of ptrs by reading a byte of it. Each must
// point into a live Go object.
func Lines(ptrs []unsafe.Pointer) {
	var sum byte
	for _, p := range ptrs {
		sum += *(*byte)(p)
	}
	sink = sum
}

// sink keeps the loads of Lines: they are what it is for.
var sink byte
