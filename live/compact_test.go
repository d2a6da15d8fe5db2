package live

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
)

// smallCompactions lowers the least sizes at which the index and the exact sets are compacted
// to those of a test's few hundred entries, for the rest of t.
func smallCompactions(t testing.TB) {
	slots, shards := minCompactSlots, minShrinkShards
	minCompactSlots, minShrinkShards = 64, 1
	t.Cleanup(func() { minCompactSlots, minShrinkShards = slots, shards })
}

// checkQueue fails t unless s's expiry queue holds every entry of its index that expires, as
// the version in its slot, and names no slot past the index's.
func checkQueue(t *testing.T, s *Set) {
	t.Helper()
	x := s.Table().idx
	in := map[queued]bool{}
	for _, q := range s.exp.q {
		if int(q.slot) >= x.recs.n {
			t.Fatalf("the expiry queue names slot %d of %d", q.slot, x.recs.n)
		}
		in[q] = true
	}
	for slot, r := range x.recs.all() {
		if q := (queued{r.expires, slot, r.gen}); r.expires.set && !in[q] {
			t.Fatalf("%v, expiring at %v, is not queued", r.k.entry(), r.expires.time())
		}
	}
}

// driven is a Set whose rounds and expiries the test runs itself, in the Set's goroutine's
// place, on a clock of its own.
type driven struct {
	*Set
	st  *memStore
	ms  *metrics.Set
	now time.Time
}

func drive(t *testing.T) *driven {
	d := &driven{st: &memStore{}, ms: metrics.NewSet(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d.Set = openSet(t, Options{Store: d.st, Metrics: d.ms, Now: func() time.Time { return d.now },
		Logger: slog.New(slog.DiscardHandler)})
	d.Close()
	return d
}

// apply runs a round of one request.
func (d *driven) apply(cs []Change) error { return applyRound(d.Set, cs) }

// applyRound runs a round of one request on s, whose goroutine is stopped.
func applyRound(s *Set, cs []Change) error {
	r := &request{changes: cs, done: make(chan struct{})}
	s.applyRound([]*request{r})
	return r.err
}

// compactions returns spoaguard_live_compactions_total for the index and the table.
func (d *driven) compactions() (index, table uint64) {
	return d.ms.GetOrCreateCounter(`spoaguard_live_compactions_total{part="index"}`).Get(),
		d.ms.GetOrCreateCounter(`spoaguard_live_compactions_total{part="table"}`).Get()
}

// holds fails t unless d holds exactly want, by every way of reading it: Get, Entries, Each,
// Covering, Lookup and the store, and its index and expiry queue agree with it.
func (d *driven) holds(t *testing.T, want map[blocklist.Entry]Entry) {
	t.Helper()
	tb := d.Table()
	checkIndex(t, tb.idx)
	checkQueue(t, d.Set)
	listed := tb.Entries(nil, 0)
	each := 0
	tb.Each(func(*Entry) bool { each++; return true })
	if tb.Len() != len(want) || len(listed) != len(want) || each != len(want) {
		t.Fatalf("%d entries counted, %d listed, %d visited; want %d", tb.Len(), len(listed), each, len(want))
	}
	for _, got := range listed {
		if w, ok := want[got.Addr]; !ok || !sameEntry(got, w) {
			t.Fatalf("%s is listed as %+v, want %+v", got.Key(), got, w)
		}
	}
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if len(d.st.entries) != len(want) {
		t.Fatalf("%d entries stored, want %d", len(d.st.entries), len(want))
	}
	for a, w := range want {
		if got, ok := tb.Get(a); !ok || !sameEntry(got, w) {
			t.Fatalf("Get(%s) = %+v, %v; want %+v", a, got, ok, w)
		}
		if got := d.st.entries[a]; !sameEntry(got, w) {
			t.Fatalf("%s is stored as %+v, want %+v", a, got, w)
		}
		found := false
		for _, e := range tb.Covering(a.Last) {
			found = found || sameEntry(e, w)
		}
		if !found {
			t.Fatalf("Covering(%s) = %+v, without %+v", a.Last, tb.Covering(a.Last), w)
		}
		if bit := tb.ListOf(&w); bit < 0 || tb.Lookup(a.Last.AsSlice())&(1<<bit) == 0 {
			t.Fatalf("Lookup(%s) = %b, without %s's list (bit %d)", a.Last, tb.Lookup(a.Last.AsSlice()), a, bit)
		}
	}
}

// mixed returns entry i of a set of every kind: single IPv4 and IPv6 addresses, IPv4
// prefixes and IPv6 ranges, in lists of both actions and modes, with comments and creation
// times, and expiring at exp (never when zero).
func mixed(i int, created, exp time.Time) Entry {
	var a blocklist.Entry
	switch i % 10 {
	case 0, 1, 2, 3, 4, 5, 6:
		a = entryOf(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	case 7, 8:
		a = entryOf(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}), 128)
	default:
		if j := i / 10; j%2 == 0 {
			a = entryOf(netip.AddrFrom4([4]byte{172, 16 + byte(j>>12), byte(j >> 4), byte(j << 4)}), 28)
		} else {
			f := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 12: byte(j >> 16), 13: byte(j >> 8), 14: byte(j), 15: 1})
			a = blocklist.Entry{First: f, Last: f.Next().Next(), Bits: -1}
		}
	}
	action := blocklist.Deny
	if i%7 == 0 {
		action = blocklist.Allow
	}
	return Entry{Addr: a, Action: action, List: fmt.Sprint("l", i%3), Observe: action == blocklist.Deny && i%11 == 0,
		Expires: exp, Comment: fmt.Sprintf("%d %s", i, strings.Repeat("c", i%30)), Created: created}
}

