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
