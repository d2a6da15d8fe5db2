package fleet

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/spoaguard/spoaguard/live"
)

// liveAgent is an agent whose sink is a real live.Set, as in the agent.
func liveAgent(t testing.TB, url string) (*Fleet, *live.Set) { return limitedAgent(t, url, 0, nil) }

// limitedAgent is liveAgent with a limit, counting the entries its sink leaves out in dropped
// (nil: not counted).
func limitedAgent(t testing.TB, url string, max int, dropped *metrics.Counter) (*Fleet, *live.Set) {
	return followingAgent(t, url, max, dropped, nil, nil)
}

// followingAgent is limitedAgent with its Fleet's metrics in ms (nil: a private set), and
// tune, when not nil, called before the Fleet runs.
func followingAgent(t testing.TB, url string, max int, dropped *metrics.Counter, ms *metrics.Set, tune func(*Fleet)) (*Fleet, *live.Set) {
	t.Helper()
	set, err := live.Open(live.Options{MaxEntries: max, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sink := LiveSink{Set: set, Dropped: dropped, Logger: slog.New(slog.DiscardHandler)}
	f, err := New(Options{URL: url, Poll: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Metrics: ms, Logger: slog.New(slog.DiscardHandler)}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(f)
	}
	runFleet(t, f, set)
	return f, set
}

// runFleet runs f, following into set, until the test ends, and waits for its first sync.
func runFleet(t testing.TB, f *Fleet, set *live.Set) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; f.Close(); set.Close() })
	eventually(t, "the first full sync", f.Synced)
}

func blocks(set *live.Set, ip string) bool {
	b := netip.MustParseAddr(ip).AsSlice()
	return set.Table().Lookup(b) != 0
}

func TestLiveSetsFollowEachOther(t *testing.T) {
	r := startRedis(t, false)
	fa, a := liveAgent(t, r.URL())
	_, b := liveAgent(t, r.URL())

	entry := func(addr string, ttl time.Duration) live.Change {
		c := live.Change{Op: live.Put}
		var err error
		if c.Entry, err = EntryOf(&Record{Addr: addr, Action: "deny", List: "api"}); err != nil {
			t.Fatal(err)
		}
		if ttl > 0 {
			c.Entry.Expires = time.Now().Add(ttl)
		}
		return c
	}
	ctx := context.Background()
	if err := fa.Write(ctx, ChangesOf([]live.Change{entry("203.0.113.7", 0), entry("2001:db8::/64", 0), entry("::ffff:198.51.100.9", 0)})); err != nil {
		t.Fatal(err)
	}
	if !blocks(a, "203.0.113.7") || !blocks(a, "2001:db8::1") || !blocks(a, "198.51.100.9") {
		t.Fatal("the writer does not enforce its own write when Write returns")
	}
	eventually(t, "B's live set to enforce A's bans", func() bool {
		return blocks(b, "203.0.113.7") && blocks(b, "2001:db8::ffff") && blocks(b, "198.51.100.9")
	})

	del := entry("203.0.113.7", 0)
	del.Op = live.Delete
	if err := fa.Write(ctx, ChangesOf([]live.Change{del})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's live set to drop the unban", func() bool { return !blocks(b, "203.0.113.7") })

	// A resync replaces the whole set: after a FLUSHALL both converge to empty.
	if err := r.client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to converge to the flushed set", func() bool { return b.Table().Len() == 0 })
}
