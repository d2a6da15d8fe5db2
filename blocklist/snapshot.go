package blocklist

import (
	"encoding/binary"
	"errors"
	"fmt"
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

	// exactSet4 keeps single IPv4 addresses in the exact set instead of the range table. It is
	// the layout the range table replaced, kept so BenchmarkFold4 can show why.
	exactSet4 bool
}

// DefaultBloomMinExact is the exact-set size from which the bloom filter is used. The filter
// only saves work on a miss, once the set no longer fits in cache; on a hit it is pure cost.
// BenchmarkExactSet (thread CPU ns per lookup, medians of 5, on a shared 2-core machine at load
// 10) measured set vs bloom+set misses: IPv6 10k 53 vs 50, 100k 66 vs 60, 1M 143 vs 69,
// 4M 282 vs 133; IPv4 10k 34 vs 38, 100k 41 vs 53, 1M 80 vs 70, 4M 194 vs 89; hits cost
// about twice as much with the filter at every size. The crossover is between 100k and 1M.
// Only IPv6 single addresses use the exact set by default (IPv4 ones are range segments).
const DefaultBloomMinExact = 1_000_000

// Build merges lists into a snapshot. List i is bit i of Result.Matched.
//
// Single IPv4 addresses go into the range table with the prefixes (two segments each); single
// IPv6 addresses go into the exact set, where 16-byte keys cost less than two 16-byte segments
// and keep the IPv6 buckets short.
func Build(lists []List, opts BuildOptions) (*Snapshot, error) {
	if len(lists) > MaxLists {
		return nil, fmt.Errorf("blocklist: %d lists; at most %d are supported", len(lists), MaxLists)
	}
	s := &Snapshot{masks: []uint64{0}}
	in := newInterner(s)
	var (
		ev4    []uint64 // event4 values
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
			if r.Lo == r.Hi && opts.exactSet4 {
				exact4 = append(exact4, exactEntry4{r.Lo, bit})
				continue
			}
			ev4 = append(ev4, event4(uint64(r.Lo), i), event4(uint64(r.Hi)+1, i))
		}
		for _, r := range normalize6(l.Parsed.V6, l.Parsed.Except6) {
			if r.Lo == r.Hi {
				exact6 = append(exact6, exactEntry6{r.Lo, bit})
				continue
			}
			ev6 = append(ev6, event6{r.Lo, bit})
			if !r.Hi.isMax() {
				ev6 = append(ev6, event6{r.Hi.addOne(), bit})
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
	s.e4.each(func(a uint32) { s.v4.index[a>>16] |= idxExact })
	s.e6.each(s.v6.markExact)
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
// An IPv4 event is one uint64, position<<6 | list, so that millions of them sort as integers.
func event4(pos uint64, list int) uint64 { return pos<<6 | uint64(list) }

type event6 struct {
	pos Uint128
	bit uint64
}

// Both families partition their address space into segments, each covered by the lists in one
// mask, and index the segments by the address's top 16 bits. A bucket's index entry holds the
// mask of the segment covering the bucket's first address (which may have started in an earlier
// bucket), the number of segments starting inside the bucket after its first address, and where
// they are: a bucket no segment starts in is answered from its index entry alone, one load.
//
// Index entry layout:
const (
	idxOffMask    = 1<<29 - 1 // bits 0..28: offset of the bucket's inner segments in segs
	idxSub        = 1 << 29   // IPv6: the offset is that of the bucket's block in sub
	idxFine       = 1 << 30   // IPv6: an inner segment starts off a /64 boundary
	idxExact      = 1 << 31   // the family's exact set holds addresses in this bucket
	idxCarryShift = 32        // bits 32..47: mask index of the segment covering the bucket's start
	idxCountShift = 48        // bits 48..63: inner segments; idxCountBig = look at the next offset
	idxCountBig   = 0xffff
)

var errTooManySegments = errors.New("blocklist: more than 2^29 segments in one address family")

// bucketWriter fills an index from segments given in address order.
type bucketWriter struct {
	index []uint64
	h     int    // the open bucket
	carry uint16 // its first segment's mask index
	off   int    // its first inner segment
	fine  bool
	cur   uint16 // mask index of the last segment given
}

// close writes the open bucket's entry, then entries for the empty buckets up to next, and opens
// next. segs is the number of inner segments written so far.
func (w *bucketWriter) close(next, segs int) error {
	if segs > idxOffMask {
		return errTooManySegments
	}
	e := uint64(w.off) | uint64(w.carry)<<idxCarryShift | uint64(min(segs-w.off, idxCountBig))<<idxCountShift
	if w.fine {
		e |= idxFine
	}
	w.index[w.h] = e
	for h := w.h + 1; h < next; h++ {
		w.index[h] = uint64(segs) | uint64(w.cur)<<idxCarryShift
	}
	w.h, w.carry, w.off, w.fine = next, w.cur, segs, false
	return nil
}

// table4 is the IPv4 partition. segs holds each bucket's inner segments in order as
// low16<<16 | mask index, so the search compares the segment's start and its answer is in the
// same word: one cache line serves both.
type table4 struct {
	index *[1 << 16]uint64
	segs  []uint32
	n     int // segments, counting each bucket's carried one once
}

func (t *table4) build(ev []uint64, in *interner) error {
	slices.Sort(ev)
	t.index = new([1 << 16]uint64)
	t.segs = make([]uint32, 0, len(ev))
	t.n = 1
	w := bucketWriter{index: t.index[:]}
	var mask, last uint64
	for i := 0; i < len(ev); {
		pos := ev[i] >> 6
		for ; i < len(ev) && ev[i]>>6 == pos; i++ {
			mask ^= 1 << (ev[i] & 63)
		}
		if pos > 0xffffffff || mask == last {
			continue
		}
		last = mask
		id, err := in.id(mask)
		if err != nil {
			return err
		}
		if h := int(pos >> 16); h != w.h {
			if err := w.close(h, len(t.segs)); err != nil {
				return err
			}
		}
		if pos&0xffff == 0 {
			w.carry = id
		} else {
			t.segs = append(t.segs, uint32(pos)<<16|uint32(id))
			t.n++
		}
		w.cur = id
	}
	if err := w.close(1<<16, len(t.segs)); err != nil {
		return err
	}
	t.segs = slices.Clip(t.segs)
	return nil
}

// lookup returns the mask index of the segment covering a, and whether the exact set may hold a.
func (t *table4) lookup(a uint32) (id uint16, exact bool) {
	e := t.index[a>>16]
	id, exact = uint16(e>>idxCarryShift), e&idxExact != 0
	n := int(e >> idxCountShift) // an IPv4 bucket has at most 0xffff inner segments
	if n == 0 {
		return id, exact
	}
	off := int(e & idxOffMask)
	// key compares greater than or equal to every entry whose start is at most a's low half,
	// whatever its mask index.
	if s, ok := lastAtMost(t.segs[off:off+n], a<<16|0xffff, 16); ok {
		id = uint16(s)
	}
	return id, exact
}

// lastAtMost returns the last of the sorted, non-empty segs that is at most key. line is how
// many segs fill a cache line.
//
// A plain binary search over a bucket of a few hundred bytes takes one dependent cache miss per
// halving. Instead, once the window is at most 16 lines, the first entry of each line (a fence)
// is compared: those loads do not depend on each other, so their misses overlap, and they pick
// the one line the answer is in, which the fence load already brought in. Every comparison is
// branch-free: its borrow becomes a mask or a count (the compiler keeps an if as a branch here),
// so random addresses do not pay a mispredicted branch per step.
func lastAtMost[T uint32 | uint64](segs []T, key T, line int) (T, bool) {
	base, n := 0, len(segs)
	for n > 16*line { // only in buckets far beyond real and 2M-entry data
		half := n >> 1
		_, borrow := bits.Sub64(uint64(key), uint64(segs[base+half]), 0) // 1 if key < seg
		base += half & int(borrow-1)
		n -= half
	}
	w := segs[base : base+n]
	c := 0
	for j := line; j < len(w); j += line {
		_, borrow := bits.Sub64(uint64(key), uint64(w[j]), 0)
		c += int(borrow ^ 1)
	}
	w = w[c*line : min(c*line+line, len(w))]
	base, n = 0, len(w)
	for n > 1 {
		half := n >> 1
		_, borrow := bits.Sub64(uint64(key), uint64(w[base+half]), 0)
		base += half & int(borrow-1)
		n -= half
	}
	s := w[base]
	return s, s <= key
}

// table6 is table4 for IPv6. segs holds the inner segments as (start.Hi<<16) | mask index: the
// top 16 bits of the start are the bucket's, so the word keeps the other 48 bits of the high
// half. Prefixes of /64 or shorter, almost all of the bogon lists, start on a /64 boundary and
// are found on that word alone; a bucket with a start inside a /64 is marked fine and searched
// with the low halves in los (allocated only if some bucket needs it).
//
// IPv6 entries crowd into few /16s (the real bogon list: 52 buckets, the largest with 18k
// segments), so a bucket of more than subMin segments gets a second-level block of subSize
// entries in sub, indexed by the next 12 bits, with the same layout; its last entry is a
// sentinel holding only the end offset, so a sub-bucket too big to count in its entry takes its
// end from the next one.
type table6 struct {
	index *[1 << 16]uint64
	segs  []uint64
	los   []uint64
	sub   []uint64 // blocks of subSize+1 entries
	n     int
}

const (
	subBits = 12
	subSize = 1 << subBits
	subMin  = 128 // segments the fence scan of lastAtMost covers in one round
)

func (t *table6) build(ev []event6, in *interner) error {
	slices.SortFunc(ev, func(a, b event6) int { return a.pos.cmp(b.pos) })
	t.index = new([1 << 16]uint64)
	t.segs = make([]uint64, 0, len(ev))
	t.n = 1
	w := bucketWriter{index: t.index[:]}
	var los []uint64 // parallel to segs while building
	var mask, last uint64
	for i := 0; i < len(ev); {
		pos := ev[i].pos
		for ; i < len(ev) && ev[i].pos == pos; i++ {
			mask ^= ev[i].bit
		}
		if mask == last {
			continue
		}
		last = mask
		id, err := in.id(mask)
		if err != nil {
			return err
		}
		if h := int(pos.Hi >> 48); h != w.h {
			if err := w.close(h, len(t.segs)); err != nil {
				return err
			}
		}
		if pos.Hi<<16 == 0 && pos.Lo == 0 {
			w.carry = id
		} else {
			t.segs = append(t.segs, pos.Hi<<16|uint64(id))
			los = append(los, pos.Lo)
			w.fine = w.fine || pos.Lo != 0
			t.n++
		}
		w.cur = id
	}
	if err := w.close(1<<16, len(t.segs)); err != nil {
		return err
	}
	t.segs = slices.Clip(t.segs)
	fine := false
	for h := range t.index {
		off, end := int(t.index[h]&idxOffMask), len(t.segs)
		if h+1 < len(t.index) {
			end = int(t.index[h+1] & idxOffMask)
		}
		fine = fine || t.index[h]&idxFine != 0
		if end-off > subMin {
			if err := t.split(h, off, end, los); err != nil {
				return err
			}
		}
	}
	if fine {
		t.los = slices.Clip(los)
	}
	return nil
}

// split gives bucket h, whose inner segments are segs[off:end], a block in sub. The next
// bucket's offset is read before this one's is replaced, as build goes in order.
func (t *table6) split(h, off, end int, los []uint64) error {
	blk := len(t.sub) / (subSize + 1)
	if blk > idxOffMask {
		return errTooManySegments
	}
	t.sub = slices.Grow(t.sub, subSize+1)[:len(t.sub)+subSize+1]
	entries := t.sub[blk*(subSize+1):]
	carry := uint16(t.index[h] >> idxCarryShift)
	w := bucketWriter{index: entries[:subSize], carry: carry, off: off, cur: carry}
	for i := off; i < end; i++ {
		if g := int(t.segs[i] >> (64 - subBits)); g != w.h {
			if err := w.close(g, i); err != nil {
				return err
			}
		}
		w.fine = w.fine || los[i] != 0
		w.cur = uint16(t.segs[i])
	}
	if err := w.close(subSize, end); err != nil {
		return err
	}
	entries[subSize] = uint64(end)
	t.index[h] = t.index[h]&^(idxOffMask|idxFine|0xffff<<idxCountShift) | uint64(blk) | idxSub
	return nil
}

func (t *table6) lookup(a Uint128) (id uint16, exact bool) {
	e := t.index[a.Hi>>48]
	exact = e&idxExact != 0
	var n, off int
	if e&idxSub == 0 {
		n, off = int(e>>idxCountShift), int(e&idxOffMask) // n ≤ subMin
	} else {
		blk := t.sub[int(e&idxOffMask)*(subSize+1):][:subSize+1]
		g := int(a.Hi>>(48-subBits)) & (subSize - 1)
		e = blk[g]
		exact = e&idxExact != 0
		n, off = int(e>>idxCountShift), int(e&idxOffMask)
		if n == idxCountBig {
			n = int(blk[g+1]&idxOffMask) - off
		}
	}
	id = uint16(e >> idxCarryShift)
	if n == 0 {
		return id, exact
	}
	if e&idxFine != 0 {
		return t.lookupFine(off, n, a, id), exact
	}
	if s, ok := lastAtMost(t.segs[off:off+n], a.Hi<<16|0xffff, 8); ok {
		id = uint16(s)
	}
	return id, exact
}

// markExact flags a's bucket, and its sub-bucket if the bucket has a block, as holding exact
// addresses: a bucket's block narrows the flag from a /16 to a /28.
func (t *table6) markExact(a Uint128) {
	e := &t.index[a.Hi>>48]
	*e |= idxExact
	if *e&idxSub != 0 {
		t.sub[int(*e&idxOffMask)*(subSize+1)+int(a.Hi>>(48-subBits))&(subSize-1)] |= idxExact
	}
}

// lookupFine searches a bucket where some segment starts inside a /64, comparing whole starts.
func (t *table6) lookupFine(off, n int, a Uint128, carry uint16) uint16 {
	segs, los := t.segs[off:off+n], t.los[off:off+n]
	key := a.Hi << 16
	i, j := 0, n
	for i < j {
		m := int(uint(i+j) >> 1)
		k := segs[m] &^ 0xffff
		if k < key || (k == key && los[m] <= a.Lo) {
			i = m + 1
		} else {
			j = m
		}
	}
	if i == 0 {
		return carry
	}
	return uint16(segs[i-1])
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

// lookup4 and lookup6 probe the exact set only when the address's bucket holds exact entries:
// most buckets hold none, and the probe is a hash and a cache miss.
func (s *Snapshot) lookup4(a uint32) Result {
	id, exact := s.v4.lookup(a)
	m := s.masks[id]
	if exact {
		m |= s.masks[s.e4.lookup(a)]
	}
	return s.result(m)
}

func (s *Snapshot) lookup6(a Uint128) Result {
	id, exact := s.v6.lookup(a)
	m := s.masks[id]
	if exact {
		m |= s.masks[s.e6.lookup(a)]
	}
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
		Ranges4: s.v4.n, Ranges6: s.v6.n,
		Exact4: s.e4.n, Exact6: s.e6.n,
		Bloom4: s.e4.bloom != nil, Bloom6: s.e6.bloom != nil,
	}
	st.Bytes = int(unsafe.Sizeof(*s.v4.index)) + cap(s.v4.segs)*4 +
		int(unsafe.Sizeof(*s.v6.index)) + cap(s.v6.segs)*8 + cap(s.v6.los)*8 + cap(s.v6.sub)*8 +
		cap(s.masks)*8 + s.e4.bytes() + s.e6.bytes()
	return st
}
