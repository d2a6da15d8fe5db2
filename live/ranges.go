package live

import (
	"math/bits"
	"slices"
)

// The range tables hold the live prefixes and ranges of one family as sorted, disjoint
// segments: segment i starts at starts[i] and carries masks[i], the bitmask of the live lists
// covering it, until the next start. starts[0] is always the family's first address, so every
// address falls in exactly one segment. Overlapping entries split each other's segments.

// ranges4 also keeps one bit per /16 that any covered segment touches (8 KB): an address in
// an untouched /16, the common case, is answered without the search.
type ranges4 struct {
	touched *[1 << 10]uint64
	starts  []uint32
	masks   []uint64
}

type ranges6 struct {
	starts []u128
	masks  []uint64
}

// boundary is one end of an entry in the sweep that builds the segments: at pos, list bit
// starts (end=false) or stops (end=true) covering.
type boundary[P any] struct {
	pos P
	bit uint8
	end bool
}

// sweep turns boundaries sorted by position into segments. counts track how many entries of
// each list cover the current position, so that two overlapping entries of one list do not
// end each other.
func sweep[P comparable](bs []boundary[P], zero P, emit func(start P, mask uint64)) {
	var counts [64]int32
	var mask uint64
	emit(zero, 0)
	for i := 0; i < len(bs); {
		pos := bs[i].pos
		for ; i < len(bs) && bs[i].pos == pos; i++ {
			b := bs[i]
			if b.end {
				counts[b.bit]--
				if counts[b.bit] == 0 {
					mask &^= 1 << b.bit
				}
			} else {
				counts[b.bit]++
				mask |= 1 << b.bit
			}
		}
		emit(pos, mask)
	}
}

// build4 builds the IPv4 table from the boundaries of its entries.
func build4(bs []boundary[uint64]) ranges4 {
	var t ranges4
	if len(bs) == 0 {
		return t
	}
	slices.SortFunc(bs, func(a, b boundary[uint64]) int {
		switch {
		case a.pos < b.pos:
			return -1
		case a.pos > b.pos:
			return 1
		}
		return 0
	})
	sweep(bs, 0, func(start uint64, mask uint64) {
		if start > 0xffffffff {
			return // the end of a range reaching 255.255.255.255
		}
		if n := len(t.masks); n > 0 && t.masks[n-1] == mask {
			return
		}
		if n := len(t.starts); n > 0 && uint64(t.starts[n-1]) == start {
			t.masks[n-1] = mask // several boundaries at 0
			return
		}
		t.starts = append(t.starts, uint32(start))
		t.masks = append(t.masks, mask)
	})
	t.touched = new([1 << 10]uint64)
	for i, m := range t.masks {
		if m == 0 {
			continue
		}
		last := uint32(0xffffffff)
		if i+1 < len(t.starts) {
			last = t.starts[i+1] - 1
		}
		for b := t.starts[i] >> 16; b <= last>>16; b++ {
			t.touched[b>>6] |= 1 << (b & 63)
		}
	}
	return t
}

func (t *ranges4) lookup(a uint32) uint64 {
	if t.touched == nil {
		return 0
	}
	b := a >> 16
	if t.touched[b>>6]&(1<<(b&63)) == 0 {
		return 0
	}
	// The last start at most a; starts[0] == 0.
	lo, hi := 0, len(t.starts)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if t.starts[mid] <= a {
			lo = mid
		} else {
			hi = mid
		}
	}
	return t.masks[lo]
}

// pos6 is a sweep position in IPv6: end positions can be one past the last address, so a
// position carries a 129th bit.
type pos6 struct {
	over bool
	a    u128
}

func (p pos6) cmp(q pos6) int {
	switch {
	case p.over != q.over:
		if p.over {
			return 1
		}
		return -1
	case p.a.less(q.a):
		return -1
	case q.a.less(p.a):
		return 1
	}
	return 0
}

func after6(a u128) pos6 {
	lo, c := bits.Add64(a.lo, 1, 0)
	hi, over := bits.Add64(a.hi, c, 0)
	return pos6{over != 0, u128{hi, lo}}
}

func build6(bs []boundary[pos6]) ranges6 {
	var t ranges6
	if len(bs) == 0 {
		return t
	}
	slices.SortFunc(bs, func(a, b boundary[pos6]) int { return a.pos.cmp(b.pos) })
	sweep(bs, pos6{}, func(start pos6, mask uint64) {
		if start.over {
			return
		}
		if n := len(t.masks); n > 0 && t.masks[n-1] == mask {
			return
		}
		if n := len(t.starts); n > 0 && t.starts[n-1] == start.a {
			t.masks[n-1] = mask
			return
		}
		t.starts = append(t.starts, start.a)
		t.masks = append(t.masks, mask)
	})
	return t
}

func (t *ranges6) lookup(a u128) uint64 {
	if len(t.starts) <= 1 && (len(t.masks) == 0 || t.masks[0] == 0) {
		return 0
	}
	lo, hi := 0, len(t.starts)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if !a.less(t.starts[mid]) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return t.masks[lo]
}
