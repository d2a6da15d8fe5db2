package live

import (
	"container/heap"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// expiries is the Set's queue of entries with an expiry, earliest first. It belongs to the
// Set's goroutine. An entry replaced or removed since it was queued stays queued until its
// time and is then ignored (due checks it against the table), so a change costs one push and
// never a search. When such dead entries outnumber the live ones, the queue is rebuilt from
// the table.
type expiries struct{ q expiryQueue }

type queued struct {
	at int64 // Expires in Unix nanoseconds
	k  key
}

type expiryQueue []queued

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(queued)) }
func (q *expiryQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// add queues the entry with key k if it expires.
func (x *expiries) add(k key, expires time.Time) {
	if !expires.IsZero() {
		heap.Push(&x.q, queued{nanos(expires), k})
	}
}

// next returns the earliest expiry of an entry still in t, zero if none, dropping the dead
// entries ahead of it.
func (x *expiries) next(t *Table) time.Time {
	for len(x.q) > 0 {
		if x.live(t, x.q[0]) {
			return time.Unix(0, x.q[0].at)
		}
		heap.Pop(&x.q)
	}
	return time.Time{}
}

// due removes and returns the addresses of the entries of t that have expired at now.
func (x *expiries) due(t *Table, now time.Time) []blocklist.Entry {
	var out []blocklist.Entry
	n := nanos(now)
	for len(x.q) > 0 && x.q[0].at <= n {
		if q := heap.Pop(&x.q).(queued); x.live(t, q) {
			out = append(out, q.k.entry())
		}
	}
	return out
}

// live reports whether q is the expiry of the entry in t for its key.
func (x *expiries) live(t *Table, q queued) bool {
	at, ok := t.idx.expiry(q.k)
	return ok && at == q.at
}

// compact rebuilds the queue from t when most of it is dead.
func (x *expiries) compact(t *Table) {
	if len(x.q) <= 2*t.Len()+1024 {
		return
	}
	x.q = x.q[:0]
	for r := range t.idx.recs.all() {
		if r.expires.set {
			x.q = append(x.q, queued{nanos(r.expires.time()), r.k})
		}
	}
	heap.Init(&x.q)
}
