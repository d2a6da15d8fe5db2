package live

// A live set's memory follows its entries, down as well as up. Its index grows by a slot and
// a map entry per entry added, and a Go map never shrinks; its exact sets grow by shards that
// only ever double; the expiry queue keeps the capacity of its longest day. Without giving
// that back, a set that once held a million entries (an imported list, a ban storm) would
// hold about 280 MB for the life of the process after they were all removed or expired.
//
// So after each round, in force or undone, the Set's goroutine compacts what has become
// mostly spare (spoaguard_live_compactions_total{part="index|table"} counts them):
//   - the index, when its entries are under a quarter of its slots and its slots number at
//     least minCompactSlots: a map sized for the entries, the slab's pages packed, no free
//     slots, the comments in an array of their own size, no sorted view; then the expiry
//     queue, whose items name slots, is made again for the new ones;
//   - the table, built afresh from the index, when an exact set is many times larger than
//     its keys (see exactSet.oversized), which the same fall makes it.
//
// The quarter is the hysteresis: after a compaction the slots are the entries, and the next
// waits for them to fall under a quarter of that, while growing back never compacts; a set
// that hovers about a threshold is compacted at most once for each fourfold fall. The cost is
// a pass over the slots and the entries, and the slots are at most four times the entries the
// set held before the round (or it would have been compacted after an earlier one), plus the
// round's additions: it follows the entries and the round's own changes, never the largest
// the set has been. The copy is made without the index's lock, which only the swap of the
// new map and slab for the old takes, so readers wait for no more than that.

// minCompactSlots is the least slots an index is compacted at: below it the spare room is a
// few megabytes at most, which a set that grows and shrinks about it would otherwise copy
// again and again. Tests move it.
var minCompactSlots = 1 << 14

// compact packs the index when its entries are under a quarter of its slots, and reports
// whether it did. Readers keep reading through the lock: they see the entries in the old
// slots until the swap and in the new ones after it. The comments handed out keep the array
// they point into, which is never written again. Only the Set's goroutine, which alone
// changes the index, calls it.
func (x *index) compact() bool {
	if x.recs.n < minCompactSlots || 4*len(x.m) >= x.recs.n {
		return false
	}
	m := make(map[key]uint32, len(x.m))
	var recs slab
	recs.pages = make([][]rec, 0, (len(x.m)+pageSize-1)/pageSize)
	b := make([]byte, 0, len(x.notes.b)-x.notes.dead)
	for _, r := range x.recs.all() {
		i := recs.add()
		p := recs.at(i)
		*p = *r
		if r.noteLen > 0 {
			p.note = len(b)
			b = append(b, x.notes.b[r.note:r.note+int(r.noteLen)]...)
		}
		m[r.k] = i
	}
	x.mu.Lock()
	x.m, x.recs, x.free, x.notes = m, recs, nil, notes{b: b}
	x.sorted = nil // made again by the next listing, of the entries there are then
	x.mu.Unlock()
	return true
}

// compact gives back what the set holds beyond its entries once a round is over, t being
// the table in force: the index and the expiry queue, then the table.
func (s *Set) compact(t *Table) {
	if t.idx.compact() {
		s.exp.fill(t.idx)
		s.compactIndex.Inc()
	}
	if !t.e4.oversized() && !t.e6.oversized() {
		return
	}
	nt, err := build(t.idx)
	if err != nil {
		// t holds the same entries; it only takes more room than it needs.
		s.opts.Logger.Error("live set: building a smaller table failed", "err", err)
		return
	}
	s.publish(nt)
	s.compactTable.Inc()
}
