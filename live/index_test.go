package live

import (
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// storm returns n Puts of single IPv4 addresses from 10.0.0.0 on, each with the expiry and
// comment that a ban storm's bans have, in lists of their own names.
func storm(n int, exp time.Time) []Change {
	out := make([]Change, n)
	for i := range out {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		out[i] = Change{Op: Put, Entry: Entry{Addr: blocklist.Entry{First: a, Last: a, Bits: 32},
			// a list name of its own allocation, as each decoded request's is
			List: strings.Clone("api"), Expires: exp, Comment: fmt.Sprint("ban ", i)}}
	}
	return out
}

func scannable() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// The collector traces every pointer of the heap at each cycle, and a ban storm brings a cycle
// every few seconds: the live set's entries must give it nothing to trace, however many.
func TestLiveEntriesGiveTheCollectorNothingToTrace(t *testing.T) {
	const n = 50_000
	before := scannable()
	s := openSet(t, Options{})
	exp := time.Now().Add(time.Hour)
	for range 2 { // the second time replaces every entry
		if _, err := s.Apply(storm(n, exp)); err != nil {
			t.Fatal(err)
		}
	}
	after := scannable()
	runtime.KeepAlive(s)
	t.Logf("%.1f bytes per entry to scan", (float64(after)-float64(before))/n)
	// What is left is the tables' shards (a few slices each) and the set's own objects.
	if per := (float64(after) - float64(before)) / n; per > 16 {
		t.Errorf("%d live entries made %.0f bytes per entry for the collector to scan (%d before, %d after); want at most 16",
			n, per, before, after)
	}
}

// Comments replaced or removed are dropped from the index's array of comments once they make
// most of it, and a list name is dropped with its last entry; the entries left keep theirs.
func TestCommentsAndListNamesOutliveChurn(t *testing.T) {
	s := openSet(t, Options{})
	const n = 3000
	want := map[string]string{} // comment by address
	entry := func(i, round int) Change {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		c := fmt.Sprintf("round %d of %s, %s", round, a, strings.Repeat("x", i%50))
		want[a.String()] = c
		return Change{Op: Put, Entry: Entry{Addr: blocklist.Entry{First: a, Last: a, Bits: 32},
			List: fmt.Sprint("l", i%3), Comment: c}}
	}
	for round := range 20 {
		var cs []Change
		for i := range n {
			cs = append(cs, entry(i, round))
		}
		if _, err := s.Apply(cs); err != nil {
			t.Fatal(err)
		}
	}
	var cs []Change
	for i := 2; i < n; i += 3 { // all of list l2
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		cs = append(cs, Change{Op: Delete, Entry: Entry{Addr: blocklist.Entry{First: a, Last: a, Bits: 32}}})
		delete(want, a.String())
	}
	if _, err := s.Apply(cs); err != nil {
		t.Fatal(err)
	}
	tb := s.Table()
	live := 0
	for _, e := range tb.Entries(nil, 0) {
		if w, ok := want[e.Key()]; !ok || e.Comment != w {
			t.Fatalf("%s has comment %q, want %q", e.Key(), e.Comment, w)
		}
		live += len(e.Comment)
	}
	if got := len(tb.Entries(nil, 0)); got != len(want) {
		t.Fatalf("%d entries, want %d", got, len(want))
	}
	idx := tb.idx
	if got := len(idx.notes.b); got > 2*live+1<<16 {
		t.Errorf("the comments' array holds %d bytes for %d bytes of comments", got, live)
	}
	if _, ok := idx.names.ids["l2"]; ok || len(idx.names.ids) != 2 {
		t.Errorf("list names held: %v, want l0 and l1", idx.names.ids)
	}
}

// An entry added into the slot of the index that a removed entry with an expiry left keeps its
// own time: the removed entry's place in the expiry queue no longer holds it.
func TestAnEntryInAFreedSlotKeepsItsOwnExpiry(t *testing.T) {
	s := openSet(t, Options{})
	a, c := put(t, "203.0.113.1", "", blocklist.Deny), put(t, "203.0.113.3", "", blocklist.Deny)
	a.Entry.Expires = time.Now().Add(100 * time.Millisecond)
	c.Entry.Expires = time.Now().Add(300 * time.Millisecond)
	if _, err := s.Apply([]Change{a, c}); err != nil {
		t.Fatal(err)
	}
	b := put(t, "203.0.113.2", "", blocklist.Deny)
	b.Entry.Expires = time.Now().Add(time.Hour)
	// One round: the removal frees the slot, and b, next in the round's order, takes it.
	if _, err := s.Apply([]Change{del(t, "203.0.113.1"), b}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)  // a bound on the test, not the assertion
	for lookup(s.Table(), "203.0.113.3") != nil { // once c has expired, a's time is long past
		if time.Now().After(deadline) {
			t.Fatal("203.0.113.3 never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if lookup(s.Table(), "203.0.113.2") == nil {
		t.Error("203.0.113.2 expired with the entry whose slot it took")
	}
}
