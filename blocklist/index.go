package blocklist

import (
	"errors"
	"math/bits"
)

// Both families partition their address space into segments, each covered by the lists in one
// mask, and index the segments by the address's top bits: 16 (IPv4 tables of many segments
// take up to 20, see indexShift4). A bucket's index entry holds the
// mask of the segment covering the bucket's first address (which may have started in an earlier
// bucket), the number of segments starting inside the bucket after its first address, and where
// they are: a bucket no segment starts in is answered from its index entry alone, one load.
//
// Index entry layout:
const (
	idxOffMask    = 1<<29 - 1 // bits 0..28: offset of the bucket's inner segments in segs
	idxSub        = 1 << 29   // IPv6: the offset is that of the bucket's block in sub
	idxFine       = 1 << 30   // IPv6: an inner segment starts off a /64 boundary
	idxExact      = 1 << 31   // IPv6: the exact set holds addresses in this bucket
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

// interner gives each distinct list bitmask a small index, so tables store 2 bytes per entry
// instead of 8: real snapshots have a handful of distinct combinations.
type interner struct {
	masks []uint64 // by index; masks[0] = 0, the mask of addresses no list covers
	idx   map[uint64]uint16
}

func newInterner() *interner { return &interner{[]uint64{0}, map[uint64]uint16{0: 0}} }

var errTooManyMasks = errors.New("blocklist: more than 65535 distinct list combinations")

func (in *interner) id(m uint64) (uint16, error) {
	// A build asks once per segment, millions of times, mostly for the first few masks: a
	// scan of those saves the map's hashing.
	for i, x := range in.masks[:min(len(in.masks), 4)] {
		if x == m {
			return uint16(i), nil
		}
	}
	if i, ok := in.idx[m]; ok {
		return i, nil
	}
	if len(in.masks) > 0xffff {
		return 0, errTooManyMasks
	}
	i := uint16(len(in.masks))
	in.masks = append(in.masks, m)
	in.idx[m] = i
	return i, nil
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
