package live

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
)

// puts returns n deny entries from 10.0.0.first on.
func puts(t *testing.T, first, n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = put(t, fmt.Sprintf("10.0.%d.%d", (first+i)/256, (first+i)%256), "api", blocklist.Deny)
	}
	return out
}

// A batch that would grow the set past its limit is refused whole, with an error that says
// so; batches that do not grow it (updates, removals, as many removals as additions) pass,
// and the room a removal makes can be taken again.
func TestABatchPastTheLimitChangesNothing(t *testing.T) {
	ms := metrics.NewSet()
	s := openSet(t, Options{MaxEntries: 10, Metrics: ms})
	if _, err := s.Apply(puts(t, 0, 8)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(puts(t, 8, 3)) // 11 > 10
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "it holds 8 entries, and 3 more would pass its limit of 10") {
		t.Fatalf("3 more over 8 with a limit of 10: %v, want ErrFull with the figures", err)
	}
	if n := s.Table().Len(); n != 8 {
		t.Fatalf("the refused batch left %d entries, want 8", n)
	}
	if lookup(s.Table(), "10.0.0.8") != nil {
		t.Fatal("an entry of the refused batch is in force")
	}
	if _, err := s.Apply(puts(t, 8, 2)); err != nil { // exactly 10
		t.Fatalf("filling the set to its limit: %v", err)
	}
	update := puts(t, 0, 1)
	update[0].Entry.Comment = "seen again"
	for _, b := range [][]Change{
		update,
		{del(t, "10.0.0.0"), put(t, "10.0.1.0", "api", blocklist.Deny)}, // one out, one in
		{put(t, "10.0.1.1", "api", blocklist.Deny), put(t, "10.0.1.2", "api", blocklist.Deny), del(t, "10.0.0.1"), del(t, "10.0.0.2")},
	} {
		if _, err := s.Apply(b); err != nil {
			t.Errorf("a batch that does not grow the full set: %v", err)
		}
	}
	if _, err := s.Apply(puts(t, 600, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("one more into the full set: %v, want ErrFull", err)
	}
	if _, err := s.Apply([]Change{del(t, "10.0.0.3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(puts(t, 600, 1)); err != nil {
		t.Fatalf("taking the room a removal made: %v", err)
	}
	if got := ms.GetOrCreateCounter(`spoaguard_live_refused_total{reason="full"}`).Get(); got != 2 {
		t.Errorf("spoaguard_live_refused_total = %d, want the 2 refused batches", got)
	}
	if got := ms.GetOrCreateGauge(`spoaguard_live_entries_limit`, nil).Get(); got != 10 {
		t.Errorf("spoaguard_live_entries_limit = %v, want 10", got)
	}
}

// Batches coalesced into one round that together pass the limit: those that fit are applied,
// the one that does not is refused, and the set ends at its limit or under it.
func TestCoalescedBatchesPastTheLimitRefuseOnlyTheOneThatDoesNotFit(t *testing.T) {
	s := openSet(t, Options{MaxEntries: 100})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Apply(puts(t, 40*i, 40)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrFull):
			t.Fatalf("a batch failed otherwise than full: %v", err)
		}
	}
	if ok != 2 || s.Table().Len() != 80 {
		t.Fatalf("%d batches of 40 applied, %d entries; want 2 and 80 under a limit of 100", ok, s.Table().Len())
	}
}

// A store written under a higher limit loads whole: no accepted ban is dropped. The set then
// refuses to grow, and shrinks as before.
func TestAStoreOverTheLimitLoadsWhole(t *testing.T) {
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	if _, err := s.Apply(puts(t, 0, 20)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSet(t, Options{Store: st, MaxEntries: 5})
	if n := s.Table().Len(); n != 20 {
		t.Fatalf("reopened with a limit of 5: %d entries, want the 20 stored", n)
	}
	if _, err := s.Apply(puts(t, 100, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("adding to a set over its limit: %v, want ErrFull", err)
	}
	if _, err := s.Apply([]Change{del(t, "10.0.0.0"), del(t, "10.0.0.1")}); err != nil {
		t.Fatalf("removing from a set over its limit: %v", err)
	}
	if n := s.Table().Len(); n != 18 {
		t.Fatalf("%d entries after 2 removals, want 18", n)
	}
}

// Room answers as Apply would for a batch that Count reports, without applying it.
func TestRoomAnswersAsApplyWould(t *testing.T) {
	s := openSet(t, Options{MaxEntries: 3})
	if _, err := s.Apply(puts(t, 0, 2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		batch []Change
		full  bool
	}{
		{puts(t, 2, 1), false},
		{puts(t, 2, 2), true},
		{append(puts(t, 0, 2), puts(t, 2, 1)...), false}, // two updates and one more
		{append(puts(t, 2, 2), del(t, "10.0.0.0")), false},
	} {
		room := s.Room(s.Table().Count(tc.batch))
		if (room != nil) != tc.full || room != nil && !errors.Is(room, ErrFull) {
			t.Errorf("Room for %d changes = %v, want full=%v", len(tc.batch), room, tc.full)
		}
	}
	if n := s.Table().Len(); n != 2 {
		t.Errorf("Room changed the set: %d entries", n)
	}
}

// A round that coalesces a batch that adds entries with one that removes more, in a set over
// its limit (loaded from a store written under a higher one), refuses the one that adds: no
// order of the two batches applied one by one lets it in, so coalescing must not either.
// In a set at its limit, the same two batches both pass, as they would removal first.
func TestACoalescedRemovalMakesNoRoomInASetOverItsLimit(t *testing.T) {
	for _, tc := range []struct {
		name         string
		stored, max  int
		wantAddition bool
	}{
		{"over the limit", 20, 5, false},
		{"at the limit", 5, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{}
			s := openSet(t, Options{Store: st})
			if _, err := s.Apply(puts(t, 0, tc.stored)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = openSet(t, Options{Store: st, MaxEntries: tc.max, Logger: slog.New(slog.DiscardHandler)})
			s.Close() // the test runs the round itself, in the Set's place
			removal := &request{changes: []Change{del(t, "10.0.0.0"), del(t, "10.0.0.1")}, done: make(chan struct{})}
			addition := &request{changes: puts(t, 100, 1), done: make(chan struct{})}
			s.applyRound([]*request{addition, removal})
			if removal.err != nil {
				t.Fatalf("the removal: %v", removal.err)
			}
			if got := lookup(s.Table(), "10.0.0.100") != nil; got != tc.wantAddition || (addition.err == nil) != tc.wantAddition {
				t.Fatalf("%d entries, limit %d: the addition in force %v, err %v; want in force %v",
					tc.stored, tc.max, got, addition.err, tc.wantAddition)
			}
			if !tc.wantAddition && !errors.Is(addition.err, ErrFull) {
				t.Errorf("the refused addition: %v, want ErrFull", addition.err)
			}
			want := tc.stored - 2
			if tc.wantAddition {
				want++
			}
			if n := s.Table().Len(); n != want {
				t.Errorf("%d entries after the round, want %d", n, want)
			}
		})
	}
}

// TestRoundsUnderALimitMatchBatchesAppliedOneByOne: random rounds of one to four batches of
// puts (new entries, updates with other expiries and comments, put-delete-put) and deletes,
// or deletes alone, against a set whose limit is half its keys, loaded over it from the
// store, with the store refusing one round in eight and entries expiring as the clock moves. After each round the set holds what a model holds that
// applies the round whole when it fits and otherwise each batch alone, refusing those that
// would grow past the limit: the index's bookkeeping agrees with its entries, the store and
// the table hold the model's entries field for field, the lookups find exactly them, the
// refused batches are ErrFull, spoaguard_live_entries adds up to them, and the change counters
// count the accepted ones. An entry a refused round changed expires at its old time.
func TestRoundsUnderALimitMatchBatchesAppliedOneByOne(t *testing.T) {
	const keys, limit = 120, 60
	addr := func(i int) blocklist.Entry {
		if i%3 == 0 {
			return entryOf(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 128)
		}
		return entryOf(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32)
	}
	st := &memStore{entries: map[blocklist.Entry]Entry{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	model := map[blocklist.Entry]Entry{}
	for i := range keys * 2 / 3 { // stored under a higher limit: the set starts over its own
		e := Entry{Addr: addr(i), List: "l0", Comment: "stored", Created: now}
		if i%2 == 0 {
			e.Expires = now.Add(time.Duration(100+i) * time.Second)
		}
		st.entries[e.Addr], model[e.Addr] = e, e
	}
	ms := metrics.NewSet()
	s := openSet(t, Options{Store: st, MaxEntries: limit, Metrics: ms, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	s.Close() // the test runs the rounds itself, in the Set's place
	r := rand.New(rand.NewPCG(5, 60))
	// apply applies reqs one after another to a copy of m, counting as commit does.
	apply := func(m map[blocklist.Entry]Entry, reqs []*request) (map[blocklist.Entry]Entry, []Counts) {
		m = maps.Clone(m)
		counts := make([]Counts, len(reqs))
		for i, rq := range reqs {
			for _, c := range rq.changes {
				_, there := m[c.Entry.Addr]
				switch {
				case c.Op == Put && there:
					counts[i].Updated++
				case c.Op == Put:
					counts[i].Added++
				case there:
					counts[i].Removed++
				}
				if c.Op == Put {
					m[c.Entry.Addr] = c.Entry
				} else {
					delete(m, c.Entry.Addr)
				}
			}
		}
		return m, counts
	}
	// touches reports whether rq changes a key that m holds, or leaves one it lacks.
	touches := func(m map[blocklist.Entry]Entry, rq *request) bool {
		after, _ := apply(m, []*request{rq})
		return slices.ContainsFunc(rq.changes, func(c Change) bool {
			_, before := m[c.Entry.Addr]
			_, now := after[c.Entry.Addr]
			return before || now
		})
	}
	fits := func(m map[blocklist.Entry]Entry, counts []Counts) bool {
		return len(m) <= limit || !slices.ContainsFunc(counts, func(c Counts) bool { return c.Added > c.Removed })
	}
	var want Counts
	var full, stored int
	for round := range 600 {
		storeFails := r.IntN(8) == 0
		st.refuse(nil)
		if storeFails {
			st.refuse(errors.New("disk full"))
		}
		reqs := make([]*request, 1+r.IntN(4))
		for i := range reqs {
			var cs []Change
			removals := r.IntN(4) == 0
			for range 1 + r.IntN(12) {
				a := addr(r.IntN(keys))
				if removals || r.IntN(4) == 0 {
					cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: a}})
					continue
				}
				e := Entry{Addr: a, List: fmt.Sprint("l", r.IntN(3)), Comment: fmt.Sprint("round ", round), Created: now}
				if r.IntN(2) == 0 {
					e.Expires = now.Add(time.Duration(1+r.IntN(30)) * time.Second)
				}
				cs = append(cs, Change{Op: Put, Entry: e})
				if r.IntN(10) == 0 { // put-delete-put
					cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: a}}, Change{Op: Put, Entry: e})
				}
			}
			reqs[i] = &request{changes: cs, done: make(chan struct{})}
		}
		s.applyRound(reqs)

		// The model's round.
		refused := make([]bool, len(reqs))
		if m, counts := apply(model, reqs); storeFails {
			for i, rq := range reqs {
				refused[i] = touches(model, rq) // a batch that changes nothing writes nothing
			}
		} else if fits(m, counts) {
			model = m
			for _, c := range counts {
				want.Added, want.Updated, want.Removed = want.Added+c.Added, want.Updated+c.Updated, want.Removed+c.Removed
			}
		} else {
			for i, rq := range reqs {
				m, counts := apply(model, []*request{rq})
				if refused[i] = !fits(m, counts); !refused[i] {
					model = m
					want.Added, want.Updated, want.Removed = want.Added+counts[0].Added, want.Updated+counts[0].Updated, want.Removed+counts[0].Removed
				}
			}
		}
		for i, rq := range reqs {
			switch {
			case refused[i] != (rq.err != nil):
				t.Fatalf("round %d, batch %d of %d: err %v, want refused %v", round, i, len(reqs), rq.err, refused[i])
			case refused[i] && !storeFails && !errors.Is(rq.err, ErrFull):
				t.Fatalf("round %d, batch %d: %v, want ErrFull", round, i, rq.err)
			case refused[i] && !storeFails:
				full++
			case !refused[i]:
				stored++
			}
		}

		now = now.Add(time.Second)
		st.refuse(nil)
		s.expire()
		for k, e := range model {
			if !e.Expires.IsZero() && !e.Expires.After(now) {
				delete(model, k)
			}
		}

		tb := s.Table()
		checkIndex(t, tb.idx)
		st.mu.Lock()
		if len(st.entries) != len(model) || tb.Len() != len(model) {
			t.Fatalf("round %d: %d stored, %d in the table, %d in the model", round, len(st.entries), tb.Len(), len(model))
		}
		for k, e := range model {
			got, ok := tb.Get(k)
			if !ok || !sameEntry(got, e) || !sameEntry(st.entries[k], e) {
				st.mu.Unlock()
				t.Fatalf("round %d: %s is %+v (%v) in the table, %+v in the store, want %+v", round, k, got, ok, st.entries[k], e)
			}
		}
		st.mu.Unlock()
		gauged := 0.0
		for _, name := range ms.ListMetricNames() {
			if strings.HasPrefix(name, "spoaguard_live_entries{") {
				gauged += ms.GetOrCreateGauge(name, nil).Get()
			}
		}
		if int(gauged) != len(model) {
			t.Fatalf("round %d: spoaguard_live_entries add up to %v, want %d", round, gauged, len(model))
		}
		for i := range keys {
			a := addr(i)
			_, in := model[a]
			if got := tb.Lookup(a.First.AsSlice()) != 0; got != in {
				t.Fatalf("round %d: Lookup(%s) = %v, the model holds it: %v", round, a.First, got, in)
			}
		}
	}
	for name, w := range map[string]int{"add": want.Added, "update": want.Updated, "delete": want.Removed} {
		if got := ms.GetOrCreateCounter(fmt.Sprintf(`spoaguard_live_changes_total{op=%q}`, name)).Get(); got != uint64(w) {
			t.Errorf("spoaguard_live_changes_total{op=%q} = %d, want %d", name, got, w)
		}
	}
	t.Logf("%d batches applied, %d refused as full", stored, full)
	if full == 0 || stored == 0 {
		t.Fatal("the rounds miss a path")
	}
}

// Room and Apply agree on random batches of puts, deletes, duplicates and put-delete-put, in
// a set that starts over its limit, shrinks under it and fills up to it: Room refuses exactly
// the batches Apply refuses, with the same error, and a batch Room refused changes nothing.
func TestRoomAndApplyAgreeOnEveryBatch(t *testing.T) {
	const keys, limit = 40, 12
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	if _, err := s.Apply(puts(t, 0, 20)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSet(t, Options{Store: st, MaxEntries: limit, Logger: slog.New(slog.DiscardHandler)})
	r := rand.New(rand.NewPCG(7, 70))
	var full, ok int
	for i := range 2000 {
		var batch []Change
		for range 1 + r.IntN(6) {
			c := puts(t, r.IntN(keys), 1)[0]
			if r.IntN(3) == 0 {
				c = Change{Op: Delete, Entry: Entry{Addr: c.Entry.Addr}}
			}
			batch = append(batch, c)
		}
		before := s.Table().Len()
		room := s.Room(s.Table().Count(batch))
		_, err := s.Apply(batch)
		if fmt.Sprint(room) != fmt.Sprint(err) {
			t.Fatalf("batch %d on %d entries: Room says %v, Apply %v", i, before, room, err)
		}
		if err != nil && s.Table().Len() != before {
			t.Fatalf("batch %d: refused, and the set went from %d entries to %d", i, before, s.Table().Len())
		}
		if err != nil {
			full++
		} else {
			ok++
		}
	}
	if full == 0 || ok == 0 {
		t.Fatalf("%d batches refused, %d applied: the batches miss a path", full, ok)
	}
}