// TestRemovedEntriesGiveTheirMemoryBack: a set of 40,000 entries of every kind loses all but
// one in 17 of them, by Delete or by expiry. The index's slots fall to at most four times the
// entries left, its comments' array and the expiry queue with them, and the exact sets are
// built again at a fraction of their shards; every entry left reads back whole by every way
// of reading it. A round that fails after the compaction (the store refusing it, or too many
// lists) leaves every entry as it was, and those left then expire at their own times.
func TestRemovedEntriesGiveTheirMemoryBack(t *testing.T) {
	const n, every = 40_000, 17
	for _, by := range []string{"delete", "expiry"} {
		t.Run(by, func(t *testing.T) {
			d := drive(t)
			base := d.now
			want := map[blocklist.Entry]Entry{}
			var gone []blocklist.Entry
			var cs []Change
			for i := range n {
				var exp time.Time
				switch {
				case i%every != 0:
					gone = append(gone, mixed(i, base, time.Time{}).Addr)
					if by == "expiry" {
						exp = base.Add(time.Duration(1+i%5) * time.Second)
					}
				case i%2 == 0:
					exp = base.Add(time.Hour + time.Duration(i/every)*time.Second)
				}
				e := mixed(i, base, exp)
				if i%every == 0 {
					want[e.Addr] = e
				}
				cs = append(cs, Change{Op: Put, Entry: e})
				if len(cs) == 10_000 {
					if err := d.apply(cs); err != nil {
						t.Fatal(err)
					}
					cs = nil
				}
			}
			x := d.Table().idx
			slots, notes, queue := x.recs.n, cap(x.notes.b), cap(d.exp.q)
			shards4, shards6 := len(d.Table().e4.shards), len(d.Table().e6.shards)
			if slots != n {
				t.Fatalf("%d slots for %d entries", slots, n)
			}

			if by == "delete" {
				for i := 0; i < len(gone); i += 5000 {
					cs = nil
					for _, a := range gone[i:min(i+5000, len(gone))] {
						cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: a}})
					}
					if err := d.apply(cs); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				d.now = base.Add(10 * time.Second)
				d.expire()
			}
			d.holds(t, want)
			tb := d.Table()
			x = tb.idx
			if x.recs.n > 4*len(want) {
				t.Errorf("%d slots for %d entries left, from %d", x.recs.n, len(want), slots)
			}
			if cap(x.notes.b) > notes/4 || cap(d.exp.q) > 2*len(want)+1024 {
				t.Errorf("the comments' array holds %d bytes (%d before), the expiry queue %d items (%d before) for %d entries",
					cap(x.notes.b), notes, cap(d.exp.q), queue, len(want))
			}
			if len(tb.e4.shards) > shards4/8 || len(tb.e6.shards) > shards6/8 {
				t.Errorf("the exact sets have %d and %d shards, from %d and %d", len(tb.e4.shards), len(tb.e6.shards), shards4, shards6)
			}
			// The table may have been built again by the round itself, which did not fit it.
			if index, _ := d.compactions(); index != 1 {
				t.Errorf("spoaguard_live_compactions_total{part=\"index\"} = %d, want 1", index)
			}

			// Rounds that fail: the store refuses one that adds enough entries for the index to
			// be compacted again once they are undone, updates some and deletes others; another
			// makes too many lists.
			var failing []Change
			for i := range minCompactSlots {
				e := mixed(n+i, d.now, d.now.Add(time.Minute))
				failing = append(failing, Change{Op: Put, Entry: e})
			}
			k := 0
			for a, w := range want {
				if k++; k%2 == 0 {
					failing = append(failing, Change{Op: Delete, Entry: Entry{Addr: a}})
				} else {
					w.Comment, w.Expires = "changed", d.now.Add(time.Second)
					failing = append(failing, Change{Op: Put, Entry: w})
				}
			}
			d.st.refuse(errors.New("disk full"))
			if err := d.apply(failing); err == nil {
				t.Fatal("a round the store refused succeeded")
			}
			d.st.refuse(nil)
			d.holds(t, want)
			var lists []Change
			for i := range MaxLists {
				e := mixed(n+i, d.now, time.Time{})
				e.List = fmt.Sprint("x", i)
				lists = append(lists, Change{Op: Put, Entry: e})
			}
			if err := d.apply(lists); !errors.Is(err, ErrTooManyLists) {
				t.Fatalf("a round of too many lists: %v", err)
			}
			d.holds(t, want)
			if index, _ := d.compactions(); index != 2 {
				t.Errorf("%d compactions of the index after the undone round, want 2", index)
			}

			// The entries left expire at their own times, and no sooner.
			for _, at := range []time.Duration{
				time.Hour - time.Nanosecond,
				time.Hour + 500*time.Second - time.Nanosecond,
				time.Hour + 500*time.Second,
				time.Hour + 2000*time.Second,
				3 * time.Hour,
			} {
				d.now = base.Add(at)
				d.expire()
				for a, w := range want {
					if w.Expired(d.now) {
						delete(want, a)
					}
				}
				d.holds(t, want)
				if next, w := d.exp.next(d.Table()), nextOf(d.Table()); !next.Equal(w) {
					t.Fatalf("at base+%v the next expiry is %v, want %v", at, next, w)
				}
			}
			if len(want) != (n/every+1)/2 {
				t.Fatalf("%d entries never expire, want %d", len(want), (n/every+1)/2)
			}
		})
	}
}

