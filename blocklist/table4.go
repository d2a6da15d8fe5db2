package blocklist

import "slices"

// An event toggles a list's bit at a position: every list's ranges are disjoint and
// non-adjacent after normalize, so a bit is switched on at a range start and off after its end.
// An IPv4 event is one uint64, position<<6 | list, so that millions of them sort as integers.
func event4(pos uint64, list int) uint64 { return pos<<6 | uint64(list) }

// table4 is the IPv4 partition. segs holds each bucket's inner segments in order as
// low16<<16 | mask index, so the search compares the segment's start and its answer is in the
// same word: one cache line serves both.
type table4 struct {
	index *[1 << 16]uint64
	segs  []uint32
	n     int // segments, counting each bucket's carried one once
	// prefetch: the tables are at least PrefetchMinBytes, so Prefetch loads them.
	prefetch bool
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
	t.prefetch = len(t.index)*8+len(t.segs)*4 >= PrefetchMinBytes
	return nil
}

// lookup returns the mask index of the segment covering a.
func (t *table4) lookup(a uint32) uint16 {
	e := t.index[a>>16]
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
