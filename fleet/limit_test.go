package fleet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
)

func liveChange(t *testing.T, op live.Op, addr string) live.Change {
	e, err := blocklist.ParseEntry(addr)
	if err != nil {
		t.Fatal(err)
	}
	return live.Change{Op: op, Entry: live.Entry{Addr: e, List: "api"}}
}

// A batch of the shared set that this agent's set has no room for: every removal and every
// change to an entry it holds is applied, the new entries take the room there is in the
// batch's order, and the rest are left out and counted, so that the follower goes on.
func TestASinkWithoutRoomKeepsWhatFitsAndCountsTheRest(t *testing.T) {
	set, err := live.Open(live.Options{MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	dropped := metrics.NewSet().NewCounter("dropped")
	sink := LiveSink{Set: set, Dropped: dropped, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := sink.Apply(ChangesOf([]live.Change{liveChange(t, live.Put, "192.0.2.1"), liveChange(t, live.Put, "192.0.2.2")})); err != nil {
		t.Fatal(err)
	}
	update := liveChange(t, live.Put, "192.0.2.2")
	update.Entry.Comment = "updated"
	batch := []live.Change{
		liveChange(t, live.Put, "192.0.2.3"),
		liveChange(t, live.Delete, "192.0.2.1"),
		liveChange(t, live.Put, "192.0.2.4"),
		liveChange(t, live.Put, "192.0.2.3"), // again: one place
		liveChange(t, live.Put, "192.0.2.5"),
		update,
	}
	if err := sink.Apply(ChangesOf(batch)); err != nil {
		t.Fatalf("a batch past the limit: %v, want it applied as far as it fits", err)
	}
	tb := set.Table()
	for ip, want := range map[string]bool{"192.0.2.1": false, "192.0.2.2": true, "192.0.2.3": true, "192.0.2.4": true, "192.0.2.5": false} {
		if got := blocks(set, ip); got != want {
			t.Errorf("%s in force: %v, want %v", ip, got, want)
		}
	}
	if e, _ := tb.Get(update.Entry.Addr); e.Comment != "updated" {
		t.Errorf("the update of a held entry was not applied: comment %q", e.Comment)
	}
	if dropped.Get() != 1 {
		t.Errorf("dropped = %d, want 1 (192.0.2.5)", dropped.Get())
	}

	// A resync to a shared set of 5: 3 are kept.
	var records []Record
	for _, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"} {
		e := liveChange(t, live.Put, ip).Entry
		records = append(records, RecordOf(&e))
	}
	if err := sink.Replace(records); err != nil {
		t.Fatalf("Replace past the limit: %v", err)
	}
	if n := set.Table().Len(); n != 3 || !blocks(set, "198.51.100.3") || blocks(set, "198.51.100.4") || blocks(set, "192.0.2.2") {
		t.Errorf("after Replace: %d entries, 198.51.100.3 %v, .4 %v, 192.0.2.2 %v; want the first 3 records only",
			n, blocks(set, "198.51.100.3"), blocks(set, "198.51.100.4"), blocks(set, "192.0.2.2"))
	}
	if dropped.Get() != 3 {
		t.Errorf("dropped = %d, want 3", dropped.Get())
	}
}

// fullSink returns a sink whose set may hold max entries and holds those of addrs.
func fullSink(t *testing.T, max int, addrs ...string) (LiveSink, *live.Set, *metrics.Counter) {
	t.Helper()
	set, err := live.Open(live.Options{MaxEntries: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	var held []live.Change
	for _, a := range addrs {
		held = append(held, liveChange(t, live.Put, a))
	}
	if _, err := set.Apply(held); err != nil {
		t.Fatal(err)
	}
	dropped := metrics.NewSet().NewCounter("dropped")
	return LiveSink{Set: set, Dropped: dropped, Logger: slog.New(slog.DiscardHandler)}, set, dropped
}

// A batch past the limit leaves each key as its last change in the batch does: a new entry
// the batch puts and then removes is not in force and takes no room, and a new entry put
// twice and left out is one entry dropped.
func TestASinkWithoutRoomEndsEachKeyAsTheBatchDoes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batch   []live.Change
		want    map[string]bool
		dropped uint64
	}{
		{"put then removed", []live.Change{
			liveChange(t, live.Put, "192.0.2.10"),
			liveChange(t, live.Delete, "192.0.2.10"),
			liveChange(t, live.Put, "192.0.2.11"),
			liveChange(t, live.Put, "192.0.2.12"),
		}, map[string]bool{"192.0.2.10": false, "192.0.2.11": true, "192.0.2.12": false}, 1},
		{"put, removed, put again", []live.Change{
			liveChange(t, live.Put, "192.0.2.10"),
			liveChange(t, live.Delete, "192.0.2.10"),
			liveChange(t, live.Put, "192.0.2.10"),
			liveChange(t, live.Put, "192.0.2.11"),
		}, map[string]bool{"192.0.2.10": true, "192.0.2.11": false}, 1},
		{"left out twice", []live.Change{
			liveChange(t, live.Put, "192.0.2.10"),
			liveChange(t, live.Put, "192.0.2.11"),
			liveChange(t, live.Put, "192.0.2.11"),
			liveChange(t, live.Put, "192.0.2.12"),
		}, map[string]bool{"192.0.2.10": true, "192.0.2.11": false, "192.0.2.12": false}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, set, dropped := fullSink(t, 3, "192.0.2.1", "192.0.2.2")
			if err := sink.Apply(ChangesOf(tc.batch)); err != nil {
				t.Fatalf("a batch past the limit: %v", err)
			}
			for ip, want := range tc.want {
				if got := blocks(set, ip); got != want {
					t.Errorf("%s in force: %v, want %v", ip, got, want)
				}
			}
			if !blocks(set, "192.0.2.1") || !blocks(set, "192.0.2.2") {
				t.Error("an entry the batch left alone is gone")
			}
			if dropped.Get() != tc.dropped {
				t.Errorf("dropped = %d, want %d", dropped.Get(), tc.dropped)
			}
		})
	}
}

// A full sync with no room for all of the shared set gives the room to the entries still in
// force: a record that has expired (Redis drops them only as writes come) takes none and is
// not counted or logged as dropped.
func TestASinkWithoutRoomGivesNoneToExpiredRecords(t *testing.T) {
	sink, set, dropped := fullSink(t, 2)
	var logs bytes.Buffer
	sink.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	var records []Record
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
		e := liveChange(t, live.Put, ip).Entry
		if i < 2 {
			e.Expires = set.Now().Add(-time.Minute)
		}
		records = append(records, RecordOf(&e))
	}
	if err := sink.Replace(records); err != nil {
		t.Fatal(err)
	}
	if !blocks(set, "198.51.100.3") || !blocks(set, "198.51.100.4") {
		t.Errorf("the records in force: 198.51.100.3 %v, .4 %v; want both, in the room the expired ones would take",
			blocks(set, "198.51.100.3"), blocks(set, "198.51.100.4"))
	}
	if dropped.Get() != 0 || strings.Contains(logs.String(), "left out") {
		t.Errorf("dropped = %d, logs %q; want nothing dropped and no warning", dropped.Get(), logs.String())
	}
}

