package prefetch

import (
	"testing"
	"unsafe"
)

// Lines changes nothing it is pointed at, takes any number of pointers, and does not allocate.
func TestLinesReadsAndWritesNothing(t *testing.T) {
	table := make([]uint64, 1<<16)
	for i := range table {
		table[i] = uint64(i)
	}
	ptrs := make([]unsafe.Pointer, 0, 100)
	for i := range cap(ptrs) {
		ptrs = append(ptrs, unsafe.Pointer(&table[i*613%len(table)]))
	}
	for _, n := range []int{0, 1, 20, len(ptrs)} {
		if allocs := testing.AllocsPerRun(10, func() { Lines(ptrs[:n]) }); allocs != 0 {
			t.Errorf("Lines of %d pointers: %v allocations", n, allocs)
		}
	}
	Lines(nil)
	for i, v := range table {
		if v != uint64(i) {
			t.Fatalf("table[%d] = %d after Lines", i, v)
		}
	}
}
