package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// limitedSink is a Sink that may have room for fewer entries than the shared set holds
// (LiveSink): it leaves out the new entries that do not fit and says which, so that the Fleet
// brings them back when it has room. A Sink without it (no limit) is given every change.
type limitedSink interface {
	Sink
	// replaceFitting is Replace, returning the records it left out, in their order.
	replaceFitting(records []Record) ([]leftEntry, error)
	// applyFitting is Apply, with waiting places of its free room kept for entries left out
	// earlier: it returns the batch's new entries it left out, in the batch's order.
	applyFitting(changes []Change, waiting int) ([]leftEntry, error)
	// room is how many more entries it may take, and the most it may hold.
	room() (free, limit int)
	// now is the clock its entries expire by.
	now() time.Time
}

// leftEntry is an entry of the shared set that the sink left out for want of room: its key
// in NS:entries, which is all it takes to read it again, and its expiry in Unix milliseconds
// (0: none), so that one that expires while it waits is dropped without a read.
type leftEntry struct {
	key     string
	expires int64
}

// leftQueue holds the entries the sink left out, in the order it left them out (the log's
// order; a full sync's is HSCAN's), until they come back or leave the shared set.
//
// It keeps their keys, which is all it takes to read them again: each place that frees then
// costs a share of one HMGET of the records Redis holds at that time (restorePage a page),
// never a read of the whole shared set. Over a limit of 500k, with 1M entries shared, one
// entry comes back in 0.2–0.6 ms and 10,000 in 33 ms (ten HMGETs), where a full sync takes
// 7.7–8.1 s (BenchmarkRestore); a flag and a rate-limited full sync would cost that for each expiry
// that frees a place, or leave the place empty until the next one. The memory is about 98
// bytes an entry (BenchmarkLeftQueueMemory, single IPv4 addresses: the key, its expiry, its
// place and its map slot), against 280 for an entry of the live set. It remembers at most as
// many as the sink's limit (and at least minRemembered): enough to fill the whole set again,
// for at most about a third more memory than a full set takes. Entries left out past that,
// and every one left out after them, are only counted (forgotten); once the remembered ones
// are back, a full sync, at most one per forgottenResyncGap, brings back the others.
type leftQueue struct {
	q         []leftEntry
	head      int            // q[:head] are done
	at        map[string]int // key → its place in q; a place that no key maps to is stale
	max       int            // most entries remembered
	forgotten int            // entries left out while max were remembered
	soonest   int64          // no entry remembered expires before this (Unix ms; 0: none expires)
	swept     int64          // when the last sweep of the expired ran (Unix ms)
	expired   int            // entries that expired while they waited, since the Fleet last took the count
}

// len is the number of entries remembered.
func (l *leftQueue) len() int { return len(l.at) }

// add appends e, or updates its expiry where it already waits: an entry keeps its place.
func (l *leftQueue) add(e leftEntry) {
	if i, ok := l.at[e.key]; ok {
		l.q[i].expires = e.expires
		l.due(e.expires)
		return
	}
	if len(l.at) >= l.max || l.forgotten > 0 {
		// Once one is forgotten, so are the entries left out after it: remembered, they
		// would come back ahead of it, and while newer ones kept the queue from emptying,
		// the full sync that brings it back would never come.
		l.forgotten++
		return
	}
	if l.at == nil {
		l.at = map[string]int{}
	}
	l.at[e.key] = len(l.q)
	l.q = append(l.q, e)
	l.due(e.expires)
}

// due keeps soonest at or before expires (Unix ms; 0: never).
func (l *leftQueue) due(expires int64) {
	if expires != 0 && (l.soonest == 0 || expires < l.soonest) {
		l.soonest = expires
	}
}

// remove forgets the entry with key, if it waits.
func (l *leftQueue) remove(key string) {
	if _, ok := l.at[key]; ok {
		delete(l.at, key)
		l.tidy()
	}
}

// holds reports whether the entry at place i is the one its key waits at.
func (l *leftQueue) holds(i int) bool {
	p, ok := l.at[l.q[i].key]
	return ok && p == i
}

