package prefetch

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// load, Lines where there is no prefetch instruction, may be called from many goroutines at
// once on words that others write atomically, as the event loops do on the live set's filter
// while a round sets its bits: under go test -race, nothing is reported. It does not allocate.
func TestLoadBesideAtomicWritersAndOtherLoads(t *testing.T) {
	words := make([]atomic.Uint64, 64)
	ptrs := make([]unsafe.Pointer, len(words))
	for i := range words {
		ptrs[i] = unsafe.Pointer(&words[i])
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 200 {
				load(ptrs)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 * len(words) {
			words[i%len(words)].Or(1 << (i / len(words) % 64))
		}
	})
	wg.Wait()
	if allocs := testing.AllocsPerRun(10, func() { load(ptrs) }); allocs != 0 {
		t.Errorf("load: %v allocations", allocs)
	}
}
