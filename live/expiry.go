package live

import (
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// expiries is the Set's queue of entries with an expiry, earliest first: a binary heap of
// slots of the index, without pointers, 24 bytes an entry. It belongs to the Set's goroutine.
// An entry replaced or removed since it was queued stays queued until its time and is then
// ignored (its slot has moved on to another version), so a change costs one push and never a
// search. When such dead entries outnumber the live ones, the queue is rebuilt from the index.
type expiries struct{ q []queued }

// queued is one version of the entry in an index slot, and when it expires: the instant
// itself, which Unix nanoseconds hold only from 1677 to 2262.
type queued struct {
	at   stamp
	slot uint32
	gen  uint32 // rec.gen of the version queued
}

func (q queued) before(o queued) bool { return q.at.before(o.at) }

func (x *expiries) push(q queued) {
	x.q = append(x.q, q)
	for i := len(x.q) - 1; i > 0; {
		p := (i - 1) / 2
		if !x.q[i].before(x.q[p]) {
			break
		}
		x.q[p], x.q[i] = x.q[i], x.q[p]
		i = p
	}
}

func (x *expiries) pop() queued {
	top := x.q[0]
	n := len(x.q) - 1
	x.q[0] = x.q[n]
	x.q = x.q[:n]
	x.down(0)
	return top
}

func (x *expiries) down(i int) {
	for n := len(x.q); ; {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && x.q[c+1].before(x.q[c]) {
			c++
		}
		if !x.q[c].before(x.q[i]) {
			return
		}
		x.q[i], x.q[c] = x.q[c], x.q[i]
		i = c
	}
}

// add queues the entry with key k of idx if it expires.
func (x *expiries) add(idx *index, k key) {
	if q, ok := idx.queued(k); ok {
		x.push(q)
	}
}

// next returns the earliest expiry of an entry still in t, zero if none, dropping the dead
// entries ahead of it.
func (x *expiries) next(t *Table) time.Time {
	for len(x.q) > 0 {
		if t.idx.holds(x.q[0]) {
			return x.q[0].at.time()
		}
		x.pop()
	}
	return time.Time{}
}

// due removes and returns the addresses of the entries of t that have expired at now.
func (x *expiries) due(t *Table, now time.Time) []blocklist.Entry {
	var out []blocklist.Entry
	n := queued{at: stamp{now.Unix(), int32(now.Nanosecond()), true}}
	for len(x.q) > 0 && !n.before(x.q[0]) {
		if q := x.pop(); t.idx.holds(q) {
			out = append(out, t.idx.recs.at(q.slot).k.entry())
		}
	}
	return out
}

// compact rebuilds the queue from t when most of it is dead.
func (x *expiries) compact(t *Table) {
	if len(x.q) > 2*t.Len()+1024 {
		x.fill(t.idx)
	}
}

// fill makes the queue that of the entries of idx, in an array of its own when the one it
// has is more than twice what they need: a queue that held a million expiries keeps their
// array through their pops, until it is made again.
func (x *expiries) fill(idx *index) {
	if cap(x.q) > 2*idx.len()+1024 {
		x.q = nil
	}
	x.q = x.q[:0]
	for slot, r := range idx.recs.all() {
		if r.expires.set {
			x.q = append(x.q, queued{r.expires, slot, r.gen})
		}
	}
	for i := len(x.q)/2 - 1; i >= 0; i-- {
		x.down(i)
	}
}
