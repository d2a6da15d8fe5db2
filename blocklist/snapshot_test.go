package blocklist

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// reference answers lookups the slow, obvious way: per list, per prefix length, a set of masked
// prefixes (ranges are decomposed into prefixes), probed at every length.
type reference struct {
	v4                 []map[uint32]uint64 // [len] masked address -> list bits
	v4ex               []map[uint32]uint64 // exceptions
	v6                 map[int]map[uint128]uint64
	v6ex               map[int]map[uint128]uint64
	kinds              []Kind
	lengths, exLengths []int // IPv6 lengths present
}

func newReference(lists []List) *reference {
	r := &reference{v4: make([]map[uint32]uint64, 33), v4ex: make([]map[uint32]uint64, 33),
		v6: map[int]map[uint128]uint64{}, v6ex: map[int]map[uint128]uint64{}}
	for i := range r.v4 {
		r.v4[i], r.v4ex[i] = map[uint32]uint64{}, map[uint32]uint64{}
	}
	for i, l := range lists {
		bit := uint64(1) << i
		r.kinds = append(r.kinds, l.Kind)
		add4 := func(m []map[uint32]uint64, rs []range4) {
			for _, rg := range rs {
				for _, p := range rangePrefixes4(rg) {
					m[p.Bits()][binary.BigEndian.Uint32(p.Addr().AsSlice())] |= bit
				}
			}
		}
		add6 := func(m map[int]map[uint128]uint64, lengths *[]int, rs []range6) {
			for _, rg := range rs {
				for _, p := range rangePrefixes6(rg) {
					if m[p.Bits()] == nil {
						m[p.Bits()] = map[uint128]uint64{}
					}
					m[p.Bits()][u128FromAddr(p.Addr())] |= bit
					if !slices.Contains(*lengths, p.Bits()) {
						*lengths = append(*lengths, p.Bits())
					}
				}
			}
		}
		add4(r.v4, l.Parsed.v4)
		add4(r.v4ex, l.Parsed.except4)
		add6(r.v6, &r.lengths, l.Parsed.v6)
		add6(r.v6ex, &r.exLengths, l.Parsed.except6)
	}
	return r
}

func (r *reference) lookup4(a uint32) uint64 {
	var m, ex uint64
	for n := 0; n <= 32; n++ {
		k := prefixRange4(a, n).Lo
		m |= r.v4[n][k]
		ex |= r.v4ex[n][k]
	}
	return m &^ ex
}

func (r *reference) lookup6(a uint128) uint64 {
	var m, ex uint64
	for _, n := range r.lengths {
		m |= r.v6[n][prefixRange6(a, n).Lo]
	}
	for _, n := range r.exLengths {
		ex |= r.v6ex[n][prefixRange6(a, n).Lo]
	}
	return m &^ ex
}

// result reads the matched lists in order: the first deny list is the one named, and any
// allow list exempts.
func (r *reference) result(m uint64) Result {
	res := Result{Matched: m, Deny: -1}
	allowed := false
	for i, k := range r.kinds {
		switch {
		case m&(1<<i) == 0:
		case k == Allow:
			allowed = true
		case res.Deny < 0:
			res.Deny = i
		}
	}
	res.Blocked = res.Deny >= 0 && !allowed
	return res
}

// rangePrefixes4 decomposes an inclusive range into the CIDR prefixes that cover it exactly.
func rangePrefixes4(r range4) []netip.Prefix {
	var out []netip.Prefix
	lo, hi := uint64(r.Lo), uint64(r.Hi)
	for lo <= hi {
		n := 32
		for n > 0 {
			size := uint64(1) << (32 - (n - 1))
			if lo&(size-1) != 0 || lo+size-1 > hi {
				break
			}
			n--
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(lo))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(b), n))
		lo += uint64(1) << (32 - n)
	}
	return out
}

func rangePrefixes6(r range6) []netip.Prefix {
	var out []netip.Prefix
	lo := r.Lo
	for {
		n := 128
		for n > 0 {
			p := prefixRange6(lo, n-1)
			if p.Lo != lo || r.Hi.less(p.Hi) {
				break
			}
			n--
		}
		out = append(out, netip.PrefixFrom(lo.addr(), n))
		end := prefixRange6(lo, n).Hi
		if end == r.Hi {
			return out
		}
		lo = end.addOne()
	}
}