// TestCompactionsAreNotRepeatedAboutTheThreshold: a set compacted once is not compacted again
// while it hovers above a quarter of its slots, or about that quarter, and is once it falls
// under it; its exact set, built again smaller once, is not built again while it hovers.
func TestCompactionsAreNotRepeatedAboutTheThreshold(t *testing.T) {
	minCompactSlots = 1024
	t.Cleanup(func() { minCompactSlots = 1 << 14 })
	d := drive(t)
	addrs := func(from, to int) []blocklist.Entry {
		var out []blocklist.Entry
		for i := from; i < to; i++ {
			out = append(out, entryOf(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		}
		return out
	}
	puts := func(as []blocklist.Entry) []Change {
		var cs []Change
		for _, a := range as {
			cs = append(cs, Change{Op: Put, Entry: Entry{Addr: a, List: DefaultList, Comment: a.String()}})
		}
		return cs
	}
	dels := func(as []blocklist.Entry) []Change {
		var cs []Change
		for _, a := range as {
			cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: a}})
		}
		return cs
	}
	step := func(cs []Change, wantIndex, wantTable uint64) {
		t.Helper()
		if err := d.apply(cs); err != nil {
			t.Fatal(err)
		}
		checkIndex(t, d.Table().idx)
		if index, table := d.compactions(); index != wantIndex || table != wantTable {
			t.Fatalf("at %d entries in %d slots: %d compactions of the index and %d of the table, want %d and %d",
				d.Table().Len(), d.Table().idx.recs.n, index, table, wantIndex, wantTable)
		}
	}
	step(puts(addrs(0, 20_000)), 0, 0)
	step(dels(addrs(4000, 20_000)), 1, 0) // 4000 entries in 20,000 slots: 4000
	for range 10 {                        // 3000 to 4000 entries in 4000 slots
		step(dels(addrs(3000, 4000)), 1, 0)
		step(puts(addrs(3000, 4000)), 1, 0)
	}
	step(dels(addrs(1001, 4000)), 1, 1) // a quarter of the slots and one: 1001 keys in 1024 shards
	for range 10 {                      // about the quarter
		step(puts(addrs(1001, 1501)), 1, 1)
		step(dels(addrs(1001, 1501)), 1, 1)
	}
	step(dels(addrs(999, 1001)), 2, 1) // under it
	if got := d.Table().idx.recs.n; got != 999 {
		t.Errorf("%d slots for 999 entries", got)
	}
}

