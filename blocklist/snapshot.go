package blocklist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// MaxLists is the number of lists a snapshot can hold: one bit each in Result.Matched.
const MaxLists = 64

// Result is the answer for one address.
type Result struct {
	Blocked bool   // a deny list matched and no allow list did
	Matched uint64 // bit i set = list i covers the address
	Deny    int    // index of the first matching deny list, -1 if none
}

// Snapshot is an immutable set of lists. All methods are safe for concurrent use, and on a nil
// *Snapshot (nothing is listed).
type Snapshot struct {
	names     [][]byte
	kinds     []Kind
	denyMask  uint64
	allowMask uint64

	v4 table4
	v6 table6
	e4 exact4
	e6 exact6

	masks []uint64 // distinct list bitmasks, indexed by the uint16s in the tables; masks[0] = 0
}

// List is one parsed source given to Build.
type List struct {
	Name   string
	Kind   Kind
	Parsed *Parsed
}

// BuildOptions tune Build; the zero value is the production default.
type BuildOptions struct {
	// BloomMinExact puts a bloom filter in front of a family's exact-address set when the set
	// holds at least this many addresses. 0 means DefaultBloomMinExact; a negative value never
	// uses one.
	BloomMinExact int
}

// DefaultBloomMinExact is the exact-set size from which the bloom filter is used. The filter
// only saves work on a miss once the set no longer fits in cache; BenchmarkLookupSynthetic
// measures set vs bloom+set at 100k, 500k and 2M entries. The runs so far (on a shared, heavily
// loaded 2-core machine) showed no size where it reliably pays for hits and misses together: it
// cut some miss times and doubled some hit times. Until a clean run shows a crossover it is
// off by default; BuildOptions.BloomMinExact turns it on.
const DefaultBloomMinExact = math.MaxInt

// Build merges lists into a snapshot. List i is bit i of Result.Matched.
func Build(lists []List, opts BuildOptions) (*Snapshot, error) {
	if len(lists) > MaxLists {
		return nil, fmt.Errorf("blocklist: %d lists; at most %d are supported", len(lists), MaxLists)
	}
	s := &Snapshot{masks: []uint64{0}}
	in := newInterner(s)
	var (
		ev4    []event4
		ev6    []event6
		exact4 []exactEntry4
		exact6 []exactEntry6
	)
	for i, l := range lists {
		s.names = append(s.names, []byte(l.Name))
		s.kinds = append(s.kinds, l.Kind)
		bit := uint64(1) << i
		if l.Kind == Allow {
			s.allowMask |= bit
		} else {
			s.denyMask |= bit
		}
		if l.Parsed == nil {
			continue
		}
		for _, r := range normalize4(l.Parsed.V4, l.Parsed.Except4) {
			if r.Lo == r.Hi {
				exact4 = append(exact4, exactEntry4{r.Lo, bit})
				continue
			}
			ev4 = append(ev4, event4{uint64(r.Lo), bit}, event4{uint64(r.Hi) + 1, bit})
		}
		for _, r := range normalize6(l.Parsed.V6, l.Parsed.Except6) {
			if r.Lo == r.Hi {
				exact6 = append(exact6, exactEntry6{r.Lo, bit})
				continue
			}
			ev6 = append(ev6, event6{r.Lo, bit, false})
			if !r.Hi.isMax() {
				ev6 = append(ev6, event6{r.Hi.addOne(), bit, false})
			}
		}
	}
	if err := s.v4.build(ev4, in); err != nil {
		return nil, err
	}
	if err := s.v6.build(ev6, in); err != nil {
		return nil, err
	}
	bloomMin := opts.BloomMinExact
	if bloomMin == 0 {
		bloomMin = DefaultBloomMinExact
	}
	if err := s.e4.build(exact4, in, bloomMin); err != nil {
		return nil, err
	}
	if err := s.e6.build(exact6, in, bloomMin); err != nil {
		return nil, err
	}
	return s, nil
}

// interner gives each distinct list bitmask a small index, so tables store 2 bytes per entry
// instead of 8: real snapshots have a handful of distinct combinations.
type interner struct {
	s   *Snapshot
	idx map[uint64]uint16
}

func newInterner(s *Snapshot) *interner { return &interner{s, map[uint64]uint16{0: 0}} }

var errTooManyMasks = errors.New("blocklist: more than 65535 distinct list combinations")

func (in *interner) id(m uint64) (uint16, error) {
	if i, ok := in.idx[m]; ok {
		return i, nil
	}
	if len(in.s.masks) > 0xffff {
		return 0, errTooManyMasks
	}
	i := uint16(len(in.s.masks))
	in.s.masks = append(in.s.masks, m)
	in.idx[m] = i
	return i, nil
}

