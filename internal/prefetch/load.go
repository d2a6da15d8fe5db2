package prefetch

import (
	"runtime"
	"unsafe"
)

// load brings in the cache line holding each of ptrs by reading a byte of it: Lines where
// there is no prefetch instruction. The bytes read are summed and the sum kept alive, so
// that the loads stay, and nothing is written: a shared variable to keep them would be a line
// that every caller, on every core, writes. Under the race detector it reads nothing: a byte
// it reads may be part of a word that another goroutine writes atomically (the live set's
// filter words), which the detector reports, though the value read is never used.
func load(ptrs []unsafe.Pointer) {
	if raceEnabled {
		return
	}
	var sum byte
	for _, p := range ptrs {
		sum += *(*byte)(p)
	}
	runtime.KeepAlive(sum)
}
