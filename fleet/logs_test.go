package fleet

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// The library's own messages (its connection pool's failed dials, several a second while
// Redis is away) go to the agent's log at debug level, not to stderr past -log-format and
// -log-level.
func TestRedisClientMessagesGoToTheLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: every dial is refused
	var logs testutil.Buffer
	logs.Limit = 1 << 20
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startAgent(t, "redis://"+addr+"/0", Options{Logger: log})
	_ = a.f.Write(context.Background(), []Change{put("203.0.113.7", 0)})
	eventually(t, "the client's failed dials in the agent's log", func() bool {
		return strings.Contains(logs.String(), `"msg":"redis client: connection pool: failed to dial`)
	})
	for line := range strings.Lines(logs.String()) {
		if !strings.HasPrefix(line, "{") {
			t.Fatalf("a log line that is not the agent's JSON: %q", line)
		}
	}
}

// The warning that Redis is away has its counterpart when it answers again, so that the log
// says the outage ended: with its data (the follower resumes from its position) or empty (a
// full sync), and at start.
func TestRedisBackIsLogged(t *testing.T) {
	for _, tc := range []struct {
		name             string
		persist, atStart bool
	}{{"same data", true, false}, {"empty", false, false}, {"at start", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRedis(t, tc.persist)
			var logs testutil.Buffer
			logs.Limit = 1 << 20
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if tc.atStart {
				r.stop()
			}
			a := startAgent(t, r.URL(), Options{Logger: log})
			if !tc.atStart {
				waitSynced(t, a)
				r.stop()
			}
			eventually(t, "the warning that Redis is away", func() bool {
				return strings.Contains(logs.String(), "redis unavailable")
			})
			if strings.Contains(logs.String(), "available again") {
				t.Fatalf("Redis back logged while it is away:\n%s", logs.String())
			}
			r.start()
			eventually(t, "the log that Redis is back", func() bool {
				return strings.Contains(logs.String(), `msg="redis available again: following the shared live set" component=redis away=`)
			})
		})
	}
}
