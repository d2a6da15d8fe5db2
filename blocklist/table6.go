package blocklist

import "slices"

// An IPv6 event is a position and the bit of the list it toggles (see event4).
type event6 struct {
	pos uint128
	bit uint64
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

func (t *table6) lookup(a uint128) (id uint16, exact bool) {
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
func (t *table6) markExact(a uint128) {
	e := &t.index[a.Hi>>48]
	*e |= idxExact
	if *e&idxSub != 0 {
		t.sub[int(*e&idxOffMask)*(subSize+1)+int(a.Hi>>(48-subBits))&(subSize-1)] |= idxExact
	}
}

// lookupFine searches a bucket where some segment starts inside a /64, comparing whole starts.
func (t *table6) lookupFine(off, n int, a uint128, carry uint16) uint16 {
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