func mustParse(t testing.TB, src Source) *Parsed {
	t.Helper()
	p, err := ParseFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// realLists loads every real feed as one list; tor and ipsum are allow lists so that allow
// precedence is exercised on real data.
func realLists(t testing.TB) []List {
	srcs := []Source{
		{Name: "firehol", Path: feedPath("firehol_level1_2021-06-28.netset"), AllowShortPrefixes: true},
		{Name: "ipsum", Path: feedPath("stamparm_ipsum.txt")},
		{Name: "bogons4", Path: feedPath("cymru_fullbogons-ipv4_2024-03-10.txt"), AllowShortPrefixes: true},
		{Name: "bogons6", Path: feedPath("cymru_fullbogons-ipv6_2024-03-10.txt.gz"), AllowShortPrefixes: true},
		{Name: "tor", Path: feedPath("tor_exit_nodes_mixed_v4v6_2022-03.txt"), Kind: Allow},
		{Name: "dshield", Path: feedPath("dshield_block_2026-08-22.txt")},
		{Name: "ipsum3", Path: feedPath("stamparm_ipsum.txt"), MinCount: 3, Kind: Allow},
	}
	lists := make([]List, len(srcs))
	for i, s := range srcs {
		lists[i] = List{Name: s.Name, Kind: s.Kind, Parsed: mustParse(t, s)}
	}
	return lists
}

// syntheticLists adds overlapping ranges, duplicates and ipset nomatch exceptions to exercise
// what the real feeds do not.
func syntheticLists(rng *rand.Rand) []List {
	var a, b, c Parsed
	for range 3000 {
		base := rng.Uint32() & 0xfff00000 // cluster in a few /12s so lists overlap
		n := 16 + rng.IntN(17)
		r := prefixRange4(base|rng.Uint32()&0xfffff, n)
		switch rng.IntN(3) {
		case 0:
			a.v4 = append(a.v4, r)
		case 1:
			b.v4 = append(b.v4, r)
		default:
			c.except4 = append(c.except4, r)
			c.v4 = append(c.v4, prefixRange4(r.Lo, max(n-4, 8)))
		}
		h := rng.Uint64() & 0x2001_0db8_ffff_0000
		r6 := prefixRange6(uint128{h, rng.Uint64()}, 32+rng.IntN(33))
		if rng.IntN(2) == 0 {
			a.v6 = append(a.v6, r6)
		} else {
			b.v6 = append(b.v6, r6)
		}
		b.except6 = append(b.except6, prefixRange6(uint128{h, rng.Uint64()}, 120+rng.IntN(9)))
	}
	a.v4 = append(a.v4, range4{0, 0}, range4{^uint32(0), ^uint32(0)}, range4{5, 1000})
	b.v6 = append(b.v6, range6{uint128{}, uint128{}}, range6{uint128{^uint64(0), ^uint64(0)}, uint128{^uint64(0), ^uint64(0)}})
	return []List{{Name: "a", Parsed: &a}, {Name: "b", Kind: Allow, Parsed: &b}, {Name: "c", Parsed: &c}}
}

// randomCount is the number of random addresses per family the property tests probe: 1M, less
// under -short and the race detector (which slows the reference's map probes tenfold).
func randomCount() int {
	switch {
	case testing.Short():
		return 100_000
	case raceEnabled:
		return 100_000
	}
	return 1_000_000
}

// checkAgainstReference builds lists with each of opts and compares every snapshot with the
// reference at every boundary address of every range (first, last, ±1) and at random addresses.
func checkAgainstReference(t *testing.T, lists []List, opts ...BuildOptions) {
	var snaps []*Snapshot
	for _, o := range opts {
		s, err := Build(lists, o)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	ref := newReference(lists)
	fails := 0
	compare := func(got func(*Snapshot) Result, want Result, addr netip.Addr) {
		for i, s := range snaps {
			if g := got(s); g != want && fails < 10 {
				fails++
				t.Errorf("%v (build %+v): got %+v, want %+v", addr, opts[i], g, want)
			}
		}
	}
	check4 := func(a uint32) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], a)
		compare(func(s *Snapshot) Result { return s.Lookup(b[:]) }, ref.result(ref.lookup4(a)), netip.AddrFrom4(b))
	}
	check6 := func(a uint128) {
		if a.Hi == 0 && a.Lo>>32 == 0xffff {
			return // mapped: looked up as IPv4, covered by check4
		}
		b := a.addr().As16()
		compare(func(s *Snapshot) Result { return s.Lookup(b[:]) }, ref.result(ref.lookup6(a)), a.addr())
	}
	for _, l := range lists {
		for _, rs := range [][]range4{l.Parsed.v4, l.Parsed.except4} {
			for _, r := range rs {
				for _, a := range []uint32{r.Lo - 1, r.Lo, r.Lo + 1, r.Hi - 1, r.Hi, r.Hi + 1} {
					check4(a)
				}
			}
		}
		for _, rs := range [][]range6{l.Parsed.v6, l.Parsed.except6} {
			for _, r := range rs {
				for _, a := range []uint128{r.Lo.subOne(), r.Lo, r.Lo.addOne(), r.Hi.subOne(), r.Hi, r.Hi.addOne()} {
					check6(a)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range randomCount() {
		check4(rng.Uint32())
		hi := rng.Uint64()
		if rng.IntN(2) == 0 {
			hi = 0x2000<<48 | hi>>3 // 2000::/3, where the real IPv6 entries are
		}
		check6(uint128{hi, rng.Uint64()})
	}
}

// The bloom filter must never change an answer, so the real feeds are checked with and
// without it.
func TestSnapshotMatchesReferenceRealFeeds(t *testing.T) {
	checkAgainstReference(t, realLists(t), BuildOptions{BloomMinExact: -1}, BuildOptions{BloomMinExact: 1})
}

// TestFullBuckets fills index buckets to their limits: an IPv4 /16 with a segment starting at
// every address (65535 inner segments, the most an index entry counts), and an IPv6 /16 whose
// second-level block has a sub-bucket with more inner segments than an entry can count, so the
// lookup takes its end from the next entry. Single IPv6 addresses inside the big bucket exercise the exact-set flag.
func TestFullBuckets(t *testing.T) {
	var even, six Parsed
	for a := uint32(10 << 24); a < 10<<24|1<<16; a += 2 {
		even.v4 = append(even.v4, range4{a, a})
	}
	for i := range uint64(70_000) {
		lo := uint128{0x2001_0db8<<32 | i<<1, 0}
		six.v6 = append(six.v6, prefixRange6(lo, 64))
		six.v6 = append(six.v6, range6{uint128{lo.Hi | 1, 7}, uint128{lo.Hi | 1, 7}})
	}
	// The last /16 of the space, so its bucket's end is the end of segs.
	six.v6 = append(six.v6, prefixRange6(uint128{0xffff << 48, 0}, 64))
	lists := []List{{Name: "even", Parsed: &even}, {Name: "six", Parsed: &six}}
	s, err := Build(lists, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := s.v4.index[10<<8]; e>>idxCountShift != 0xffff {
		t.Errorf("10.0/16 has %d inner segments, want 65535", e>>idxCountShift)
	}
	e := s.v6.index[0x2001]
	if e&idxSub == 0 || e&idxExact == 0 {
		t.Fatalf("2001::/16 index entry %#x: want a second-level block and the exact flag", e)
	}
	if sub := s.v6.sub[int(e&idxOffMask)*(subSize+1)+0x0db]; sub>>idxCountShift != idxCountBig || sub&idxExact == 0 {
		t.Errorf("2001:db8::/32's second-level entry %#x: want the big count and the exact flag", sub)
	}
	checkAgainstReference(t, lists, BuildOptions{})
}

func TestSnapshotMatchesReferenceSynthetic(t *testing.T) {
	checkAgainstReference(t, syntheticLists(rand.New(rand.NewPCG(3, 4))), BuildOptions{})
}

func TestMappedClientsAreIPv4(t *testing.T) {
	bogons6 := mustParse(t, Source{Name: "bogons6", Path: feedPath("cymru_fullbogons-ipv6_2024-03-10.txt.gz"), AllowShortPrefixes: true})
	var v4 Parsed
	e, _ := parseEntry([]byte("::ffff:198.51.100.0/120")) // a mapped entry becomes 198.51.100.0/24
	v4.v4 = append(v4.v4, e.r4)
	s, err := Build([]List{{Name: "bogons6", Parsed: bogons6}, {Name: "mine", Parsed: &v4}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mapped := netip.MustParseAddr("::ffff:203.0.113.9").As16()
	if r := s.Lookup(mapped[:]); r.Blocked || r.Matched != 0 {
		t.Errorf("::ffff:203.0.113.9 = %+v; ::/10 must not cover mapped clients", r)
	}
	listed := netip.MustParseAddr("::ffff:198.51.100.7").As16()
	if r := s.Lookup(listed[:]); !r.Blocked || r.Deny != 1 || string(s.ListName(r.Deny)) != "mine" {
		t.Errorf("::ffff:198.51.100.7 = %+v, want blocked by mine", r)
	}
	if r := s.Lookup([]byte{198, 51, 100, 7}); !r.Blocked || r.Deny != 1 {
		t.Errorf("198.51.100.7 = %+v, want blocked by mine", r)
	}
	compat := netip.MustParseAddr("::198.51.100.7").As16() // IPv4-compatible, not mapped: IPv6
	if r := s.Lookup(compat[:]); !r.Blocked || r.Deny != 0 {
		t.Errorf("::198.51.100.7 = %+v, want blocked by bogons6 (::/10)", r)
	}
}

func TestLookupOddInput(t *testing.T) {
	var nilSnap *Snapshot
	if r := nilSnap.Lookup([]byte{1, 2, 3, 4}); r != (Result{Deny: -1}) {
		t.Errorf("nil snapshot: %+v", r)
	}
	if r := nilSnap.LookupAddr(netip.MustParseAddr("1.2.3.4")); r != (Result{Deny: -1}) {
		t.Errorf("nil snapshot: %+v", r)
	}
	s, err := Build(realLists(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{nil, {}, {1}, {1, 2, 3}, make([]byte, 5), make([]byte, 15), make([]byte, 17)} {
		if r := s.Lookup(b); r != (Result{Deny: -1}) {
			t.Errorf("Lookup(%d bytes) = %+v", len(b), r)
		}
	}
	if r := s.LookupAddr(netip.Addr{}); r != (Result{Deny: -1}) {
		t.Errorf("zero Addr: %+v", r)
	}
	if s.ListName(-1) != nil || s.ListName(s.NumLists()) != nil {
		t.Error("ListName out of range is not nil")
	}
}

func TestAllowOverridesDeny(t *testing.T) {
	s, err := Build(realLists(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 77.90.185.20 is in ipsum (deny, list 1) with count 10, so also in ipsum3 (allow, list 6).
	r := s.LookupAddr(netip.MustParseAddr("77.90.185.20"))
	if r.Blocked || r.Deny != 1 || r.Matched != 1<<1|1<<6 {
		t.Errorf("77.90.185.20 = %+v, want matched by ipsum and ipsum3, not blocked", r)
	}
	// 10.1.2.3: firehol (0) and bogons4 (2).
	r = s.LookupAddr(netip.MustParseAddr("10.1.2.3"))
	if !r.Blocked || r.Deny != 0 || r.Matched != 1<<0|1<<2 || string(s.ListName(r.Deny)) != "firehol" {
		t.Errorf("10.1.2.3 = %+v", r)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	for _, opts := range []BuildOptions{{BloomMinExact: -1}, {BloomMinExact: 1}} {
		s, err := Build(realLists(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		addrs := [][]byte{{77, 90, 185, 20}, {8, 8, 8, 8}, netip.MustParseAddr("2001:db8::1").AsSlice(),
			netip.MustParseAddr("::ffff:10.0.0.1").AsSlice(), netip.MustParseAddr("2620:18c:0:192::217").AsSlice()}
		na := netip.MustParseAddr("2620:18c:0:192::217")
		allocs := testing.AllocsPerRun(100, func() {
			for _, a := range addrs {
				s.Lookup(a)
			}
			s.LookupAddr(na)
			s.ListName(0)
		})
		if allocs != 0 {
			t.Errorf("bloom=%d: %v allocs per run, want 0", opts.BloomMinExact, allocs)
		}
	}
}

func TestTooManyLists(t *testing.T) {
	lists := make([]List, MaxLists+1)
	if _, err := Build(lists, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("err = %v", err)
	}
}

func TestIndexShift4NarrowsBucketsOfManySegments(t *testing.T) {
	for _, tc := range []struct {
		segs int
		want uint8
	}{
		{0, 16},
		{bucketSegs4 << 16, 16}, // a line's quarter per /16 bucket: /16 buckets
		{bucketSegs4<<16 + 1, 15},
		{bucketSegs4 << 17, 15},
		{bucketSegs4<<17 + 1, 14},
		{bucketSegs4 << 19, 13},
		{bucketSegs4<<19 + 1, 12},
		{1 << 30, 32 - maxIndexBits4}, // the index stops growing at 8 MB
	} {
		if got := indexShift4(tc.segs); got != tc.want {
			t.Errorf("indexShift4(%d) = %d, want %d", tc.segs, got, tc.want)
		}
	}
}

// A table large enough for buckets narrower than /16 answers as the reference does, at every
// range's ends, and gives each list's ranges back: the carried segment at a narrow bucket's
// start, ranges that start or end on a bucket's edge, and ranges across many buckets.
func TestNarrowBucketsAnswerAsTheReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 11))
	const narrow = 1 << 15 // addresses in a bucket of the table below
	r4 := func() range4 {
		a := rng.Uint32()
		switch rng.IntN(32) {
		case 0:
			return prefixRange4(a, 20+rng.IntN(13))
		case 1:
			return range4{a, a + uint32(rng.IntN(1<<10))}
		case 2:
			return range4{a &^ (narrow - 1), a | (narrow - 1)} // one bucket, edge to edge
		case 3:
			return range4{a &^ (narrow - 1), a} // from a bucket's first address
		case 4:
			return range4{a, a | (narrow - 1)} // to a bucket's last
		}
		return range4{a, a}
	}
	var lists []List
	for _, n := range []int{400_000, 5_000} {
		p := &Parsed{}
		for range n {
			if r := r4(); r.Lo <= r.Hi {
				p.v4 = append(p.v4, r)
			}
		}
		lists = append(lists, List{Name: "l", Parsed: p})
	}
	lists[1].Parsed.v4 = append(lists[1].Parsed.v4, range4{0, 5}, range4{^uint32(0) - 3, ^uint32(0)})
	s, err := Build(lists, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.v4.shift != 15 {
		t.Fatalf("the IPv4 index has buckets of 2^%d addresses, want 2^15: the data must exercise narrow buckets", s.v4.shift)
	}
	checkAgainstReference(t, lists, BuildOptions{})
	for i, l := range lists {
		if got, want := func() []range4 { r, _ := s.listRanges(i); return r }(), l.Parsed.ranges4(); !slices.Equal(got, want) {
			t.Errorf("list %d: %d IPv4 ranges read back, want %d", i, len(got), len(want))
		}
	}
}

// The index is sized from the table's segments, not from the lists' ranges: lists that
// overlap share their segments, and copies of one list get the index that list gets alone.
func TestOverlappingListsDoNotWidenTheIndex(t *testing.T) {
	p := SyntheticV4(300_000, 7)
	one, err := Build([]List{{Name: "a", Parsed: p}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copies := make([]List, 4)
	for i := range copies {
		copies[i] = List{Name: fmt.Sprint("copy", i), Parsed: p}
	}
	four, err := Build(copies, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if one.v4.shift >= 16 {
		t.Fatalf("one list: buckets of 2^%d addresses; the test needs narrowed ones", one.v4.shift)
	}
	if four.v4.shift != one.v4.shift || len(four.v4.index) != len(one.v4.index) {
		t.Errorf("four copies: buckets of 2^%d addresses (%d entries), one list alone: 2^%d (%d)",
			four.v4.shift, len(four.v4.index), one.v4.shift, len(one.v4.index))
	}
}
