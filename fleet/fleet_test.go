package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestWriteIsReadByTheWriterAndFollowedByTheFleet(t *testing.T) {
	r, a, b := startPair(t, false, Options{})

	ctx := context.Background()
	if err := a.f.Write(ctx, []Change{put("203.0.113.7", 0), put("198.51.100.0/24", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Read-your-writes: Write returns only once the writer has applied the batch.
	if !a.sink.has("203.0.113.7") || !a.sink.has("198.51.100.0/24") {
		t.Fatal("Write returned before the writing agent applied its own batch")
	}
	eventually(t, "agent B to apply A's batch", func() bool { return b.sink.has("203.0.113.7") && b.sink.has("198.51.100.0/24") })

	if err := a.f.Write(ctx, []Change{del("203.0.113.7")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "agent B to apply A's delete", func() bool { return !b.sink.has("203.0.113.7") })

	// A third agent starting now gets the current set from the full sync.
	c := startAgent(t, r.URL(), Options{})
	waitSynced(t, c)
	if c.sink.has("203.0.113.7") || !c.sink.has("198.51.100.0/24") || c.sink.len() != 1 {
		t.Fatalf("a new agent's full sync holds %v, want only 198.51.100.0/24", c.sink.m)
	}
	if got := b.sink.replaces; got != 1 {
		t.Errorf("agent B resynced %d times following a quiet log, want 1 (the start)", got)
	}
}

func TestFlushAllConvergesEveryAgentToWhatRedisHolds(t *testing.T) {
	r, a, b := startPair(t, false, Options{})
	ctx := context.Background()
	writeAndFollow(t, a, b, "203.0.113.7")

	if err := r.client(t).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// No write follows the flush: the epoch check alone must notice it.
	eventually(t, "B to converge to the flushed, empty set", func() bool { return b.sink.len() == 0 })
	eventually(t, "A to converge to the flushed, empty set", func() bool { return a.sink.len() == 0 })

	if err := b.f.Write(ctx, []Change{put("192.0.2.1", 0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A to follow B's write on the new epoch", func() bool { return a.sink.has("192.0.2.1") })
}

func TestLogTrimmedPastAnAgentsPositionResyncsIt(t *testing.T) {
	r, a, b := startPair(t, false, Options{})
	ctx := context.Background()
	writeAndFollow(t, a, b, "203.0.113.1")

	b.stop() // away, keeping its position
	for i := 2; i <= 4; i++ {
		if err := a.f.Write(ctx, []Change{put(fmt.Sprintf("203.0.113.%d", i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.f.Write(ctx, []Change{del("203.0.113.1")}); err != nil {
		t.Fatal(err)
	}
	// Keep only the last batch: B's position and the three puts are gone from the log.
	if err := r.client(t).XTrimMaxLen(ctx, "spoaguard:log", 1).Err(); err != nil {
		t.Fatal(err)
	}
	before := b.sink.replaces
	b.run()
	eventually(t, "B to resync after the gap", func() bool {
		return b.sink.has("203.0.113.2") && b.sink.has("203.0.113.4") && !b.sink.has("203.0.113.1")
	})
	if b.sink.replaces != before+1 {
		t.Errorf("B replaced its set %d times, want one resync", b.sink.replaces-before)
	}
}

func TestRedisDownKeepsTheSetAndRefusesWrites(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%v", persist), func(t *testing.T) {
			r, a, b := startPair(t, persist, Options{WriteTimeout: 500 * time.Millisecond})
			ctx := context.Background()
			writeAndFollow(t, a, b, "203.0.113.7")
			resyncs := b.sink.replaces

			r.stop()
			err := a.f.Write(ctx, []Change{put("203.0.113.8", 0)})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Write with Redis down: %v, want ErrUnavailable", err)
			}
			time.Sleep(300 * time.Millisecond) // a few failed reconnects
			if !b.sink.has("203.0.113.7") || a.sink.has("203.0.113.8") {
				t.Fatal("with Redis down an agent must keep enforcing its last known set, and nothing refused may appear")
			}

			r.start()
			if persist {
				// The same set comes back: the agents resume from their position.
				eventually(t, "A to write again", func() bool { return a.f.Write(ctx, []Change{put("203.0.113.9", 0)}) == nil })
				eventually(t, "B to follow after the restart", func() bool { return b.sink.has("203.0.113.9") })
				if !b.sink.has("203.0.113.7") || b.sink.replaces != resyncs {
					t.Errorf("after a restart with persistence B resynced (%d → %d) or lost an entry", resyncs, b.sink.replaces)
				}
				return
			}
			// An empty Redis: the agents converge to it.
			eventually(t, "B to converge to the restarted, empty Redis", func() bool { return b.sink.len() == 0 })
			eventually(t, "A to write again", func() bool { return a.f.Write(ctx, []Change{put("203.0.113.9", 0)}) == nil })
			eventually(t, "B to follow after the restart", func() bool { return b.sink.has("203.0.113.9") })
		})
	}
}

func TestBlockedRedisTimesWritesOutAndRecovers(t *testing.T) {
	r := startRedis(t, false)
	a := startAgent(t, r.URL(), Options{WriteTimeout: 300 * time.Millisecond})
	waitSynced(t, a)
	ctx := context.Background()
	c := r.client(t)
	if err := c.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	err := a.f.Write(ctx, []Change{put("203.0.113.7", 0)})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Write to a paused Redis: %v, want ErrUnavailable", err)
	}
	eventually(t, "writes to work once Redis resumes", func() bool {
		return a.f.Write(ctx, []Change{put("203.0.113.8", 0)}) == nil
	})
	if !a.sink.has("203.0.113.8") {
		t.Fatal("the write after the pause is not applied")
	}
}

func TestFullSyncOfALargeSet(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 100_000
	}
	r := startRedis(t, false)
	a := startAgent(t, r.URL(), Options{WriteTimeout: time.Minute})
	waitSynced(t, a)
	ctx := context.Background()
	batch := make([]Change, 0, 10_000)
	for i := 0; i < n; i++ {
		batch = append(batch, put(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), 0))
		if len(batch) == cap(batch) {
			if err := a.f.Write(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if info, err := r.client(t).Info(ctx, "memory").Result(); err == nil {
		for _, line := range strings.Split(info, "\r\n") {
			if strings.HasPrefix(line, "used_memory:") {
				t.Logf("Redis holding %d entries: %s", n, line)
			}
		}
	}
	start := time.Now()
	b := startAgent(t, r.URL(), Options{})
	waitSyncedWithin(t, b, 5*time.Minute)
	t.Logf("full sync of %d entries: %v", n, time.Since(start))
	if b.sink.len() != n {
		t.Fatalf("full sync holds %d entries, want %d", b.sink.len(), n)
	}
}

func waitSyncedWithin(t *testing.T, a *agent, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !a.f.Synced() {
		if time.Now().After(deadline) {
			t.Fatalf("no full sync within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "http://127.0.0.1:6379", "redis://user:secret@[::1", "127.0.0.1:6379"} {
		if _, err := New(Options{URL: u}, newMemSink()); err == nil {
			t.Errorf("New(%q) accepted it", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error for %q shows the password: %v", u, err)
		}
	}
	if _, err := New(Options{URL: "redis://127.0.0.1:1/0?master_name=mymaster"}, newMemSink()); err != nil {
		t.Errorf("a Sentinel URL: %v", err)
	}
}

// startPair starts a Redis and two agents on it, A (with opt) and B, both synced.
func startPair(t *testing.T, persist bool, opt Options) (*redisServer, *agent, *agent) {
	t.Helper()
	r := startRedis(t, persist)
	a := startAgent(t, r.URL(), opt)
	b := startAgent(t, r.URL(), Options{})
	waitSynced(t, a)
	waitSynced(t, b)
	return r, a, b
}

// writeAndFollow bans addr through A and waits for B to enforce it.
func writeAndFollow(t *testing.T, a, b *agent, addr string) {
	t.Helper()
	if err := a.f.Write(context.Background(), []Change{put(addr, 0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to follow A's write", func() bool { return b.sink.has(addr) })
}

func TestLogEntriesNoWriteMadeResyncOnceEach(t *testing.T) {
	r, a, b := startPair(t, false, Options{})
	ctx := context.Background()
	writeAndFollow(t, a, b, "203.0.113.1")
	before := b.sink.replaces
	// Entries added by hand past the head: no epoch or prev, another epoch, unreadable changes.
	c := r.client(t)
	var last string
	for _, values := range [][]any{{"foo", "bar"}, {"epoch", "other", "prev", "0-0", "changes", "[]"}, {"epoch", "x", "changes", "not json"}} {
		id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: "spoaguard:log", Values: values}).Result()
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	eventually(t, "B to read past the entries no write made", func() bool {
		b.f.mu.Lock()
		defer b.f.mu.Unlock()
		return compareID(b.f.skip, last) >= 0
	})
	if err := a.f.Write(ctx, []Change{put("203.0.113.2", 0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to follow the next write", func() bool { return b.sink.has("203.0.113.2") && b.sink.has("203.0.113.1") })
	if n := b.sink.replaces - before; n > 3 {
		t.Errorf("B resynced %d times for 3 entries no write made, want at most 3", n)
	}
}

// A write that timed out against a blocked Redis may still be applied once Redis reads it:
// its error says so, while one that could not reach Redis at all says only that it failed.
func TestAWriteThatMayStillApplySaysSo(t *testing.T) {
	r := startRedis(t, false)
	a := startAgent(t, r.URL(), Options{WriteTimeout: 300 * time.Millisecond})
	waitSynced(t, a)
	ctx := context.Background()
	// A write first, so that the next one goes out on a connection already open: a new one
	// would wait for its handshake's answer before sending anything.
	if err := a.f.Write(ctx, []Change{put("203.0.113.6", 0)}); err != nil {
		t.Fatal(err)
	}
	// A script that keeps the server busy for 1.5 s, as a long command or a stopped process
	// does: the request waits, unread, in the socket until it ends.
	busy := make(chan error, 1)
	go func() {
		busy <- r.client(t).Eval(ctx, `local s = redis.call('TIME')
			while true do
				local n = redis.call('TIME')
				if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 1500000 then return 1 end
			end`, nil).Err()
	}()
	eventually(t, "Redis to be busy", func() bool { return !ping(r.Addr(), 100*time.Millisecond) })
	err := a.f.Write(ctx, []Change{put("203.0.113.7", 0)})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "may still apply it") {
		t.Fatalf("Write to a busy Redis: %v, want ErrUnavailable saying that Redis may still apply it", err)
	}
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the timed-out write to be applied once Redis is free", func() bool { return a.sink.has("203.0.113.7") })

	r.stop()
	b := startAgent(t, r.URL(), Options{}) // its dials are refused within its WriteTimeout
	err = b.f.Write(ctx, []Change{put("203.0.113.8", 0)})
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "may still") {
		t.Fatalf("Write to a stopped Redis: %v, want ErrUnavailable without a doubt about the outcome", err)
	}
}

// ping says whether Redis at addr answers a PING within d.
func ping(addr string, d time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}
