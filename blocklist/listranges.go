package blocklist

// listRanges returns the ranges list i covers in s, normalized: what Build made the snapshot
// from for it, read back from the tables. A reload that drops a list's kept ranges while it
// builds the next snapshot takes them back from the snapshot in service if that build fails.
func (s *Snapshot) listRanges(i int) ([]range4, []range6) {
	bit := uint64(1) << i
	r6 := s.v6.ranges(s.masks, bit)
	s.e6.each(func(a uint128) {
		if s.masks[s.e6.lookup(a)]&bit != 0 {
			r6 = append(r6, range6{a, a})
		}
	})
	return s.v4.ranges(s.masks, bit), merge6InPlace(r6)
}

// spans turns segments given in address order (each a start and its mask) into the ranges
// where the mask holds bit.
type spans[A uint32 | uint128, R any] struct {
	bit    uint64
	on     bool
	lo     A
	out    []R
	closed func(lo, end A) R // the range from lo to the address before end
}

func (s *spans[A, R]) seg(start A, mask uint64) {
	switch on := mask&s.bit != 0; {
	case on && !s.on:
		s.lo, s.on = start, true
	case !on && s.on:
		s.out, s.on = append(s.out, s.closed(s.lo, start)), false
	}
}

// ranges returns the ranges of t whose segments' masks hold bit.
func (t *table4) ranges(masks []uint64, bit uint64) []range4 {
	s := spans[uint32, range4]{bit: bit, closed: func(lo, end uint32) range4 { return range4{lo, end - 1} }}
	for h, e := range t.index {
		base := uint32(h) << t.shift
		s.seg(base, masks[uint16(e>>idxCarryShift)])
		off := int(e & idxOffMask)
		for _, g := range t.segs[off : off+int(e>>idxCountShift)] {
			s.seg(base|g>>16, masks[uint16(g)])
		}
	}
	if s.on {
		s.out = append(s.out, range4{s.lo, ^uint32(0)})
	}
	return s.out
}

// ranges returns the ranges of t whose segments' masks hold bit; the exact set's addresses
// are not among them.
func (t *table6) ranges(masks []uint64, bit uint64) []range6 {
	s := spans[uint128, range6]{bit: bit, closed: func(lo, end uint128) range6 { return range6{lo, end.subOne()} }}
	for h, e := range t.index {
		off, end := int(e&idxOffMask), 0
		if e&idxSub == 0 {
			end = off + int(e>>idxCountShift) // a bucket of more than subMin segments has a block
		} else {
			blk := t.sub[off*(subSize+1):][:subSize+1]
			off, end = int(blk[0]&idxOffMask), int(blk[subSize])
		}
		s.seg(uint128{uint64(h) << 48, 0}, masks[uint16(e>>idxCarryShift)])
		for j := off; j < end; j++ {
			start := uint128{uint64(h)<<48 | t.segs[j]>>16, 0}
			if t.los != nil {
				start.Lo = t.los[j]
			}
			s.seg(start, masks[uint16(t.segs[j])])
		}
	}
	if s.on {
		s.out = append(s.out, range6{s.lo, uint128{^uint64(0), ^uint64(0)}})
	}
	return s.out
}
