package live

import "slices"

// A round of changes makes the next table from the one in force: the index has taken the
// round's changes already, and update edits what the lookups read, copying only what the
// changes touch.

// touch is the change of one key in a round: old is its entry before (nil if absent), new
// after (nil if removed).
type touch struct {
	k        key
	old, new *Entry
}

// mergeRanges returns the spans of sorted with the touched prefixes and ranges replaced, added
// or removed, their lists numbered by t; touched is sorted by key.
func (t *Table) mergeRanges(sorted []span, touched []touch) []span {
	out := make([]span, 0, len(sorted)+len(touched))
	i := 0
	for _, tc := range touched {
		if tc.k.single() {
			continue
		}
		// A search, not a walk: the walk would read every entry, the search log n of them.
		n, found := slices.BinarySearchFunc(sorted[i:], tc.k, func(s span, k key) int { return s.k.compare(k) })
		out = append(out, sorted[i:i+n]...)
		i += n
		if found {
			i++
		}
		if tc.new != nil {
			out = append(out, span{tc.k, uint8(t.ListOf(tc.new))})
		}
	}
	return append(out, sorted[i:]...)
}

// update returns the table with the touched keys changed, which idx (t's index) holds
// already. While the lists stay the same, it edits the exact sets, copying only the shards
// that the change touches, and it rebuilds the range tables only when a prefix or
// range changed: the cost follows the change, not the set. A new list, a list emptied, or an
// exact set grown past its shards builds the table afresh.
func (t *Table) update(idx *index, touched []touch) (*Table, error) {
	rebuild := func() (*Table, error) { return build(idx) }
	if t == nil || len(t.lists) == 0 {
		return rebuild()
	}
	nt := &Table{idx: idx, lists: slices.Clone(t.lists), denyMask: t.denyMask, allowMask: t.allowMask,
		observeMask: t.observeMask}
	var n4, n6, rangesTouched int
	for _, tc := range touched {
		if tc.old != nil {
			nt.lists[t.ListOf(tc.old)].Entries--
		}
		if tc.new != nil {
			b := t.ListOf(tc.new)
			if b < 0 {
				return rebuild() // a new list: renumber
			}
			nt.lists[b].Entries++
		}
		switch {
		case !tc.k.single():
			rangesTouched++
		case tc.k.v4:
			n4++
		default:
			n6++
		}
	}
	for _, l := range nt.lists {
		if l.Entries == 0 {
			return rebuild() // a list is gone: renumber
		}
	}
	var ok bool
	if nt.e4, ok = editFor(t.e4, n4, hash4); !ok {
		return rebuild()
	}
	if nt.e6, ok = editFor(t.e6, n6, hash6); !ok {
		return rebuild()
	}
	for _, tc := range touched {
		if !tc.k.single() {
			continue
		}
		ok := true
		a4, a6 := uint32(tc.k.first1), u128{tc.k.first0, tc.k.first1}
		switch {
		case tc.k.v4 && tc.new != nil:
			ok = nt.e4.put(a4, hash4(a4), t.ListOf(tc.new), hash4)
		case tc.k.v4:
			nt.e4.remove(a4, hash4(a4), hash4)
		case tc.new != nil:
			ok = nt.e6.put(a6, hash6(a6), t.ListOf(tc.new), hash6)
		default:
			nt.e6.remove(a6, hash6(a6), hash6)
		}
		if !ok {
			return rebuild()
		}
	}
	nt.ranges, nt.r4, nt.r6 = t.ranges, t.r4, t.r6
	if rangesTouched > 0 {
		nt.ranges = t.mergeRanges(t.ranges, touched)
		nt.buildRanges()
	}
	return nt, nil
}

// editFor returns e edited to take a round's n changes of its keys (e itself when n is 0),
// with a filter of its own when only the bits of removed keys stop it from fitting them, and
// false when the table must be built again.
func editFor[K comparable](e exactSet[K], n int, hash func(K) uint64) (exactSet[K], bool) {
	switch {
	case n == 0:
		return e, true
	case e.fits(e.n+n, e.stale+n):
		return e.edit(), true
	case e.fits(e.n+n, n):
		ed := e.edit()
		ed.refilter(hash)
		return ed, true
	}
	return e, false
}

// setPending sets the filter bits the round's new keys wait with: once the round is stored,
// before the table is published.
func (t *Table) setPending() {
	t.e4.setPending()
	t.e6.setPending()
}
