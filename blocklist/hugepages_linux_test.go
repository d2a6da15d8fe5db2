package blocklist

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// anonHugeKB returns the AnonHugePages of the mapping holding p, from /proc/self/smaps.
func anonHugeKB(t *testing.T, p uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= p && p < hi
			continue
		}
		if kb, ok := strings.CutPrefix(line, "AnonHugePages:"); ok && in {
			var n int
			fmt.Sscan(kb, &n)
			return n
		}
	}
	t.Fatalf("no mapping holds %#x", p)
	return 0
}

// A snapshot whose IPv4 tables are larger than the cache has its segments on huge pages, so
// that its lookups do not miss the TLB too; one that fits in cache is left alone.
func TestLargeTablesAreOnHugePages(t *testing.T) {
	probe, err := unix.Mmap(-1, 0, 3*hugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Skip(err)
	}
	for i := range probe {
		probe[i] = 1
	}
	err = collapseHugePages(probe)
	_ = unix.Munmap(probe)
	if err != nil {
		t.Skipf("the kernel collapses no huge pages here: %v", err)
	}
	heap := make([]byte, 1) // in the heap's mapping, where the snapshot's tables will be
	before := anonHugeKB(t, uintptr(unsafe.Pointer(&heap[0])))
	s, err := Build([]List{{Name: "syn", Parsed: SyntheticV4(800_000, 1)}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Prefetches() || len(s.v4.segs)*4 < 2*hugePageSize {
		t.Fatalf("%d bytes of segments: the test needs tables above PrefetchMinBytes and two huge pages", len(s.v4.segs)*4)
	}
	if kb := anonHugeKB(t, uintptr(unsafe.Pointer(&s.v4.segs[len(s.v4.segs)/2]))); kb < before+hugePageSize>>10 {
		t.Errorf("the mapping of the segments holds %d kB of huge pages, %d before the build; want %d more", kb, before, hugePageSize>>10)
	}
	for _, b := range [][]byte{nil, make([]byte, 100), make([]byte, hugePageSize+1)} {
		if err := collapseHugePages(b); err != nil {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
}
