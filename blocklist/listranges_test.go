package blocklist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestListRangesReadBackWhatWasBuilt: a snapshot gives back each list's normalized ranges,
// whatever the other lists overlap, in both families: single addresses (IPv4 segments, the
// IPv6 exact set), prefixes and ranges across buckets, the ends of the address space, IPv6
// buckets big enough for a second-level block, and starts inside a /64.
func TestListRangesReadBackWhatWasBuilt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	r4 := func() range4 {
		a := rng.Uint32()
		switch rng.IntN(4) {
		case 0:
			return range4{a, a}
		case 1:
			return prefixRange4(a, 8+rng.IntN(25))
		case 2:
			return range4{a, a + uint32(rng.IntN(1<<20))}
		}
		return range4{a & 0xffff0000, a | 0xffff}
	}
	r6 := func() range6 {
		a := uint128{0x2001<<48 | rng.Uint64()>>16, rng.Uint64()} // one crowded /16
		switch rng.IntN(4) {
		case 0:
			return range6{a, a}
		case 1:
			return prefixRange6(a, 56+rng.IntN(72))
		case 2:
			return range6{a, uint128{a.Hi, a.Lo | 0xffff}}
		}
		return prefixRange6(uint128{rng.Uint64(), 0}, 64)
	}
	var lists []List
	for l := range 4 {
		p := &Parsed{}
		for range 3000 {
			if r := r4(); r.Lo <= r.Hi {
				p.v4 = append(p.v4, r)
			}
			p.v6 = append(p.v6, r6())
		}
		if l == 0 {
			p.v4 = append(p.v4, range4{0, 5}, range4{^uint32(0) - 3, ^uint32(0)})
			p.v6 = append(p.v6, range6{uint128{}, uint128{0, 9}}, range6{uint128{}, uint128{}},
				prefixRange6(uint128{^uint64(0), 0}, 100))
		}
		lists = append(lists, List{Name: "l", Parsed: p})
	}
	s, err := Build(lists, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.v6.sub) == 0 || s.v6.los == nil || s.e6.n == 0 {
		t.Fatalf("the IPv6 table has %d block entries, los %v, %d exact: the data must exercise them", len(s.v6.sub), s.v6.los != nil, s.e6.n)
	}
	for i, l := range lists {
		got4, got6 := s.listRanges(i)
		if want := l.Parsed.ranges4(); !slices.Equal(got4, want) {
			t.Errorf("list %d: IPv4 %d ranges read back, want %d", i, len(got4), len(want))
		}
		if want := l.Parsed.ranges6(); !slices.Equal(got6, want) {
			t.Errorf("list %d: IPv6 %d ranges read back, want %d", i, len(got6), len(want))
		}
	}
}