// next returns up to n entries from the front, in order, without removing them; entries that
// have expired by now (Unix ms) are removed on the way.
func (l *leftQueue) next(n int, now int64) []leftEntry {
	var out []leftEntry
	l.walk(n, now, func(e leftEntry) { out = append(out, e) })
	return out
}

// waiting is how many of the entries that wait have not expired by now (Unix ms), counted
// from the front up to n: the places they keep in a batch that frees at most n. Entries that
// have expired are removed on the way, so that they keep none.
func (l *leftQueue) waiting(n int, now int64) int { return l.walk(n, now, nil) }

// walk visits, from the front and in order, up to n entries that wait and have not expired by
// now (Unix ms), and returns how many; visit, unless nil, is given each. The expired entries
// it passes are removed.
func (l *leftQueue) walk(n int, now int64, visit func(leftEntry)) int {
	seen := 0
	front := true // every place passed so far is done
	for i := l.head; i < len(l.q) && seen < n; i++ {
		e := l.q[i]
		if l.holds(i) {
			if e.expires == 0 || e.expires > now {
				if visit != nil {
					visit(e)
				}
				seen++
				front = false
				continue
			}
			delete(l.at, e.key)
			l.expired++
		}
		if front {
			l.head = i + 1
		}
	}
	l.tidy()
	return seen
}

// sweepGap is the least time between two sweeps of the whole queue for the entries that
// expired while they waited (Unix ms).
const sweepGap = 1000

// sweep removes every entry that has expired by now (Unix ms), if one may have and the last
// sweep is sweepGap old: a set that stays full brings none back, and those entries would
// otherwise keep their places in the queue (and in its limit) until it is through. It costs
// one pass over the queue, 13–16 ms for 500,000 entries of which a tenth expired
// (BenchmarkLeftQueueSweep), at most once a second and only while an entry that waits is due.
func (l *leftQueue) sweep(now int64) {
	if l.soonest == 0 || now < l.soonest || now-l.swept < sweepGap {
		return
	}
	l.swept, l.soonest = now, 0
	for i := l.head; i < len(l.q); i++ {
		// Only an expired place is looked up: a stale one may set soonest early, which
		// costs a sweep sooner, not a wrong one.
		if e := l.q[i]; e.expires == 0 || e.expires > now {
			l.due(e.expires)
		} else if l.holds(i) {
			delete(l.at, e.key)
			l.expired++
		}
	}
	l.tidy()
}

// tidy releases the queue when no entry waits, and compacts it when stale places are most of
// it, so that its memory follows the entries that wait (each place is moved once per
// compaction, and a compaction follows as many removals as places it keeps).
func (l *leftQueue) tidy() {
	if len(l.at) == 0 {
		l.q, l.at, l.head, l.soonest = nil, nil, 0, 0
		return
	}
	if len(l.q) < 2*len(l.at)+1024 {
		return
	}
	j := 0
	for i := l.head; i < len(l.q); i++ {
		if l.holds(i) {
			l.at[l.q[i].key] = j
			l.q[j] = l.q[i]
			j++
		}
	}
	clear(l.q[j:]) // the keys' strings go with their places
	l.q, l.head = l.q[:j], 0
	if cap(l.q) > 4*j {
		l.q = slices.Clone(l.q)
	}
}

// settle takes off the queue the key of each put of changes that the sink did not leave out
// again (left): it is in force now, or expired. It returns how many puts that is.
func (l *leftQueue) settle(changes []Change, left []leftEntry) int {
	out := make(map[string]bool, len(left))
	for _, e := range left {
		out[e.key] = true
	}
	n := 0
	for i := range changes {
		if c := &changes[i]; c.Op == Put && !out[c.Key] {
			l.remove(c.Key)
			n++
		}
	}
	return n
}

// reset forgets every entry, remembered or not.
func (l *leftQueue) reset() { l.q, l.at, l.head, l.forgotten, l.soonest = nil, nil, 0, 0, 0 }

