package fleet

import (
	"io"
	"log/slog"
	"testing"

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
