package main

import (
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/health"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

func TestListCondition(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		st     blocklist.SourceStatus
		want   health.Level
		detail string
	}{
		{"loaded", blocklist.SourceStatus{Name: "drop", Entries: 3, LastGood: at}, health.Ready, "loaded: 3 entries at 2026-12-01T08:00:00Z"},
		{"stale with error", blocklist.SourceStatus{Name: "drop", Entries: 3, LastGood: at, LastError: "drop.txt line 2: bad address", LastErrorTime: at.Add(time.Minute)},
			health.Degraded, "stale: serving 3 entries loaded at 2026-12-01T08:00:00Z; the load at 2026-12-01T08:01:00Z failed: drop.txt line 2: bad address"},
		{"never loaded", blocklist.SourceStatus{Name: "drop", LastError: "open drop.txt: no such file"}, health.NotReady, "never loaded: open drop.txt: no such file"},
	} {
		c := listCondition(tc.st)
		if c.Name != "list drop" || c.Level != tc.want || c.Detail != tc.detail {
			t.Errorf("%s: %+v, want %s %q", tc.name, c, tc.want, tc.detail)
		}
	}
}

// /healthz is liveness: 200 whatever the lists say. /readyz reports each list and the
// NOTIFYs: a list whose reload failed is stale (degraded, still 200).
func TestReadinessReportsAStaleList(t *testing.T) {
	list := filepath.Join(t.TempDir(), "local.txt")
	testutil.WriteFile(t, list, "127.0.0.2\n")
	a := startAgent(t, "-loops", "1", "-reload-interval", "1h", "-deny", "local="+list)
	if code, body := a.get(t, "/readyz"); code != 200 || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "list local: ready: loaded: 1 entries") {
		t.Fatalf("/readyz %d:\n%s", code, body)
	}
	testutil.WriteFile(t, list, "127.0.0.2\nnot an address\n")
	var code int
	var body string
	a.reload(t, "no stale list in /readyz after a failed reload", func() bool {
		code, body = a.get(t, "/readyz")
		return strings.Contains(body, "stale")
	})
	if code != 200 || !strings.HasPrefix(body, "degraded\n") || !strings.Contains(body, "list local: degraded: stale: serving 1 entries") {
		t.Fatalf("/readyz after a failed reload %d:\n%s", code, body)
	}
	if code, body := a.get(t, "/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("/healthz %d %q, want 200 ok", code, body)
	}
	if _, body := a.get(t, "/metrics"); !strings.Contains(body, "\nspoaguard_readiness 1\n") {
		t.Errorf("metrics lack spoaguard_readiness 1")
	}
}

// With a misnamed -message no NOTIFY is decided: readiness says so (503), naming what the
// NOTIFYs held, and the NOTIFYs are not counted as allowed decisions.
func TestReadinessReportsUndecidedNotifies(t *testing.T) {
	list := filepath.Join(t.TempDir(), "local.txt")
	testutil.WriteFile(t, list, "127.0.0.2\n")
	a := startAgent(t, "-loops", "1", "-deny", "local="+list, "-message", "check-clientip")
	c := a.dial(t)
	if bl, _ := c.decide(netip.MustParseAddr("127.0.0.2")); bl {
		t.Error("blocked by a NOTIFY whose message is not configured")
	}
	code, body := a.get(t, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready\n") ||
		!strings.Contains(body, "notifies: not ready: 1 of 1 NOTIFYs") || !strings.Contains(body, "check-client-ip(ip IPV4)") {
		t.Errorf("/readyz %d:\n%s", code, body)
	}
	_, m := a.get(t, "/metrics")
	for _, want := range []string{`spoaguard_undecided_total{reason="no_message"} 1`, `spoaguard_decisions_total{decision="allowed"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(a.logs.String(), "level=WARN") || !strings.Contains(a.logs.String(), "reason=no_message") {
		t.Errorf("no warning logged:\n%s", a.logs)
	}
	if code, _ := a.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz %d, want 200", code)
	}
}