// minRemembered is the least number of entries left out that the queue remembers, whatever
// the sink's limit: about a megabyte.
const minRemembered = 10_000

// restorePage is the most keys one HMGET asks for: a reply of about 200 KB.
const restorePage = 1000

// restorePass is the most entries one pass brings back, so that the log is read between
// passes however much room a mass removal made; the next pass does not wait for the log.
const restorePass = 10 * restorePage

// forgottenResyncGap is the least time from a full sync to the one that brings back the
// entries left out past what the queue remembers.
const forgottenResyncGap = time.Minute

// replace swaps the whole set into the sink, and starts the queue of the entries left out.
func (f *Fleet) replace(records []Record) error {
	if f.limited == nil {
		return f.sink.Replace(records)
	}
	left, err := f.limited.replaceFitting(records)
	if err != nil {
		return err
	}
	f.left.reset()
	f.remember(left)
	return nil
}

// apply applies one batch of the log to the sink. While entries wait, the batch's removals
// take them off the queue, they keep their places ahead of the batch's new entries, and a
// put the sink takes takes its entry off the queue.
func (f *Fleet) apply(changes []Change) error {
	if f.limited == nil {
		return f.sink.Apply(changes)
	}
	if f.left.len() == 0 {
		left, err := f.limited.applyFitting(changes, 0)
		if err == nil {
			f.remember(left)
		}
		return err
	}
	deletes := 0
	for i := range changes {
		if changes[i].Op == Delete {
			f.left.remove(changes[i].Key)
			deletes++
		}
	}
	// The batch frees at most the room there is and a place for each removal: the entries
	// that wait are counted that far, and those that have expired keep no place.
	free, _ := f.limited.room()
	waiting := f.left.waiting(free+deletes, f.limited.now().UnixMilli())
	left, err := f.limited.applyFitting(changes, waiting)
	if err != nil {
		return err
	}
	f.left.settle(changes, left)
	f.remember(left)
	return nil
}

// leftOutWarnInterval is the least time between two warnings of entries left out for want of
// room: a steady churn over a full set leaves some out of every batch, and the log must stay
// readable.
const leftOutWarnInterval = time.Minute

// warnBudget is what the Fleet keeps of the warnings of entries left out: when the next may
// be logged, and what was left out since the last.
type warnBudget struct {
	next             time.Time
	entries, batches int
}

// warnLeftOut warns of the n entries a batch left out, within the budget: the first batch
// warns, and then at most one a leftOutWarnInterval, counting the entries and batches left
// out since the last warning. The others are counted in leftWarnSuppressed.
func (f *Fleet) warnLeftOut(n int) {
	if n == 0 {
		return
	}
	w := &f.leftWarn
	w.entries += n
	w.batches++
	now := time.Now()
	if now.Before(w.next) {
		f.leftWarnSuppressed.Inc()
		return
	}
	_, limit := f.limited.room()
	f.log.Warn(leftOutWarning, "dropped", w.entries, "batches", w.batches, "limit", limit,
		"next_warning_in", leftOutWarnInterval)
	w.next, w.entries, w.batches = now.Add(leftOutWarnInterval), 0, 0
}

// remember queues the entries the sink left out, warns of them, and publishes the queue's
// state.
func (f *Fleet) remember(left []leftEntry) {
	f.warnLeftOut(len(left))
	if f.left.len()+len(left) > f.left.max {
		f.left.sweep(f.limited.now().UnixMilli()) // the expired keep no place in the limit
	}
	forgotten := f.left.forgotten
	for _, e := range left {
		f.left.add(e)
	}
	if forgotten == 0 && f.left.forgotten > 0 {
		f.log.Warn("redis: more entries left out for want of room than this agent remembers (its limit); those past it come back with a full sync once the others are in force",
			"remembered", f.left.len(), "limit", f.left.max)
	}
	f.noteLeft()
}

