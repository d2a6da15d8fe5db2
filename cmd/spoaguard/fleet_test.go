package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/fleet"
	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
)

// gatedStore is a live.Store in memory whose Apply, once held, waits for release: a round
// of the set that is still being stored.
type gatedStore struct {
	mu      sync.Mutex
	held    chan struct{} // closed by the Apply that waits
	release chan struct{}
}

// hold makes the next Apply wait until the returned release is closed; held is closed when
// it does.
func (g *gatedStore) hold() (held, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held, g.release = make(chan struct{}), make(chan struct{})
	return g.held, g.release
}

func (*gatedStore) Load() ([]live.Entry, error) { return nil, nil }

func (g *gatedStore) Apply([]*live.Entry, []blocklist.Entry) error {
	g.mu.Lock()
	held, release := g.held, g.release
	g.held = nil
	g.mu.Unlock()
	if held != nil {
		close(held)
		<-release
	}
	return nil
}

// followingAgent is a live set of max entries following the shared set at url.
func followingAgent(t *testing.T, url string, max int, st live.Store) (*fleet.Fleet, *live.Set) {
	return pollingAgent(t, url, max, st, 0)
}

// pollingAgent is followingAgent with the follower's fleet.Options.Poll (0: its default).
func pollingAgent(t *testing.T, url string, max int, st live.Store, poll time.Duration) (*fleet.Fleet, *live.Set) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ls, err := live.Open(live.Options{Store: st, MaxEntries: max, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fl, err := fleet.New(fleet.Options{URL: url, Logger: quiet, Poll: poll}, fleet.LiveSink{Set: ls, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; fl.Close(); ls.Close() })
	testutil.Eventually(t, 10*time.Second, "the first full sync", fl.Synced)
	return fl, ls
}

// A ban this agent has room for when it asks, but not once it has applied another agent's
// write that reached Redis first: the answer is not a success, since this agent does not
// enforce the ban, and says that the change is in the shared set.
func TestAFleetWriteLeftOutOfTheAgentsOwnSetIsNotASuccess(t *testing.T) {
	r := testutil.StartRedis(t, false)
	other, _ := followingAgent(t, r.URL(), 0, nil)
	st := &gatedStore{}
	fl, ls := followingAgent(t, r.URL(), 1, st)
	ban := func(ip string) []live.Change {
		e, err := blocklist.ParseEntry(ip)
		if err != nil {
			t.Fatal(err)
		}
		return []live.Change{{Op: live.Put, Entry: live.Entry{Addr: e, List: "api"}}}
	}
	ctx := context.Background()

	// The other agent's ban reaches Redis; this agent is storing it, not yet enforcing it.
	held, release := st.hold()
	if err := other.Write(ctx, fleet.ChangesOf(ban("203.0.113.1"))); err != nil {
		t.Fatal(err)
	}
	<-held
	type result struct {
		counts live.Counts
		err    error
	}
	res := make(chan result, 1)
	go func() {
		counts, err := fleetApply(fl, ls)(ctx, ban("203.0.113.2"))
		res <- result{counts, err}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	testutil.Eventually(t, 10*time.Second, "this agent's ban to reach Redis", func() bool {
		n, _ := rdb.HLen(ctx, fleet.DefaultNamespace+":entries").Result()
		return n == 2
	})
	close(release)
	got := <-res
	enforced := ls.Table().Lookup([]byte{203, 0, 113, 2}) != 0
	if got.err == nil && !enforced {
		t.Fatalf("the write answers %+v and no error, and this agent does not enforce the ban", got.counts)
	}
	if got.err != nil && (!errors.Is(got.err, admin.ErrLeftOut) || enforced) {
		t.Fatalf("the write answers %v, the ban in force %v; want admin.ErrLeftOut and not in force", got.err, enforced)
	}
}

// A ban this agent has room for when it asks, but with entries left out earlier waiting
// ahead of it for that room (an expiry freed it since the follower last looked): the sink
// leaves the ban out, and the answer is not a success, though the set is not full when the
// answer is given.
func TestAFleetWriteBehindEntriesLeftOutIsNotASuccess(t *testing.T) {
	r := testutil.StartRedis(t, false)
	other, _ := followingAgent(t, r.URL(), 0, nil)
	st := &gatedStore{}
	// A poll longer than the test: the follower looks for room only after a read of the log.
	fl, ls := pollingAgent(t, r.URL(), 2, st, time.Minute)
	ctx := context.Background()
	ban := func(ip string, ttl time.Duration) []live.Change {
		e, err := blocklist.ParseEntry(ip)
		if err != nil {
			t.Fatal(err)
		}
		c := live.Change{Op: live.Put, Entry: live.Entry{Addr: e, List: "api"}}
		if ttl > 0 {
			c.Entry.Expires = time.Now().Add(ttl)
		}
		return []live.Change{c}
	}
	in := func(ip string) bool { return ls.Table().Lookup(netip.MustParseAddr(ip).AsSlice()) != 0 }
	for _, b := range [][]live.Change{ban("192.0.2.1", 0), ban("192.0.2.2", time.Second), ban("198.51.100.1", 0)} {
		if err := other.Write(ctx, fleet.ChangesOf(b)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "this agent to hold 2 and leave one out", func() bool {
		return in("192.0.2.1") && in("192.0.2.2") && !in("198.51.100.1")
	})
	testutil.Eventually(t, 10*time.Second, "its ban with a ttl to expire", func() bool { return !in("192.0.2.2") })

	// The entry that waits comes into force after the write's batch, and is held there.
	_, release := st.hold()
	defer close(release)
	counts, err := fleetApply(fl, ls)(ctx, ban("203.0.113.1", 0))
	if enforced := in("203.0.113.1"); err == nil && !enforced {
		t.Fatalf("the write answers %+v and no error, and this agent does not enforce the ban", counts)
	}
	if err != nil && !errors.Is(err, admin.ErrLeftOut) {
		t.Fatalf("the write answers %v; want admin.ErrLeftOut", err)
	}
}

// The start-up log names the Redis the agent follows, without its password.
func TestStartupLogNamesTheRedis(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "deny.txt")
	testutil.WriteFile(t, list, "192.0.2.1\n")
	addr := freeAddr(t) // nothing listens there: the agent serves without Redis
	agent := startAgent(t, "-deny", "l="+list, "-redis", "redis://agent:s3cret@"+addr+"/0")
	agent.waitFor(t, "the start-up log naming the Redis", func() bool {
		return strings.Contains(agent.logs.String(), `msg="following the shared live set" redis=redis://agent:xxxxx@`+addr+"/0 ")
	})
	if strings.Contains(agent.logs.String(), "s3cret") {
		t.Errorf("the password is in the log:\n%s", agent.logs)
	}
	// Without -state-dir, one warning says what that means for the live bans.
	if n := strings.Count(agent.logs.String(), "-state-dir"); n != 1 {
		t.Errorf("%d warnings about -state-dir, want one:\n%s", n, agent.logs)
	}
}
