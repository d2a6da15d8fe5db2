package live

import (
	"cmp"
	"encoding/binary"
	"iter"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/spoaguard/spoaguard/blocklist"
)

// index holds a live set's entries by key, for everything but lookups: a round's changes,
// listings, explanations and counts. The tables of one Set share it, and only the Set's
// goroutine changes it, in place and under its lock, so a round costs a map operation per
// changed key and allocates nothing for the keys it leaves alone. Readers take the read lock
// and see the latest state, which a round changes just before it publishes its table.
//
// It holds no pointer per entry: the collector traces every pointer of the heap at each
// cycle, which a ban storm brings every few seconds, and an Entry has six (two addresses, the
// list, the comment, two times). Each entry is a rec in the pages of a slab, the map gives its
// slot, the list names are interned and the comments are kept in one byte array. With 100k
// entries, a collection takes 1.1–1.2 ms instead of 6.2–7.8 ms (BenchmarkCollection100k).
//
// A listing needs address order: the sorted view is made by the first listing after a change
// and kept until the next change.
type index struct {
	mu      sync.RWMutex
	m       map[key]uint32 // the slot in recs of each key
	recs    slab
	free    []uint32 // the free slots
	names   listNames
	notes   notes
	version uint64 // counts changes
	sorted  []key  // the keys in order as of sortAt; nil when none was made
	sortAt  uint64
}

func newIndex(n int) *index {
	return &index{m: make(map[key]uint32, n)}
}

// slab holds recs by slot in pages of a fixed size, so that it grows without copying; the
// index's compaction packs them.
type slab struct {
	pages [][]rec
	n     int // slots in use or free
}

const pageSize = 1024

func (s *slab) at(i uint32) *rec { return &s.pages[i/pageSize][i%pageSize] }

// add returns a new slot.
func (s *slab) add() uint32 {
	if s.n == len(s.pages)*pageSize {
		s.pages = append(s.pages, make([]rec, pageSize))
	}
	s.n++
	return uint32(s.n - 1)
}

// all yields every used slot and its rec.
func (s *slab) all() iter.Seq2[uint32, *rec] {
	return func(yield func(uint32, *rec) bool) {
		for n, p := range s.pages {
			for i := range p {
				if p[i].used && !yield(uint32(n*pageSize+i), &p[i]) {
					return
				}
			}
		}
	}
}

// rec is an entry as the index holds it; a rec that is not used is a free slot.
type rec struct {
	k                key
	expires, created stamp
	note             int // the comment is notes.b[note : note+noteLen]
	noteLen          uint32
	used             bool
	observe          bool
	action           blocklist.Kind
	list             uint32 // names.s[list]
	gen              uint32 // counts the slot's versions: the expiry queue's check
}

// stamp is a time.Time without its location: the instant, which is what entries keep.
type stamp struct {
	sec  int64
	nsec int32
	set  bool // false: the zero time
}

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	return stamp{t.Unix(), int32(t.Nanosecond()), true}
}

// before orders set stamps by instant.
func (s stamp) before(o stamp) bool { return s.sec < o.sec || (s.sec == o.sec && s.nsec < o.nsec) }

func (s stamp) time() time.Time {
	if !s.set {
		return time.Time{}
	}
	return time.Unix(s.sec, int64(s.nsec))
}

// listNames interns the list names of an index's entries, counting the entries of each, so that a
// name no entry uses any more is dropped.
type listNames struct {
	s    []string
	refs []int
	ids  map[string]uint32
	free []uint32
}

func (n *listNames) ref(name string) uint32 {
	if id, ok := n.ids[name]; ok {
		n.refs[id]++
		return id
	}
	if n.ids == nil {
		n.ids = make(map[string]uint32)
	}
	var id uint32
	if k := len(n.free); k > 0 {
		id, n.free = n.free[k-1], n.free[:k-1]
		n.s[id], n.refs[id] = name, 1
	} else {
		id = uint32(len(n.s))
		n.s, n.refs = append(n.s, name), append(n.refs, 1)
	}
	n.ids[name] = id
	return id
}

func (n *listNames) unref(id uint32) {
	if n.refs[id]--; n.refs[id] == 0 {
		delete(n.ids, n.s[id])
		n.s[id] = ""
		n.free = append(n.free, id)
	}
}

// notes keeps the comments of an index's entries in one array, which only ever grows: a
// comment handed out as a string is never written again. When the comments of removed
// entries make most of it, or the index is compacted, the live ones are copied to a new
// array.
type notes struct {
	b    []byte
	dead int // bytes of removed comments
}

func (n *notes) add(s string) (int, uint32) {
	if s == "" {
		return 0, 0
	}
	at := len(n.b)
	n.b = append(n.b, s...)
	return at, uint32(len(s))
}

func (n *notes) get(at int, l uint32) string {
	if l == 0 {
		return ""
	}
	return unsafe.String(&n.b[at], int(l))
}

// compact copies the comments of recs to a new array when removed ones make most of it.
func (n *notes) compact(recs *slab) {
	if n.dead < 1<<16 || 2*n.dead < len(n.b) {
		return
	}
	b := make([]byte, 0, len(n.b)-n.dead)
	for _, r := range recs.all() {
		if r.noteLen > 0 {
			at := len(b)
			b = append(b, n.b[r.note:r.note+int(r.noteLen)]...)
			r.note = at
		}
	}
	n.b, n.dead = b, 0
}

