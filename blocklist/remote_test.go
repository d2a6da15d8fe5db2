package blocklist

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/feed"
	"github.com/spoaguard/spoaguard/internal/feedtest"
)

// netset is a FireHOL netset of the given addresses, with its entry count.
func netset(addrs ...string) string {
	return fmt.Sprintf("# Entries : %d\n%s\n", len(addrs), strings.Join(addrs, "\n"))
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d", prefix, i+1)
	}
	return out
}

func newURLManager(t *testing.T, url, stateDir string) (*Manager, error) {
	t.Helper()
	return NewManager([]Source{{Name: "firehol", Path: url, StaleAfter: time.Nanosecond}}, Options{
		Logger: quiet, StateDir: stateDir,
		Feed: feed.Config{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: 10 * time.Second},
	})
}

func TestURLSourceAppliesOnlyCompleteChecked(t *testing.T) {
	v1 := seq("192.0.2", 200)
	fs := feedtest.New(t, netset(v1...))
	state := t.TempDir()
	m, err := newURLManager(t, fs.URL+"/list.netset", state)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st := m.srcs[0]
	if !blocked(m, "192.0.2.1") {
		t.Fatal("the downloaded list is not served")
	}
	if b, _ := os.ReadFile(filepath.Join(state, "feeds", "firehol.feed")); string(b) != netset(v1...) {
		t.Errorf("cached copy %q", b)
	}

	v2 := seq("198.51.100", 200)
	steps := []struct {
		name    string
		change  func(fs *feedtest.Server)
		want    string // an address that must be blocked after the step
		wantNot string
		result  string // which feed counter moves: updated, not_modified or failed
		stale   bool
	}{
		{"unchanged: 304", func(fs *feedtest.Server) {}, "192.0.2.1", "", "not_modified", false},
		{"changed feed", func(fs *feedtest.Server) { fs.Set(netset(v2...)) }, "198.51.100.1", "192.0.2.1", "updated", false},
		{"completeness marker wrong", func(fs *feedtest.Server) {
			fs.Set("# Entries : 12\n" + strings.Join(v1, "\n") + "\n")
		}, "198.51.100.1", "192.0.2.1", "failed", true},
		{"body short of its Content-Length", func(fs *feedtest.Server) { fs.Cut(netset(v1...)) },
			"198.51.100.1", "192.0.2.1", "failed", true},
		{"shrunk past the guard", func(fs *feedtest.Server) { fs.Set(netset("192.0.2.1")) },
			"198.51.100.1", "192.0.2.1", "failed", true},
		{"not a list", func(fs *feedtest.Server) {
			fs.Set("<html>" + strings.Repeat("<p>maintenance</p>\n", 20) + "</html>\n")
		}, "198.51.100.1", "192.0.2.1", "failed", true},
		{"server errors", func(fs *feedtest.Server) { fs.Fail(http.StatusServiceUnavailable) }, "198.51.100.1", "192.0.2.1", "failed", true},
		{"recovery", func(fs *feedtest.Server) { fs.Set(netset(v1...)) }, "192.0.2.1", "198.51.100.1", "updated", false},
	}
	for _, step := range steps {
		before := *m.Status()[0].Feed
		step.change(fs)
		m.refresh(context.Background(), st)
		s := m.Status()[0]
		after := *s.Feed
		moved := map[string]bool{
			"updated":      after.Updated == before.Updated+1,
			"not_modified": after.NotModified == before.NotModified+1,
			"failed":       after.Failed == before.Failed+1,
		}
		for k, v := range moved {
			if v != (k == step.result) {
				t.Errorf("%s: counters %+v -> %+v, want only %s to move", step.name, before, after, step.result)
				break
			}
		}
		if !blocked(m, step.want) || (step.wantNot != "" && blocked(m, step.wantNot)) {
			t.Errorf("%s: want %s blocked and %s not", step.name, step.want, step.wantNot)
		}
		if s.Stale != step.stale || (s.Stale != (len(m.Stale()) == 1)) {
			t.Errorf("%s: stale %v, want %v", step.name, s.Stale, step.stale)
		}
		if step.result == "failed" && (s.LastError == "" || !strings.Contains(s.LastError, fs.URL)) {
			t.Errorf("%s: last error %q does not name the URL", step.name, s.LastError)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(state, "feeds", "*.tmp")); len(m) > 0 {
		t.Errorf("temporary downloads left: %v", m)
	}
}

func TestURLSourceRestartWithoutNetworkServesTheCachedCopy(t *testing.T) {
	fs := feedtest.New(t, netset(seq("192.0.2", 200)...))
	state := t.TempDir()
	url := fs.URL + "/list.netset"
	m, err := newURLManager(t, url, state)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	fs.Close()

	m, err = newURLManager(t, url, state)
	if err != nil {
		t.Fatalf("restart with the server down: %v", err)
	}
	defer m.Close()
	if !blocked(m, "192.0.2.1") {
		t.Error("the cached copy is not served")
	}
	st := m.Status()[0]
	if st.Feed.LastSuccess.IsZero() || st.Feed.Updated != 0 {
		t.Errorf("feed stats %+v: want the cached copy's time as the last success", st.Feed)
	}

	// Without a cached copy, an unreachable feed stops the start and says which.
	_, err = newURLManager(t, url, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("start without network or cache: err %v, want it to name %s", err, url)
	}
}

func TestURLSourceRefreshLoopAppliesAChangeAtTheNextInterval(t *testing.T) {
	fs := feedtest.New(t, netset(seq("192.0.2", 200)...))
	m, err := NewManager([]Source{{Name: "firehol", Path: fs.URL + "/list.netset", Refresh: 20 * time.Millisecond}},
		Options{Logger: quiet, Feed: feed.Config{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		// Run does not wait for a load in progress; this waits for it, and the tests after
		// this one find GOGC as it was.
		m.loadMu.Lock()
		held := m.gc.held
		m.loadMu.Unlock()
		if held {
			t.Error("a load that ended holds the tighter GOGC")
		}
	}()

	changedAt := fs.Requests()
	fs.Set(netset(seq("198.51.100", 200)...))
	for deadline := time.Now().Add(30 * time.Second); !blocked(m, "198.51.100.1"); {
		if time.Now().After(deadline) {
			t.Fatal("the changed feed was not applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := fs.Requests() - changedAt; n != 1 {
		t.Errorf("applied after %d requests, want the first one after the change", n)
	}
	if blocked(m, "192.0.2.1") {
		t.Error("the old contents are still served")
	}
}

func TestURLSourceOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		src  Source
		want string
	}{
		{Source{Path: "/var/lib/x.netset", Refresh: time.Hour}, "http:// and https:// sources only"},
		{Source{Path: "https://example.com/x", Refresh: -time.Hour}, "positive"},
		{Source{Path: "ftp://example.com/x"}, "only http:// and https://"},
	} {
		tc.src.Name = "x"
		_, err := NewManager([]Source{tc.src}, Options{Logger: quiet, StateDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestURLSourceRefreshRestoresGOGC: a download's load runs at loadGCPercent like a file's, and
// the GOGC in force before it is back once it ends.
func TestURLSourceRefreshRestoresGOGC(t *testing.T) {
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)
	fs := feedtest.New(t, netset(seq("192.0.2", 200)...))
	m, err := newURLManager(t, fs.URL+"/list.netset", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, body := range []string{netset(seq("198.51.100", 200)...), "<html>\n"} { // loaded, refused
		fs.Set(body)
		m.refresh(context.Background(), m.srcs[0])
		if got := debug.SetGCPercent(77); got != 77 {
			t.Errorf("GOGC after a download's load = %d, want 77", got)
		}
	}
	if !blocked(m, "198.51.100.1") {
		t.Error("the changed feed was not applied")
	}
}
