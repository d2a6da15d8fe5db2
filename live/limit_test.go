package live

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

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