// TestReadersDuringCompactionsSeeEveryEntry: while rounds add 1200 entries and remove them
// again, compacting the index and the table each time (their least sizes lowered), readers of
// the tables in force find, list, visit, explain and match every one of the entries that
// stay, whole.
func TestReadersDuringCompactionsSeeEveryEntry(t *testing.T) {
	smallCompactions(t)
	s := openSet(t, Options{})
	ms := s.opts.Metrics
	const kept = 200
	var stay, passing []Change
	byAddr := map[blocklist.Entry]Entry{}
	for i := range kept {
		e := mixed(i, time.Now(), time.Now().Add(time.Hour))
		stay = append(stay, Change{Op: Put, Entry: e})
		byAddr[e.Addr] = e
	}
	for i := kept; i < kept+1200; i++ {
		passing = append(passing, Change{Op: Put, Entry: mixed(i, time.Now(), time.Time{})})
	}
	gone := make([]Change, len(passing))
	for i, c := range passing {
		gone[i] = Change{Op: Delete, Entry: Entry{Addr: c.Entry.Addr}}
	}
	if _, err := s.Apply(stay); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			errs <- func() error {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return nil
					default:
					}
					tb := s.Table()
					switch w := stay[i%kept].Entry; g {
					case 0:
						if e, ok := tb.Get(w.Addr); !ok || !sameEntry(e, w) {
							return fmt.Errorf("Get(%s) = %+v, %v", w.Addr, e, ok)
						}
						if bit := tb.ListOf(&w); tb.Lookup(w.Addr.Last.AsSlice())&(1<<bit) == 0 {
							return fmt.Errorf("Lookup(%s) misses its list", w.Addr.Last)
						}
					case 1:
						found := map[blocklist.Entry]bool{}
						for _, e := range tb.Entries(nil, 0) {
							found[e.Addr] = true
						}
						for _, c := range stay {
							if !found[c.Entry.Addr] {
								return fmt.Errorf("%s is not listed", c.Entry.Addr)
							}
						}
					case 2:
						var n int
						var bad *Entry
						tb.Each(func(e *Entry) bool {
							if w, ok := byAddr[e.Addr]; ok {
								n++
								if !sameEntry(*e, w) {
									c := *e
									bad = &c
								}
							}
							return true
						})
						if n != kept || bad != nil {
							return fmt.Errorf("Each visited %d of the %d entries that stay, one as %+v", n, kept, bad)
						}
					default:
						found := false
						for _, e := range tb.Covering(w.Addr.Last) {
							found = found || sameEntry(e, w)
						}
						if !found {
							return fmt.Errorf("Covering(%s) misses %+v", w.Addr.Last, w)
						}
					}
				}
			}()
		}()
	}
	const cycles = 4
	for range cycles {
		if _, err := s.Apply(passing); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(gone); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := ms.GetOrCreateCounter(`spoaguard_live_compactions_total{part="index"}`).Get(); got != cycles {
		t.Errorf("%d compactions of the index in %d cycles", got, cycles)
	}
}
