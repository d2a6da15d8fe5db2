package live

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// checkIndex fails t unless x's bookkeeping agrees with the entries it holds: each key's slot
// holds it, every other slot is free once, each list name is counted once per entry that has
// it and dropped with the last, the comments' array holds the live comments and, past
// 64 KiB, fewer removed bytes than live ones, and the slots are at most four times the
// entries or fewer than minCompactSlots, as a round's compaction leaves them.
func checkIndex(t *testing.T, x *index) {
	t.Helper()
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.recs.n >= minCompactSlots && 4*len(x.m) < x.recs.n {
		t.Fatalf("%d slots for %d entries: a compaction was missed", x.recs.n, len(x.m))
	}
	if len(x.recs.pages) != (x.recs.n+pageSize-1)/pageSize {
		t.Fatalf("%d pages for %d slots", len(x.recs.pages), x.recs.n)
	}
	free := map[uint32]bool{}
	for _, i := range x.free {
		if free[i] || x.recs.at(i).used {
			t.Fatalf("slot %d is free twice or in use", i)
		}
		free[i] = true
	}
	refs := map[uint32]int{}
	live, used := 0, 0
	for i := range uint32(x.recs.n) {
		r := x.recs.at(i)
		if !r.used {
			if !free[i] {
				t.Fatalf("slot %d is neither used nor free", i)
			}
			continue
		}
		used++
		if s, ok := x.m[r.k]; !ok || s != i {
			t.Fatalf("slot %d holds %v, which the map puts in slot %d (%v)", i, r.k.entry(), s, ok)
		}
		if r.note+int(r.noteLen) > len(x.notes.b) {
			t.Fatalf("%v's comment is past the array's end", r.k.entry())
		}
		refs[r.list]++
		live += int(r.noteLen)
	}
	if used != len(x.m) || used+len(free) != x.recs.n {
		t.Fatalf("%d slots used, %d free, %d in all, %d keys", used, len(free), x.recs.n, len(x.m))
	}
	for id, n := range refs {
		if x.names.refs[id] != n || x.names.ids[x.names.s[id]] != id {
			t.Fatalf("list %q (%d) is counted %d times for %d entries", x.names.s[id], id, x.names.refs[id], n)
		}
	}
	if len(x.names.ids) != len(refs) {
		t.Fatalf("%d list names held for %d in use", len(x.names.ids), len(refs))
	}
	if got := len(x.notes.b) - x.notes.dead; got != live {
		t.Fatalf("the comments' array holds %d live bytes by its count, %d by the entries'", got, live)
	}
	if x.notes.dead >= 1<<16 && 2*x.notes.dead >= len(x.notes.b) {
		t.Fatalf("%d of the comments' %d bytes are dead", x.notes.dead, len(x.notes.b))
	}
}

