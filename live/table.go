package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"unsafe"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/prefetch"
)

// MaxLists is the number of distinct live lists a Table holds, counting a list once per
// action and observe mode it is used with: one bit each in a Lookup mask.
const MaxLists = 64

// List is one live list as a Table numbers it: bit i of a Lookup mask is Table.List(i).
type List struct {
	Name    string
	Action  blocklist.Kind
	Observe bool
	Entries int // entries in the table
}

// Table is an immutable view of the live set. Its methods are safe for concurrent use, and on
// a nil *Table (an empty set).
type Table struct {
	idx    *index // the entries by key, shared by the tables of one Set
	ranges []span // the entries that are not single addresses, by key
	lists  []List // sorted by name, then action, then observe

	denyMask, allowMask, observeMask uint64

	e4 exactSet[uint32]
	e6 exactSet[u128]
	r4 ranges4
	r6 ranges6
}

// span is an entry that is not a single address, as a Table holds it: its key and its list.
type span struct {
	k   key
	bit uint8
}

type listKey struct {
	name    string
	action  blocklist.Kind
	observe bool
}

func (k listKey) compare(o listKey) int {
	if c := strings.Compare(k.name, o.name); c != 0 {
		return c
	}
	if k.action != o.action {
		return int(k.action) - int(o.action)
	}
	if k.observe == o.observe {
		return 0
	}
	if k.observe {
		return 1
	}
	return -1
}

// errShardFull is returned when more keys than a shard can hold hash to it, which the keyed
// hash makes as likely as a billion heads in a row: the round fails rather than leave a key
// it accepted unmatched.
var errShardFull = errors.New("live: more addresses than a shard of the exact set holds hash to it")

// ErrTooManyLists is returned when a batch would make more than MaxLists live lists.
var ErrTooManyLists = fmt.Errorf("more than %d live lists (name, action and observe mode)", MaxLists)

// buildTable indexes entries, whose keys must be unique, in an index of their own.
func buildTable(entries []Entry) (*Table, error) {
	idx := newIndex(len(entries))
	for i := range entries {
		idx.put(keyOf(entries[i].Addr), &entries[i])
	}
	return build(idx)
}

// build makes the table of idx's entries. Its cost is linear in their number, plus a sort of
// the prefixes and ranges among them. Only the Set's goroutine, which alone changes idx,
// calls it.
func build(idx *index) (*Table, error) {
	t := &Table{idx: idx}
	// Entries of one list come in runs, so remembering the last key found saves nearly every
	// search in both passes.
	var keys []listKey
	last := -1
	var n4, n6 int
	for _, r := range idx.recs.all() {
		if r.k.single() {
			if r.k.v4 {
				n4++
			} else {
				n6++
			}
		}
		k := idx.listOf(r)
		if last >= 0 && keys[last] == k {
			continue
		}
		if last = slices.Index(keys, k); last < 0 {
			if len(keys) == MaxLists {
				return nil, ErrTooManyLists
			}
			keys = append(keys, k)
			last = len(keys) - 1
		}
	}
	slices.SortFunc(keys, listKey.compare)
	t.lists = make([]List, len(keys))
	for i, k := range keys {
		t.lists[i] = List{Name: k.name, Action: k.action, Observe: k.observe}
		switch {
		case k.action == blocklist.Allow:
			t.allowMask |= 1 << i
		case k.observe:
			t.observeMask |= 1 << i
		default:
			t.denyMask |= 1 << i
		}
	}
	t.e4, t.e6 = newExactSet[uint32](n4), newExactSet[u128](n6)
	b := -1
	for _, r := range idx.recs.all() {
		k := idx.listOf(r)
		if b < 0 || keys[b] != k {
			b, _ = slices.BinarySearchFunc(keys, k, listKey.compare)
		}
		t.lists[b].Entries++
		switch {
		case r.k.single() && r.k.v4:
			if a := uint32(r.k.first1); !t.e4.put(a, hash4(a), b, hash4) {
				return nil, errShardFull
			}
		case r.k.single():
			if a := (u128{r.k.first0, r.k.first1}); !t.e6.put(a, hash6(a), b, hash6) {
				return nil, errShardFull
			}
		default:
			t.ranges = append(t.ranges, span{r.k, uint8(b)})
		}
	}
	slices.SortFunc(t.ranges, func(a, b span) int { return a.k.compare(b.k) })
	t.buildRanges()
	return t, nil
}