// normalize4 returns the addresses of rs minus those of except as sorted, disjoint,
// non-adjacent ranges.
func normalize4(rs, except []Range4) []Range4 {
	out := merge4(rs)
	if len(except) == 0 || len(out) == 0 {
		return out
	}
	ex := merge4(except)
	res := make([]Range4, 0, len(out))
	j := 0
	for _, r := range out {
		lo := uint64(r.Lo)
		for j < len(ex) && ex[j].Hi < r.Lo {
			j++
		}
		for k := j; k < len(ex) && ex[k].Lo <= r.Hi; k++ {
			if uint64(ex[k].Lo) > lo {
				res = append(res, Range4{uint32(lo), ex[k].Lo - 1})
			}
			lo = uint64(ex[k].Hi) + 1
		}
		if lo <= uint64(r.Hi) {
			res = append(res, Range4{uint32(lo), r.Hi})
		}
	}
	return res
}

func merge4(rs []Range4) []Range4 {
	if len(rs) == 0 {
		return nil
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range4) int {
		if a.Lo != b.Lo {
			if a.Lo < b.Lo {
				return -1
			}
			return 1
		}
		return 0
	})
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if uint64(r.Lo) <= uint64(last.Hi)+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

func normalize6(rs, except []Range6) []Range6 {
	out := merge6(rs)
	if len(except) == 0 || len(out) == 0 {
		return out
	}
	ex := merge6(except)
	res := make([]Range6, 0, len(out))
	j := 0
	for _, r := range out {
		lo, done := r.Lo, false
		for j < len(ex) && ex[j].Hi.less(r.Lo) {
			j++
		}
		for k := j; k < len(ex) && !r.Hi.less(ex[k].Lo); k++ {
			if lo.less(ex[k].Lo) {
				res = append(res, Range6{lo, ex[k].Lo.subOne()})
			}
			if ex[k].Hi.isMax() {
				done = true
				break
			}
			lo = ex[k].Hi.addOne()
		}
		if !done && !r.Hi.less(lo) {
			res = append(res, Range6{lo, r.Hi})
		}
	}
	return res
}

func merge6(rs []Range6) []Range6 {
	if len(rs) == 0 {
		return nil
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b Range6) int { return a.Lo.cmp(b.Lo) })
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if last.Hi.isMax() || !last.Hi.addOne().less(r.Lo) {
			if last.Hi.less(r.Hi) {
				last.Hi = r.Hi
			}
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// An event toggles a list's bit at a position: every list's ranges are disjoint and
// non-adjacent after normalize, so a bit is switched on at a range start and off after its end.
type event4 struct {
	pos uint64 // up to 1<<32 (one past the last address)
	bit uint64
}

type event6 struct {
	pos Uint128
	bit uint64
	_   bool
}

// table4 partitions the IPv4 space into segments: segment i runs from starts[i] to
// starts[i+1]-1 and is covered by the lists in masks[midx[i]]. starts[0] is always 0.
// index[h] is the number of segments starting below h<<16, so a lookup binary-searches only the
// segments starting in its own /16 (plus the one before, which covers its start).
type table4 struct {
	starts []uint32
	midx   []uint16
	index  *[1<<16 + 1]uint32
}

func (t *table4) build(ev []event4, in *interner) error {
	slices.SortFunc(ev, func(a, b event4) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})
	t.starts = []uint32{0}
	t.midx = []uint16{0}
	var mask, last uint64
	for i := 0; i < len(ev); {
		pos := ev[i].pos
		for ; i < len(ev) && ev[i].pos == pos; i++ {
			mask ^= ev[i].bit
		}
		if pos > 0xffffffff || mask == last {
			last = mask
			continue
		}
		id, err := in.id(mask)
		if err != nil {
			return err
		}
		if pos == 0 {
			t.midx[0] = id
		} else {
			t.starts = append(t.starts, uint32(pos))
			t.midx = append(t.midx, id)
		}
		last = mask
	}
	t.starts, t.midx = slices.Clip(t.starts), slices.Clip(t.midx)
	t.index = new([1<<16 + 1]uint32)
	j := 0
	for h := 0; h <= 1<<16; h++ {
		for j < len(t.starts) && uint64(t.starts[j]) < uint64(h)<<16 {
			j++
		}
		t.index[h] = uint32(j)
	}
	return nil
}

