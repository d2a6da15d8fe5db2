package live

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/spoaguard/spoaguard/blocklist"
)

// index holds a live set's entries by key, for everything but lookups: a round's changes,
// listings, explanations and counts. The tables of one Set share it, and only the Set's
// goroutine changes it, in place and under its lock, so a round costs a map operation per
// changed key and allocates nothing for the keys it leaves alone. Readers take the read lock
// and see the latest state, which a round changes just before it publishes its table.
//
// A listing needs address order: the sorted view is made by the first listing after a change
// and kept until the next change.
type index struct {
	mu      sync.RWMutex
	m       map[key]*Entry
	version uint64   // counts changes
	sorted  []*Entry // the entries by compareAddr as of sortedAt; nil when none was made
	sortAt  uint64
}

func newIndex(n int) *index { return &index{m: make(map[key]*Entry, n)} }

// key is an entry's address as the index keys it, and as a round sorts its changes: without
// the pointer each netip.Addr carries, so that the collector, which marks every pointer of the
// map at every cycle (a ban storm brings one every few seconds), has only the entries' to
// follow; and in words, so that compare takes a few integer comparisons where compareAddr
// takes netip.Addr's, which also weigh the zones that entries never have.
type key struct {
	first0, first1, last0, last1 uint64 // the addresses' 16 bytes, IPv4 ones mapped
	bits                         int32
	v4                           bool
}

func keyOf(a blocklist.Entry) key {
	f, l := a.First.As16(), a.Last.As16()
	return key{binary.BigEndian.Uint64(f[:8]), binary.BigEndian.Uint64(f[8:]),
		binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(l[8:]), int32(a.Bits), a.First.Is4()}
}

// compare orders keys as compareAddr orders their entries.
func (k key) compare(o key) int {
	if k.v4 != o.v4 {
		if k.v4 {
			return -1 // netip orders IPv4 before IPv6
		}
		return 1
	}
	if c := cmp.Compare(k.first0, o.first0); c != 0 {
		return c
	}
	if c := cmp.Compare(k.first1, o.first1); c != 0 {
		return c
	}
	if c := cmp.Compare(k.last0, o.last0); c != 0 {
		return c
	}
	return cmp.Compare(k.last1, o.last1)
}

func (x *index) get(k blocklist.Entry) (*Entry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.m[keyOf(k)]
	return e, ok
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m)
}

// put stores e under its key and returns the entry it replaced, nil if none.
func (x *index) put(e *Entry) *Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	k := keyOf(e.Addr)
	old := x.m[k]
	x.m[k] = e
	x.version++
	return old
}

// remove removes the entry with key k and returns it, nil if none.
func (x *index) remove(k blocklist.Entry) *Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	ik := keyOf(k)
	old, ok := x.m[ik]
	if ok {
		delete(x.m, ik)
		x.version++
	}
	return old
}

// each calls f for every entry, in no order, until f returns false. f must not call x.
func (x *index) each(f func(*Entry) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, e := range x.m {
		if !f(e) {
			return
		}
	}
}

// ascending returns up to limit entries (all if limit <= 0) in address order, starting after
// the address after (from the first when nil).
func (x *index) ascending(after *blocklist.Entry, limit int) []*Entry {
	x.mu.RLock()
	sorted, fresh := x.sorted, x.sorted != nil && x.sortAt == x.version
	x.mu.RUnlock()
	if !fresh {
		// Copied under the lock, sorted outside it, so that a round is not held up by a sort.
		x.mu.RLock()
		v := x.version
		sorted = make([]*Entry, 0, len(x.m))
		for _, e := range x.m {
			sorted = append(sorted, e)
		}
		x.mu.RUnlock()
		slices.SortFunc(sorted, func(a, b *Entry) int { return compareAddr(a.Addr, b.Addr) })
		x.mu.Lock()
		if v == x.version {
			x.sorted, x.sortAt = sorted, v
		}
		x.mu.Unlock()
	}
	if after != nil {
		i, found := slices.BinarySearchFunc(sorted, *after, func(e *Entry, a blocklist.Entry) int { return compareAddr(e.Addr, a) })
		if found {
			i++
		}
		sorted = sorted[i:]
	}
	if limit > 0 && len(sorted) > limit {
		sorted = sorted[:limit]
	}
	return slices.Clip(sorted)
}
