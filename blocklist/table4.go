package blocklist

import "unsafe"

// An event toggles a list's bit at a position: every list's ranges are disjoint and
// non-adjacent after normalize, so a bit is switched on at a range start and off after its end.
//
// The IPv4 events are merged from the lists' sorted ranges as they are consumed, smallest
// position first, with a heap of one cursor per list: an array of them, sorted, would take
// 16 bytes per range (32 MB for a 2M-entry list) and the time of the sort.
type events4 []cursor4 // a min-heap by pos

type cursor4 struct {
	pos uint64   // of the next event
	rs  []range4 // the list's ranges, from the one the next event belongs to
	end bool     // the next event is the end of rs[0] (pos = Hi+1), not its start
	bit uint64
}

func newEvents4(lists [][]range4) events4 {
	var e events4
	for i, rs := range lists {
		if len(rs) > 0 {
			e = append(e, cursor4{pos: uint64(rs[0].Lo), rs: rs, bit: 1 << i})
		}
	}
	for i := len(e)/2 - 1; i >= 0; i-- {
		e.down(i)
	}
	return e
}

// pop consumes the next event (at e[0].pos) and returns the bit it toggles.
func (e *events4) pop() uint64 {
	h := *e
	c := &h[0]
	bit := c.bit
	switch {
	case !c.end:
		c.end, c.pos = true, uint64(c.rs[0].Hi)+1
	case len(c.rs) > 1:
		c.rs, c.end = c.rs[1:], false
		c.pos = uint64(c.rs[0].Lo)
	default: // the list's last event
		h[0] = h[len(h)-1]
		h = h[:len(h)-1]
		*e = h
	}
	e.down(0)
	return bit
}

func (e events4) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(e) {
			return
		}
		if r := l + 1; r < len(e) && e[r].pos < e[l].pos {
			l = r
		}
		if e[i].pos <= e[l].pos {
			return
		}
		e[i], e[l] = e[l], e[i]
		i = l
	}
}

// table4 is the IPv4 partition. Its index has a bucket per address block of 2^shift
// addresses, shift 16 (a /16 a bucket) or less for tables that would otherwise put more
// than a cache line of segments in a bucket (see indexShift4). segs holds each bucket's inner
// segments in order as low16<<16 | mask index, so the search compares the segment's start and
// its answer is in the same word: one cache line serves both.
type table4 struct {
	index []uint64 // 1<<(32-shift) entries
	shift uint8
	segs  []uint32
	n     int // segments, counting each bucket's carried one once
	// prefetch: the tables are at least PrefetchMinBytes, so Prefetch loads them.
	prefetch bool
}

// bucketSegs4 is the number of inner segments a bucket holds on average, at most, in a table
// whose index is wider than /16: half a 64-byte line, so that most buckets sit in one or two
// lines. Measured (BenchmarkPrefetch, 2M entries, 2.7M segments): with 8, a 4 MB index and
// 5 segments a bucket, a prefetched lookup cost 81–89 ns against 99–101 ns with /16 buckets
// (61 segments, 4–5 lines); with 4 (an 8 MB index) 83–87 ns; with 16, 88–94 ns.
const bucketSegs4 = 8

// maxIndexBits4 bounds the index to 1<<20 entries (8 MB), reached at about 4M segments.
const maxIndexBits4 = 20

// indexShift4 returns the bucket width, in address bits, of a table of n inner segments: 16
// while its /16 buckets hold bucketSegs4 segments or fewer on average, then one bit less per
// doubling, down to 32-maxIndexBits4. A narrower bucket costs index memory (8 bytes an entry)
// and saves the lines a lookup reads in a bucket of many segments: the fence scan of
// lastAtMost touches every line of the bucket.
func indexShift4(n int) uint8 {
	bits := 16
	for bits < maxIndexBits4 && n > bucketSegs4<<bits {
		bits++
	}
	return uint8(32 - bits)
}

// build fills the table from the lists' normalized ranges, list i being bit i.
func (t *table4) build(lists [][]range4, in *interner) error {
	n := 0
	for _, rs := range lists {
		n += 2 * len(rs)
	}
	ev := newEvents4(lists)
	// The sweep fills /16 buckets; narrow then splits them if the segments, which only the
	// sweep counts (overlapping lists share them), are too many for /16 buckets.
	t.shift = 16
	t.index = make([]uint64, 1<<16)
	t.segs = make([]uint32, 0, n)
	t.n = 1
	w := bucketWriter{index: t.index}
	var mask, last uint64
	for len(ev) > 0 {
		pos := ev[0].pos
		for len(ev) > 0 && ev[0].pos == pos {
			mask ^= ev.pop()
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
	if err := w.close(len(t.index), len(t.segs)); err != nil {
		return err
	}
	if shift := indexShift4(len(t.segs)); shift < 16 {
		t.narrow(shift)
	}
	t.segs = own(t.segs)
	t.prefetch = t.bytes() >= PrefetchMinBytes
	if t.prefetch { // larger than the cache: on huge pages, the TLB holds it (hugepages_linux.go)
		_ = collapseHugePages(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.segs))), len(t.segs)*4))
	}
	return nil
}

// narrow replaces the /16 index with one of buckets of 2^shift addresses (shift < 16): each
// /16 bucket's inner segments, in address order, are split among its narrower buckets where
// they stand in segs, and a segment that starts on a narrower bucket's first address becomes
// that bucket's carried one.
func (t *table4) narrow(shift uint8) {
	per := 1 << (16 - shift) // narrower buckets in a /16
	index := make([]uint64, 1<<(32-shift))
	for h, e := range t.index {
		carry := uint16(e >> idxCarryShift)
		off := int(e & idxOffMask)
		inner := t.segs[off : off+int(e>>idxCountShift)]
		p := 0 // inner's first segment in bucket j
		for j := range per {
			q := p
			for q < len(inner) && int(inner[q]>>(16+shift)) == j {
				q++
			}
			first := p
			if first < q && inner[first]>>16 == uint32(j)<<shift {
				carry = uint16(inner[first])
				first++
			}
			index[h*per+j] = uint64(off+first) | uint64(carry)<<idxCarryShift | uint64(q-first)<<idxCountShift
			if q > first {
				carry = uint16(inner[q-1]) // covers the next bucket's first address
			}
			p = q
		}
	}
	t.index, t.shift = index, shift
}

// lookup returns the mask index of the segment covering a.
func (t *table4) lookup(a uint32) uint16 {
	e := t.index[a>>t.shift]
	id := uint16(e >> idxCarryShift)
	n := int(e >> idxCountShift) // an IPv4 bucket has at most 0xffff inner segments
	if n == 0 {
		return id
	}
	off := int(e & idxOffMask)
	// key compares greater than or equal to every entry whose start is at most a's low half,
	// whatever its mask index.
	if s, ok := lastAtMost(t.segs[off:off+n], a<<16|0xffff, 16); ok {
		id = uint16(s)
	}
	return id
}

// bytes is the size of the index and the segments.
func (t *table4) bytes() int { return len(t.index)*8 + cap(t.segs)*4 }
