package blocklist

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// A snapshot prefetches when its IPv4 tables outgrow PrefetchMinBytes, and not for the real
// feeds or for IPv6 alone.
func TestPrefetchIsDecidedFromTheTablesSize(t *testing.T) {
	big, err := Build([]List{{Name: "syn", Parsed: SyntheticV4(400_000, 1)}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	real, err := Build(realLists(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := Build([]List{{Name: "syn", Parsed: SyntheticV6(400_000, 1)}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nilSnap *Snapshot
	for _, tc := range []struct {
		name string
		s    *Snapshot
		want bool
	}{{"400k IPv4 entries", big, true}, {"real feeds", real, false}, {"400k IPv6 entries", v6, false}, {"nil", nilSnap, false}} {
		if got := tc.s.Prefetches(); got != tc.want {
			t.Errorf("%s: Prefetches() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Prefetch answers nothing and changes nothing: lookups after it give what they give without
// it, for every form of address Lookup takes (and ones it refuses), and it does not allocate.
func TestPrefetchChangesNoAnswer(t *testing.T) {
	p := SyntheticV4(400_000, 2)
	s, err := Build([]List{{Name: "syn", Parsed: p}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Prefetches() {
		t.Fatal("the snapshot does not prefetch: the test checks nothing")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	addrs := make([][]byte, 0, 2*MaxPrefetch)
	for len(addrs) < cap(addrs) {
		var a uint32
		if rng.IntN(2) == 0 {
			a = p.v4[rng.IntN(len(p.v4))].Lo
		} else {
			a = rng.Uint32()
		}
		switch rng.IntN(4) {
		case 0: // IPv4-mapped IPv6
			m := make([]byte, 16)
			m[10], m[11] = 0xff, 0xff
			binary.BigEndian.PutUint32(m[12:], a)
			addrs = append(addrs, m)
		case 1: // IPv6, skipped
			addrs = append(addrs, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 0x2001<<48|rng.Uint64()>>16), rng.Uint64()))
		case 2: // not an address
			addrs = append(addrs, []byte{1, 2, 3})
		default:
			addrs = append(addrs, binary.BigEndian.AppendUint32(nil, a))
		}
	}
	want := make([]Result, len(addrs))
	for i, a := range addrs {
		want[i] = s.Lookup(a)
	}
	for _, batch := range [][][]byte{nil, addrs[:1], addrs[:20], addrs} { // the last is beyond MaxPrefetch
		s.Prefetch(batch)
		for i, a := range addrs {
			if got := s.Lookup(a); got != want[i] {
				t.Fatalf("after Prefetch of %d addresses, % x: %+v, want %+v", len(batch), a, got, want[i])
			}
		}
	}
	// The same addresses split first, as the decision handler gives them: Prefetch4 and
	// Lookup4 answer as Prefetch and Lookup do.
	var as []uint32
	for i, a := range addrs {
		if family, _, lo := SplitAddr(a); family == 4 {
			as = append(as, uint32(lo))
			if got := s.Lookup4(uint32(lo)); got != want[i] {
				t.Fatalf("Lookup4 of % x: %+v, want %+v", a, got, want[i])
			}
		}
	}
	s.Prefetch4(as) // more than MaxPrefetch
	// Prefetch4 in its two halves, with lookups in between as the decision handler runs the
	// live set's: the answers stay the same, and the Pending4 is left holding nothing.
	var pd Pending4
	pd.AskBuckets() // the zero value asks for nothing
	for _, batch := range [][]uint32{nil, as[:1], as[:20], as} {
		s.AskIndex4(&pd, batch)
		for i, a := range addrs {
			if family, _, lo := SplitAddr(a); family == 4 {
				if got := s.Lookup4(uint32(lo)); got != want[i] {
					t.Fatalf("between AskIndex4 and AskBuckets of %d addresses, % x: %+v, want %+v", len(batch), a, got, want[i])
				}
			}
		}
		pd.AskBuckets()
		if pd.t != nil || pd.n != 0 || pd.lines != [len(pd.lines)]unsafe.Pointer{} {
			t.Fatalf("after AskBuckets of %d addresses, the Pending4 still holds the snapshot", len(batch))
		}
		pd.AskBuckets() // again: nothing asked for
	}
	var plain Snapshot // a snapshot that does not prefetch asks for nothing
	plain.AskIndex4(&pd, as)
	if pd.t != nil {
		t.Errorf("AskIndex4 on a snapshot that does not prefetch left something to ask for")
	}
	if n := testing.AllocsPerRun(100, func() {
		s.Prefetch(addrs)
		s.Prefetch4(as)
		s.AskIndex4(&pd, as)
		pd.AskBuckets()
	}); n != 0 {
		t.Errorf("Prefetch allocates %v times", n)
	}
	var none *Snapshot
	if r := none.Lookup4(1); r.Matched != 0 || r.Deny != -1 {
		t.Errorf("Lookup4 on a nil snapshot: %+v", r)
	}
}

// A batch of addresses in a bucket of many lines asks for more lines than Prefetch has room
// for: it prefetches what fits, up to the bucket's last segment, and changes no answer.
func TestPrefetchOfCrowdedBucketsStaysInBounds(t *testing.T) {
	var p Parsed
	for a := uint32(10 << 24); a < 10<<24|1<<16; a += 2 { // 65535 segments in 10.0/16
		p.v4 = append(p.v4, range4{a, a})
	}
	s, err := Build([]List{{Name: "even", Parsed: &p}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.v4.prefetch = true // small, but prefetched as if it were large
	var lines [2 * MaxPrefetch]unsafe.Pointer
	e := s.v4.index[10<<8]
	if m := s.v4.bucketLines(lines[:], 0, e); m != 17 {
		t.Errorf("a bucket of %d segments: %d lines, want 17 (16 fences' lines and its end)", e>>idxCountShift, m)
	}
	if m := s.v4.bucketLines(lines[:], len(lines)-1, e); m != len(lines) {
		t.Errorf("with room for one line: %d lines, want %d", m, len(lines))
	}
	addrs := make([][]byte, MaxPrefetch)
	for i := range addrs {
		addrs[i] = binary.BigEndian.AppendUint32(nil, 10<<24|uint32(i*1021))
	}
	s.Prefetch(addrs)
	for _, a := range addrs {
		if got, want := s.Lookup(a).Matched, uint64(1-a[3]&1); got != want {
			t.Errorf("% x: matched %b, want %b", a, got, want)
		}
	}
}