// buildRanges builds the range tables from t.ranges.
func (t *Table) buildRanges() {
	var b4 []boundary[uint64]
	var b6 []boundary[pos6]
	for _, sp := range t.ranges {
		k, b := sp.k, sp.bit
		if k.v4 {
			b4 = append(b4, boundary[uint64]{pos: uint64(uint32(k.first1)), bit: b},
				boundary[uint64]{pos: uint64(uint32(k.last1)) + 1, bit: b, end: true})
		} else {
			b6 = append(b6, boundary[pos6]{pos: pos6{a: u128{k.first0, k.first1}}, bit: b},
				boundary[pos6]{pos: after6(u128{k.last0, k.last1}), bit: b, end: true})
		}
	}
	t.r4, t.r6 = build4(b4), build6(b6)
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// Lookup returns the bitmask of the live lists covering addr, given as 4 or 16 bytes in
// network order (what the SPOP codec yields); an IPv4-mapped IPv6 address is looked up as
// IPv4, any other length matches nothing. It does not allocate.
func (t *Table) Lookup(addr []byte) uint64 {
	if t == nil {
		return 0
	}
	switch family, hi, lo := blocklist.SplitAddr(addr); family {
	case 4:
		return t.Lookup4(uint32(lo))
	case 16:
		a := u128{hi, lo}
		return t.e6.lookup(a, hash6(a)) | t.r6.lookup(a)
	}
	return 0
}

// Lookup4 is Lookup for an IPv4 address given as a number (its 4 bytes in network order), for
// a caller that has split the address already (blocklist.SplitAddr). It does not allocate.
func (t *Table) Lookup4(a uint32) uint64 {
	if t == nil {
		return 0
	}
	var m uint64
	if h := hash4(a); t.e4.n != 0 && t.e4.has(h) { // the filter's test inlined: most addresses stop here
		m = t.e4.probe(a, h)
	}
	return m | t.r4.lookup(a)
}

// Masks select the lists of each kind in a Lookup mask: deny lists that block, allow lists,
// and deny lists in observe mode. Every list is in exactly one of them.
func (t *Table) Masks() (deny, allow, observe uint64) {
	if t == nil {
		return 0, 0, 0
	}
	return t.denyMask, t.allowMask, t.observeMask
}

// NumLists returns the number of lists; List(i) for i below it describes bit i.
func (t *Table) NumLists() int {
	if t == nil {
		return 0
	}
	return len(t.lists)
}

// List describes bit i of a Lookup mask.
func (t *Table) List(i int) List { return t.lists[i] }

// Len returns the number of entries: the sum of its lists' counts.
func (t *Table) Len() int {
	n := 0
	for i := range t.NumLists() {
		n += t.lists[i].Entries
	}
	return n
}

// Entries returns up to limit entries (all if limit <= 0) in address order, starting after
// the address after (from the first when nil). Like Get, it reads the entries as the latest
// round left them, which a Lookup sees once that round's table is in force.
func (t *Table) Entries(after *blocklist.Entry, limit int) []Entry {
	if t == nil {
		return nil
	}
	return t.idx.ascending(after, limit)
}

// Each calls f for every entry, in no order, until f returns false: Entries without the sort,
// for a caller that visits them all. The entry is valid only during the call, and f must not
// call t's other methods.
func (t *Table) Each(f func(*Entry) bool) {
	if t != nil {
		t.idx.each(f)
	}
}

// Get returns the entry with the address's key.
func (t *Table) Get(addr blocklist.Entry) (Entry, bool) {
	if t == nil {
		return Entry{}, false
	}
	return t.idx.get(addr)
}

// Covering returns the live entries of t covering a, sorted by address, so that they agree
// with t's Lookup: a's own entry, if t holds it, and the prefixes and ranges holding it. The
// entries are read from the index, which the latest round (or one in progress) may have
// changed since t: an entry whose list is no longer the one t holds it in is given with t's
// list and its address alone, without the comment and times t no longer knows. It costs a map
// lookup, and a pass over the table's prefixes and ranges up to a only when one of them
// covers a: never a pass over the whole set, which a ban storm makes large.
func (t *Table) Covering(a netip.Addr) []Entry {
	if t == nil {
		return nil
	}
	a = a.Unmap().WithZone("")
	var out []Entry
	// as t holds it: the index's entry when it is still in the list of bit held
	asHeld := func(k blocklist.Entry, held int) Entry {
		if e, ok := t.idx.get(k); ok && t.ListOf(&e) == held {
			return e
		}
		l := t.lists[held]
		return Entry{Addr: k, List: l.Name, Action: l.Action, Observe: l.Observe}
	}
	var exact, inRange uint64
	if a.Is4() {
		k := v4(a)
		exact, inRange = t.e4.lookup(k, hash4(k)), t.r4.lookup(k)
	} else {
		k := v6(a)
		exact, inRange = t.e6.lookup(k, hash6(k)), t.r6.lookup(k)
	}
	if exact != 0 {
		// a key is in one list
		out = append(out, asHeld(blocklist.Entry{First: a, Last: a, Bits: a.BitLen()}, bits.TrailingZeros64(exact)))
	}
	if inRange != 0 {
		for _, sp := range t.ranges {
			e := sp.k.entry()
			if e.First.Compare(a) > 0 {
				break // sorted by first address: no later one covers a
			}
			if covers(e, a) {
				out = append(out, asHeld(e, int(sp.bit)))
			}
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareAddr(a.Addr, b.Addr) })
	return out
}

// ListOf returns the bit of the list e belongs to, -1 if there is none.
func (t *Table) ListOf(e *Entry) int {
	if t == nil {
		return -1
	}
	i, found := slices.BinarySearchFunc(t.lists, listKey{e.List, e.Action, e.Observe}, func(l List, k listKey) int {
		return listKey{l.Name, l.Action, l.Observe}.compare(k)
	})
	if !found {
		return -1
	}
	return i
}

// Prefetch asks for the filter words that looking up each of addrs (as Lookup takes them)
// will read, all addresses together, and returns nothing: beside a file snapshot larger than
// the cache, the filter's lines are misses, and the lookups of a batch that follow one another
// would pay them one after another. The decision handler calls it with the snapshot's
// Prefetch, on the same batches; addresses beyond blocklist.MaxPrefetch are skipped. It does
// not allocate.
func (t *Table) Prefetch(addrs [][]byte) {
	if t == nil || t.e4.n+t.e6.n == 0 {
		return
	}
	var words [blocklist.MaxPrefetch]unsafe.Pointer
	n := 0
	for _, a := range addrs[:min(len(addrs), len(words))] {
		var w unsafe.Pointer
		switch family, hi, lo := blocklist.SplitAddr(a); family {
		case 4:
			w = t.Line4(uint32(lo))
		case 16:
			w = t.e6.word(hash6(u128{hi, lo}))
		}
		if w != nil {
			words[n] = w
			n++
		}
	}
	prefetch.Lines(words[:n])
}

// Line4 returns where the filter word that Lookup4(a) reads first is, nil when there is
// none: for a caller that gathers a batch's lines and asks for them with prefetch.Lines, as
// the decision handler does while it reads a batch's addresses. It does not allocate.
func (t *Table) Line4(a uint32) unsafe.Pointer {
	if t == nil {
		return nil
	}
	return t.e4.word(hash4(a))
}