// A follower whose set is full goes on through batch after batch of new entries: each is
// applied as far as it fits (nothing), counted, and never fails.
func TestASinkWithoutRoomNeverFailsTheNextBatch(t *testing.T) {
	sink, set, dropped := fullSink(t, 2, "192.0.2.1", "192.0.2.2")
	for i := range 5 {
		batch := []live.Change{liveChange(t, live.Put, fmt.Sprintf("203.0.113.%d", i)), liveChange(t, live.Delete, "192.0.2.200")}
		if err := sink.Apply(ChangesOf(batch)); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if n := set.Table().Len(); n != 2 || dropped.Get() != 5 {
		t.Errorf("%d entries, %d dropped; want 2 and 5", n, dropped.Get())
	}
	// A removal makes room for the next one.
	if err := sink.Apply(ChangesOf([]live.Change{liveChange(t, live.Delete, "192.0.2.1"), liveChange(t, live.Put, "203.0.113.9"), liveChange(t, live.Put, "203.0.113.10")})); err != nil {
		t.Fatal(err)
	}
	if !blocks(set, "203.0.113.9") || blocks(set, "203.0.113.10") || blocks(set, "192.0.2.1") {
		t.Errorf("after a removal and two new entries: .9 %v, .10 %v, 192.0.2.1 %v; want the first new one in its place",
			blocks(set, "203.0.113.9"), blocks(set, "203.0.113.10"), blocks(set, "192.0.2.1"))
	}
}

// An agent whose limit is lower than the shared set's size follows it all the same: it holds
// what fits of a full sync and of the log, applies the removals of entries it holds and of
// those it left out, brings back those left out that are still in the shared set once the
// removals make room, and its own writes, which wait for it to apply them, return.
func TestAnAgentWithALowerLimitStaysInStep(t *testing.T) {
	r := startRedis(t, false)
	ctx := context.Background()
	fb, b := liveAgent(t, r.URL())
	ips := func(first, n int) []live.Change {
		var out []live.Change
		for i := range n {
			out = append(out, liveChange(t, live.Put, fmt.Sprintf("203.0.113.%d", first+i)))
		}
		return out
	}
	if err := fb.Write(ctx, ChangesOf(ips(0, 5))); err != nil {
		t.Fatal(err)
	}
	dropped := metrics.NewSet().NewCounter("dropped")
	fa, a := limitedAgent(t, r.URL(), 3, dropped) // its full sync: 5 entries
	if n := a.Table().Len(); n != 3 || dropped.Get() != 2 {
		t.Fatalf("after the full sync: %d entries, %d dropped; want 3 and 2", n, dropped.Get())
	}
	if err := fb.Write(ctx, ChangesOf(ips(10, 2))); err != nil { // the log: nothing fits
		t.Fatal(err)
	}
	eventually(t, "A to leave out the 2 new entries", func() bool { return dropped.Get() == 4 })
	var removals []live.Change
	for _, c := range ips(0, 5) {
		removals = append(removals, live.Change{Op: live.Delete, Entry: live.Entry{Addr: c.Entry.Addr}})
	}
	if err := fa.Write(ctx, ChangesOf(removals)); err != nil {
		t.Fatalf("A's own write of removals: %v", err)
	}
	eventually(t, "A to bring back the 2 entries it left out of the log, once the removals made room", func() bool {
		return a.Table().Len() == 2 && blocks(a, "203.0.113.10") && blocks(a, "203.0.113.11")
	})
	if err := fa.Write(ctx, ChangesOf(ips(20, 1))); err != nil {
		t.Fatalf("A's own write of 1 entry into the room it has: %v", err)
	}
	if n := a.Table().Len(); n != 3 || !blocks(a, "203.0.113.20") {
		t.Errorf("A holds %d entries after its write of 1, want 3 with it", n)
	}
	eventually(t, "B to hold the 2 from the log and A's 1", func() bool { return b.Table().Len() == 3 })
}