// key is an entry's address as the index keys it, and as a round sorts its changes: in
// words, so that compare takes a few integer comparisons where compareAddr takes netip.Addr's,
// which also weigh the zones that entries never have.
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

// entry is the address of k.
func (k key) entry() blocklist.Entry {
	return blocklist.Entry{First: k.addr(k.first0, k.first1), Last: k.addr(k.last0, k.last1), Bits: int(k.bits)}
}

func (k key) addr(hi, lo uint64) netip.Addr {
	if k.v4 {
		return netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// single reports whether k is one address, which an exact set holds.
func (k key) single() bool { return k.first0 == k.last0 && k.first1 == k.last1 }

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

// entryOf is the entry of r.
func (x *index) entryOf(r *rec) Entry {
	return Entry{Addr: r.k.entry(), Action: r.action, List: x.names.s[r.list], Observe: r.observe,
		Expires: r.expires.time(), Comment: x.notes.get(r.note, r.noteLen), Created: r.created.time()}
}

// listOf is the list of r, as a Table numbers them.
func (x *index) listOf(r *rec) listKey { return listKey{x.names.s[r.list], r.action, r.observe} }

func (x *index) get(k blocklist.Entry) (Entry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.m[keyOf(k)]
	if !ok {
		return Entry{}, false
	}
	return x.entryOf(x.recs.at(i)), true
}

// queued returns the expiry queue's item for the entry with key k, and false if there is no
// such entry or it never expires. Only the Set's goroutine calls it, without the lock.
func (x *index) queued(k key) (queued, bool) {
	i, ok := x.m[k]
	if !ok {
		return queued{}, false
	}
	r := x.recs.at(i)
	return queued{r.expires, i, r.gen}, r.expires.set
}

// holds reports whether q is the version of the entry in its slot: every put and removal
// counts a new one, and the time guards against the count wrapping. Only the Set's goroutine
// calls it, without the lock.
func (x *index) holds(q queued) bool {
	r := x.recs.at(q.slot)
	return r.gen == q.gen && r.expires == q.at
}

// len returns the number of entries. Only the goroutine that changes the index may call it
// without the lock.
func (x *index) len() int { return len(x.m) }

// put stores e under its key k and returns a copy of the entry it replaced, nil if none.
func (x *index) put(k key, e *Entry) *Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := rec{k: k, expires: stampOf(e.Expires), created: stampOf(e.Created), used: true,
		observe: e.Observe, action: e.Action, list: x.names.ref(e.List)}
	r.note, r.noteLen = x.notes.add(e.Comment)
	x.version++
	var old *Entry
	i, had := x.m[k]
	switch n := len(x.free); {
	case had:
		e := x.entryOf(x.recs.at(i))
		old = &e
		x.release(x.recs.at(i))
	case n > 0:
		i, x.free = x.free[n-1], x.free[:n-1]
	default:
		i = x.recs.add()
	}
	x.m[k] = i
	p := x.recs.at(i)
	r.gen = p.gen + 1
	*p = r
	x.notes.compact(&x.recs)
	return old
}

// remove removes the entry with key k and returns a copy of it, nil if none.
func (x *index) remove(k key) *Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.m[k]
	if !ok {
		return nil
	}
	p := x.recs.at(i)
	old := x.entryOf(p)
	x.release(p)
	*p = rec{gen: p.gen + 1}
	x.free = append(x.free, i)
	delete(x.m, k)
	x.version++
	x.notes.compact(&x.recs)
	return &old
}

// release gives up r's list name and comment.
func (x *index) release(r *rec) {
	x.names.unref(r.list)
	x.notes.dead += int(r.noteLen)
}

// each calls f for every entry, in no order, until f returns false. The entry is valid only
// during the call, and f must not call x.
func (x *index) each(f func(*Entry) bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, r := range x.recs.all() {
		if e := x.entryOf(r); !f(&e) {
			return
		}
	}
}

// ascending returns up to limit entries (all if limit <= 0) in address order, starting after
// the address after (from the first when nil). Entries added since the sorted view was made
// are not in it, and those removed since are skipped.
func (x *index) ascending(after *blocklist.Entry, limit int) []Entry {
	x.mu.RLock()
	sorted := x.sorted
	if sorted == nil || x.sortAt != x.version {
		// Copied under the lock, sorted outside it, so that a round is not held up by a sort.
		v := x.version
		sorted = make([]key, 0, len(x.m))
		for k := range x.m {
			sorted = append(sorted, k)
		}
		x.mu.RUnlock()
		slices.SortFunc(sorted, key.compare)
		x.mu.Lock()
		if v == x.version {
			x.sorted, x.sortAt = sorted, v
		}
		x.mu.Unlock()
		x.mu.RLock()
	}
	defer x.mu.RUnlock()
	i := 0
	if after != nil {
		var found bool
		if i, found = slices.BinarySearchFunc(sorted, keyOf(*after), key.compare); found {
			i++
		}
	}
	var out []Entry
	for ; i < len(sorted) && (limit <= 0 || len(out) < limit); i++ {
		if s, ok := x.m[sorted[i]]; ok {
			out = append(out, x.entryOf(x.recs.at(s)))
		}
	}
	return out
}