// TestTheIndexKeepsCountThroughFailedRoundsAndExpiries: random rounds of puts (replacing
// entries with other lists, comments and expiries) and deletes, a store refusing one round
// in five, requests that would make too many lists, expiries as the clock moves, and now and
// then a round removing most entries, which compacts the index and the table (their least
// sizes lowered to this set's). After each, the index's bookkeeping agrees with its entries,
// its entries are the store's field for field, each one with an expiry is queued, no entry is
// past its time, and every comment read from it so far still reads as it did.
func TestTheIndexKeepsCountThroughFailedRoundsAndExpiries(t *testing.T) {
	smallCompactions(t)
	st := &memStore{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openSet(t, Options{Store: st, Now: func() time.Time { return now }})
	s.Close() // the test runs the rounds itself, in the Set's place
	r := rand.New(rand.NewPCG(3, 14))
	var addrAt func(int) blocklist.Entry
	addr := func() blocklist.Entry { return addrAt(r.IntN(400)) }
	addrAt = func(i int) blocklist.Entry {
		switch {
		case i < 300:
			return entryOf(netip.AddrFrom4([4]byte{10, 0, byte(i / 100), byte(i)}), 32)
		case i < 380:
			return entryOf(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 128)
		case i < 390:
			return mustAddr(t, fmt.Sprintf("10.%d.0.0/16", i-280))
		default:
			return mustAddr(t, fmt.Sprintf("2001:db8:%x::1-2001:db8:%x::9", i, i))
		}
	}
	var reads []read
	var compactions, expired, refused int
	notes := 0 // the length of the comments' array after the last round
	for round := range 400 {
		st.refuse(nil)
		if r.IntN(5) == 0 {
			st.refuse(errors.New("disk full"))
		}
		reqs := make([]*request, 1+r.IntN(3))
		for i := range reqs {
			var cs []Change
			for range 1 + r.IntN(40) {
				if r.IntN(3) == 0 {
					cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: addr()}})
					continue
				}
				e := Entry{Addr: addr(), List: fmt.Sprint("l", r.IntN(6)), Action: blocklist.Kind(r.IntN(2)),
					Comment: strings.Repeat(fmt.Sprint(round, " "), r.IntN(40)), Created: now}
				if r.IntN(2) == 0 {
					e.Expires = now.Add(time.Duration(1+r.IntN(20)) * time.Second)
				}
				cs = append(cs, Change{Op: Put, Entry: e})
			}
			if r.IntN(10) == 0 {
				for j := range MaxLists {
					cs = append(cs, Change{Op: Put, Entry: Entry{Addr: entryOf(netip.AddrFrom4([4]byte{172, 16, 0, byte(j)}), 32),
						List: fmt.Sprint("x", j), Comment: "too many", Created: now}})
				}
			}
			reqs[i] = &request{changes: cs, done: make(chan struct{})}
		}
		if round%40 == 39 {
			var cs []Change
			for i := range 400 {
				if r.IntN(10) != 0 {
					cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: addrAt(i)}})
				}
			}
			reqs = append(reqs, &request{changes: cs, done: make(chan struct{})})
		}
		s.applyRound(reqs)
		for _, rq := range reqs {
			if rq.err != nil {
				refused++
			}
		}
		now = now.Add(time.Second)
		st.refuse(nil)
		n := s.Table().Len()
		s.expire()

		tb := s.Table()
		expired += n - tb.Len()
		checkIndex(t, tb.idx)
		checkQueue(t, s)
		if len(tb.idx.notes.b) < notes {
			compactions++
		}
		notes = len(tb.idx.notes.b)
		st.mu.Lock()
		stored := len(st.entries)
		for _, want := range st.entries {
			got, ok := tb.Get(want.Addr)
			if !ok || !sameEntry(got, want) {
				st.mu.Unlock()
				t.Fatalf("round %d: %s is %+v (%v), stored as %+v", round, want.Addr, got, ok, want)
			}
		}
		st.mu.Unlock()
		es := tb.Entries(nil, 0)
		if len(es) != stored || tb.Len() != stored {
			t.Fatalf("round %d: %d entries listed, %d counted, %d stored", round, len(es), tb.Len(), stored)
		}
		for _, e := range es {
			if !e.Expires.IsZero() && !e.Expires.After(now) {
				t.Fatalf("round %d: %s expired at %v, still there at %v", round, e.Key(), e.Expires, now)
			}
			if e.Comment != "" && r.IntN(20) == 0 {
				reads = append(reads, read{e.Comment, strings.Clone(e.Comment)})
			}
		}
		for _, rd := range reads {
			if rd.got != rd.want {
				t.Fatalf("round %d: a comment read as %q now reads %q", round, rd.want, rd.got)
			}
		}
	}
	ci, ct := s.compactIndex.Get(), s.compactTable.Get()
	t.Logf("%d requests refused, %d entries expired, %d compactions of the comments, %d of the index, %d of the table",
		refused, expired, compactions, ci, ct)
	if refused == 0 || expired == 0 || compactions == 0 || ci == 0 || ct == 0 {
		t.Fatal("the rounds miss a path")
	}
}

// sameEntry reports whether a and b are one entry: the same fields, the same instants.
func sameEntry(a, b Entry) bool {
	return a.Addr == b.Addr && a.Action == b.Action && a.List == b.List && a.Observe == b.Observe &&
		a.Expires.Equal(b.Expires) && a.Comment == b.Comment && a.Created.Equal(b.Created)
}

// TestEntriesReadBackAsTheyWentIn: every kind of address, every field, read back by Get,
// Entries, Each and Covering, as stored, and from the store after a restart, is the entry
// that went in (times as the same instants).
func TestEntriesReadBackAsTheyWentIn(t *testing.T) {
	zone := time.FixedZone("x", -7*3600)
	in := []Entry{
		{Addr: mustAddr(t, "192.0.2.1"), Action: blocklist.Deny, List: "a", Observe: true,
			Expires: time.Now().Add(time.Hour), Comment: "one", Created: time.Date(2026, 1, 2, 3, 4, 5, 6, zone)},
		{Addr: mustAddr(t, "2001:db8::1"), Action: blocklist.Allow, List: "b",
			Comment: "two", Created: time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC)},
		{Addr: blocklist.Entry{First: netip.MustParseAddr("::ffff:198.51.100.1"), Last: netip.MustParseAddr("::ffff:198.51.100.1"), Bits: 128},
			List: "c", Expires: time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC), Created: time.Unix(0, 0)},
		{Addr: mustAddr(t, "198.51.100.0/24"), List: "a", Comment: strings.Repeat("é", MaxCommentLen/2), Created: time.Unix(1, 0)},
		{Addr: mustAddr(t, "2001:db8:1::/48"), Action: blocklist.Allow, List: "b", Created: time.Unix(2, 0)},
		{Addr: mustAddr(t, "203.0.113.5-203.0.113.9"), List: "d", Observe: true, Comment: "range", Created: time.Unix(3, 0)},
		{Addr: mustAddr(t, "2001:db8:2::5-2001:db8:2::9"), List: "d", Comment: "range6", Created: time.Unix(4, 0)},
		{Addr: mustAddr(t, "255.255.255.255"), List: "e", Created: time.Unix(5, 0)},
		{Addr: mustAddr(t, "0.0.0.0"), List: "e", Created: time.Unix(6, 0)},
		{Addr: mustAddr(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), List: "e", Created: time.Unix(7, 0)},
		{Addr: mustAddr(t, "::"), List: "e", Created: time.Unix(8, 0)},
	}
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	var cs []Change
	for _, e := range in {
		cs = append(cs, Change{Op: Put, Entry: e})
	}
	if _, err := s.Apply(cs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	reopened := openSet(t, Options{Store: st})
	for name, tb := range map[string]*Table{"in force": s.Table(), "after a restart": reopened.Table()} {
		byKey := map[string]Entry{}
		for _, e := range tb.Entries(nil, 0) {
			byKey[e.Key()] = e
		}
		each := map[string]Entry{}
		tb.Each(func(e *Entry) bool { each[e.Key()] = *e; return true })
		for _, want := range in {
			got, ok := tb.Get(want.Addr)
			var covering []Entry
			for _, e := range tb.Covering(want.Addr.Last) {
				if e.Addr == want.Addr {
					covering = append(covering, e)
				}
			}
			st.mu.Lock()
			stored := st.entries[want.Addr]
			st.mu.Unlock()
			for how, got := range map[string]Entry{"Get": got, "Entries": byKey[want.Key()], "Each": each[want.Key()], "the store": stored} {
				if !ok || !sameEntry(got, want) {
					t.Errorf("%s: %s gives %+v, want %+v", name, how, got, want)
				}
			}
			if want.Addr.First.Is4In6() {
				continue // matched as IPv4, which the entry is not
			}
			if len(covering) != 1 || !sameEntry(covering[0], want) {
				t.Errorf("%s: Covering(%s) gives %+v, want %+v", name, want.Addr.Last, covering, want)
			}
		}
	}
}