// noteLeft publishes the queue's state to its gauges, and counts the entries that expired
// while they waited.
func (f *Fleet) noteLeft() {
	f.leftN.Store(int64(f.left.len()))
	f.forgottenN.Store(int64(f.left.forgotten))
	if f.left.expired > 0 {
		f.leftExpired.Add(f.left.expired)
		f.left.expired = 0
	}
}

// restore brings entries left out back into the sink, in order, as far as it has room for
// them: one pass of up to restorePass, each page read with one HMGET. It reports whether a
// full sync is needed (the queue is through, and entries it could not remember wait). When
// nothing waits it costs nothing but the test of an empty queue.
func (f *Fleet) restore(ctx context.Context) (bool, error) {
	f.restoreDue = false
	if f.limited == nil || f.left.len() == 0 && f.left.forgotten == 0 {
		return false, nil
	}
	f.left.sweep(f.limited.now().UnixMilli())
	free, _ := f.limited.room()
	if free == 0 {
		f.noteLeft()
		return false, nil // the common case while entries wait: no room yet
	}
	budget, restored := min(free, restorePass), 0
	// Pages brought back before a failure are in force: they count, and the gauges follow.
	fail := func(err error) (bool, error) {
		f.restored.Add(restored)
		f.noteLeft()
		return false, err
	}
	var d decoder
	for budget > 0 {
		now := f.limited.now().UnixMilli()
		page := f.left.next(min(budget, restorePage), now)
		if len(page) == 0 {
			break
		}
		budget -= len(page)
		keys := make([]string, len(page))
		for i := range page {
			keys[i] = page[i].key
		}
		vals, err := f.rdb.HMGet(ctx, f.keys[0], keys...).Result()
		if err == nil && len(vals) != len(keys) {
			err = fmt.Errorf("%d values for %d keys", len(vals), len(keys))
		}
		if err != nil {
			return fail(fmt.Errorf("reading the entries left out: %v", err))
		}
		recs := make([]Record, len(keys))
		changes := make([]Change, 0, len(keys))
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				f.left.remove(keys[i]) // gone from the shared set: its removal is ahead in the log
				continue
			}
			r := &recs[i]
			if err := readable(&d, s, keys[i], r); err != nil {
				// As a full sync skips it: the sink would fail the whole page on it.
				f.log.Warn("redis: skipping an unreadable entry", "key", keys[i], "err", err)
				f.left.remove(keys[i])
				continue
			}
			if r.Expires != 0 && r.Expires <= now {
				f.left.remove(keys[i])
				f.left.expired++
				continue
			}
			changes = append(changes, Change{Op: Put, Key: keys[i], Record: r})
		}
		left, err := f.limited.applyFitting(changes, 0)
		if err != nil {
			return fail(fmt.Errorf("applying the entries left out: %v", err))
		}
		f.warnLeftOut(len(left))
		restored += f.left.settle(changes, left)
		if len(left) > 0 {
			budget = -1 // the set had less room than it said: the rest wait for more
		}
	}
	// More room than one pass took: the next pass follows the next read of the log at once.
	f.restoreDue = budget == 0 && free > restorePass && f.left.len() > 0
	f.restored.Add(restored)
	f.noteLeft()
	if f.left.len() > 0 {
		return false, nil
	}
	if restored > 0 {
		f.log.Info("redis: every entry left out of this agent's copy for want of room is in force again or gone from the shared set")
	}
	if f.left.forgotten == 0 {
		return false, nil
	}
	if free, _ := f.limited.room(); free == 0 {
		return false, nil
	}
	if time.Since(f.lastSync) < f.syncGap {
		return false, nil
	}
	f.log.Info("redis: resyncing to bring back the entries left out that this agent did not remember",
		"forgotten", f.left.forgotten)
	return true, nil
}

// readable decodes the record s of key into r, and checks that it converts to a live entry
// (an address and an action this agent knows), which a tool writing the layout may not give.
func readable(d *decoder, s, key string, r *Record) error {
	if err := decodeRecord(d, s, key, r); err != nil {
		return err
	}
	_, err := EntryOf(r)
	return err
}