// lookup returns the mask index covering a.
func (t *table4) lookup(a uint32) uint16 {
	h := a >> 16
	lo, hi := t.index[h], t.index[h+1]
	// Find the first segment in [lo,hi) starting after a; the one before covers a. Segment lo-1
	// starts below h<<16 (starts[0] = 0), so lo ≥ 1 once the loop ran for h = 0.
	for lo < hi {
		m := (lo + hi) >> 1
		if t.starts[m] <= a {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return t.midx[lo-1]
}

// table6 is table4 for IPv6, indexed on the top 16 bits.
type table6 struct {
	starts []Uint128
	midx   []uint16
	index  *[1<<16 + 1]uint32
}

func (t *table6) build(ev []event6, in *interner) error {
	slices.SortFunc(ev, func(a, b event6) int { return a.pos.cmp(b.pos) })
	t.starts = []Uint128{{}}
	t.midx = []uint16{0}
	var mask, last uint64
	for i := 0; i < len(ev); {
		pos := ev[i].pos
		for ; i < len(ev) && ev[i].pos == pos; i++ {
			mask ^= ev[i].bit
		}
		if mask == last {
			continue
		}
		id, err := in.id(mask)
		if err != nil {
			return err
		}
		if pos == (Uint128{}) {
			t.midx[0] = id
		} else {
			t.starts = append(t.starts, pos)
			t.midx = append(t.midx, id)
		}
		last = mask
	}
	t.starts, t.midx = slices.Clip(t.starts), slices.Clip(t.midx)
	t.index = new([1<<16 + 1]uint32)
	j := 0
	for h := 0; h <= 1<<16; h++ {
		for j < len(t.starts) && (h == 1<<16 || t.starts[j].Hi>>48 < uint64(h)) {
			j++
		}
		t.index[h] = uint32(j)
	}
	return nil
}

func (t *table6) lookup(a Uint128) uint16 {
	h := a.Hi >> 48
	lo, hi := t.index[h], t.index[h+1]
	for lo < hi {
		m := (lo + hi) >> 1
		s := t.starts[m]
		if s.Hi < a.Hi || (s.Hi == a.Hi && s.Lo <= a.Lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return t.midx[lo-1]
}

// Lookup looks up an address given as a 4- or 16-byte slice (network byte order, what the SPOP
// codec yields for IPV4/IPV6 values). An IPv4-mapped IPv6 address is looked up as IPv4. Any
// other length matches nothing. It does not allocate.
func (s *Snapshot) Lookup(addr []byte) Result {
	if s == nil {
		return Result{Deny: -1}
	}
	switch len(addr) {
	case 4:
		return s.lookup4(binary.BigEndian.Uint32(addr))
	case 16:
		hi := binary.BigEndian.Uint64(addr[:8])
		lo := binary.BigEndian.Uint64(addr[8:])
		if hi == 0 && lo>>32 == 0xffff {
			return s.lookup4(uint32(lo))
		}
		return s.lookup6(Uint128{hi, lo})
	}
	return Result{Deny: -1}
}

// LookupAddr is Lookup for a netip.Addr (the zone, if any, is ignored).
func (s *Snapshot) LookupAddr(a netip.Addr) Result {
	if s == nil || !a.IsValid() {
		return Result{Deny: -1}
	}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return s.lookup4(binary.BigEndian.Uint32(b[:]))
	}
	return s.lookup6(u128FromAddr(a))
}

func (s *Snapshot) lookup4(a uint32) Result {
	m := s.masks[s.v4.lookup(a)] | s.masks[s.e4.lookup(a)]
	return s.result(m)
}

func (s *Snapshot) lookup6(a Uint128) Result {
	m := s.masks[s.v6.lookup(a)] | s.masks[s.e6.lookup(a)]
	return s.result(m)
}

func (s *Snapshot) result(m uint64) Result {
	r := Result{Matched: m, Deny: -1}
	if d := m & s.denyMask; d != 0 {
		r.Deny = bits.TrailingZeros64(d)
		r.Blocked = m&s.allowMask == 0
	}
	return r
}

// ListName returns the name of list i (nil when out of range). The slice is shared: do not
// modify it.
func (s *Snapshot) ListName(i int) []byte {
	if s == nil || i < 0 || i >= len(s.names) {
		return nil
	}
	return s.names[i]
}

// ListKind returns the kind of list i.
func (s *Snapshot) ListKind(i int) Kind {
	if s == nil || i < 0 || i >= len(s.kinds) {
		return Deny
	}
	return s.kinds[i]
}

// NumLists returns the number of lists in the snapshot.
func (s *Snapshot) NumLists() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Stats describes the size of a snapshot.
type Stats struct {
	Ranges4, Ranges6 int  // segments in the range tables (covered or not)
	Exact4, Exact6   int  // addresses in the exact sets
	Bloom4, Bloom6   bool // whether a bloom filter fronts the exact set
	Bytes            int  // memory held by the lookup structures
}

// Stats returns the snapshot's sizes.
func (s *Snapshot) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	st := Stats{
		Ranges4: len(s.v4.starts), Ranges6: len(s.v6.starts),
		Exact4: s.e4.n, Exact6: s.e6.n,
		Bloom4: s.e4.bloom != nil, Bloom6: s.e6.bloom != nil,
	}
	st.Bytes = len(s.v4.starts)*4 + len(s.v4.midx)*2 + len(s.v6.starts)*16 + len(s.v6.midx)*2 +
		2*int(unsafe.Sizeof(*s.v4.index)) + len(s.masks)*8 + s.e4.bytes() + s.e6.bytes()
	return st
}