// TestReadersDuringRoundsSeeWholeEntries: goroutines list, get, visit and explain entries
// while rounds replace, remove and expire them, a store refusing some of the rounds, and the
// comments' array is compacted under them. Each entry read is one that a round wrote, whole:
// its comment names its own address, and every comment read keeps reading as it did.
func TestReadersDuringRoundsSeeWholeEntries(t *testing.T) {
	st := &memStore{}
	s := openSet(t, Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	const n = 500
	addrs := make([]blocklist.Entry, n)
	for i := range addrs {
		switch i % 4 {
		case 0, 1:
			addrs[i] = entryOf(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
		case 2:
			addrs[i] = entryOf(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 128)
		default:
			addrs[i] = mustAddr(t, fmt.Sprintf("2001:db8:1:%x::/64", i))
		}
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	check := func(e *Entry, kept *[]read) error {
		if !strings.HasPrefix(e.Comment, e.Key()+" ") {
			return fmt.Errorf("%s has the comment %q", e.Key(), e.Comment)
		}
		if len(*kept) < 1000 && len(e.Comment)%7 == 0 {
			*kept = append(*kept, read{e.Comment, strings.Clone(e.Comment)})
		}
		return nil
	}
	for g := range 4 {
		go func() {
			var kept []read
			r := rand.New(rand.NewPCG(uint64(g), 1))
			err := func() error {
				for {
					select {
					case <-stop:
						return nil
					default:
					}
					tb := s.Table()
					var es []Entry
					switch g {
					case 0:
						es = tb.Entries(nil, 0)
					case 1:
						after := addrs[r.IntN(n)]
						es = tb.Entries(&after, 50)
					case 2:
						tb.Each(func(e *Entry) bool { es = append(es, *e); return true })
					default:
						a := addrs[r.IntN(n)]
						if e, ok := tb.Get(a); ok {
							es = append(es, e)
						}
						es = append(es, tb.Covering(a.First)...)
					}
					for i := range es {
						if es[i].Comment == "" && es[i].Created.IsZero() {
							continue // Covering's entry of a list the index no longer holds it in
						}
						if err := check(&es[i], &kept); err != nil {
							return err
						}
					}
				}
			}()
			for _, k := range kept {
				if k.got != k.want && err == nil {
					err = fmt.Errorf("a comment read as %q now reads %q", k.want, k.got)
				}
			}
			errs <- err
		}()
	}
	r := rand.New(rand.NewPCG(9, 9))
	for round := range 150 {
		st.refuse(nil)
		if r.IntN(5) == 0 {
			st.refuse(errors.New("disk full"))
		}
		var cs []Change
		for range 1 + r.IntN(50) {
			a := addrs[r.IntN(n)]
			if r.IntN(4) == 0 {
				cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: a}})
				continue
			}
			e := Entry{Addr: a, List: fmt.Sprint("l", r.IntN(3)), Comment: a.String() + " " + strings.Repeat("x", r.IntN(200))}
			if r.IntN(3) == 0 {
				e.Expires = time.Now().Add(time.Duration(r.IntN(20)) * time.Millisecond)
			}
			cs = append(cs, Change{Op: Put, Entry: e})
		}
		if _, err := s.Apply(cs); err != nil && !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// read is a comment as read from the index (got) and a copy of it then (want).
type read struct{ got, want string }
