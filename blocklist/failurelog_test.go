package blocklist

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/feed"
	"github.com/spoaguard/spoaguard/internal/feedtest"
)

const (
	keptLog   = "load failed; keeping the previous contents"
	noPrevLog = "load failed; the list has no previous contents to keep, and the lists do not start without it"
)

// A failed load's log says what the list serves: its previous contents on a reload, nothing at
// start, where the failure stops the start.
func TestFailedLoadLogSaysWhatIsKept(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	dir := t.TempDir()
	good, missing := filepath.Join(dir, "good.txt"), filepath.Join(dir, "missing.txt")
	writeFile(t, good, addrs(10))

	_, err := NewManager([]Source{{Name: "good", Path: good}, {Name: "gone", Path: missing}}, Options{Logger: log})
	if err == nil {
		t.Fatal("a start with a missing file succeeded")
	}
	if out := logs.String(); strings.Contains(out, keptLog) || !strings.Contains(out, noPrevLog) || !strings.Contains(out, "list=gone") {
		t.Errorf("start-up log:\n%s\nwant %q for list gone, not %q", out, noPrevLog, keptLog)
	}

	logs.Reset()
	m, err := NewManager([]Source{{Name: "good", Path: good}}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
	if m.Reload() == nil {
		t.Fatal("a reload of a removed file succeeded")
	}
	if out := logs.String(); !strings.Contains(out, keptLog) || strings.Contains(out, noPrevLog) {
		t.Errorf("reload log:\n%s\nwant %q", out, keptLog)
	}
	if !blocked(m, "198.18.0.1") {
		t.Error("the previous contents are not served")
	}
}

// At start, a URL list whose cached copy cannot be used is downloaded: the unusable copy is
// logged as such, not as a failure that keeps contents, and a download that fails too stops
// the start with nothing kept.
func TestStartWithUnusableCacheAndFailedDownloadKeepsNothing(t *testing.T) {
	fs := feedtest.New(t, netset(seq("192.0.2", 200)...))
	state := t.TempDir()
	url := fs.URL + "/list.netset"
	var logs bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), StateDir: state,
		Feed: feed.Config{Attempts: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: 10 * time.Second}}
	src := []Source{{Name: "firehol", Path: url}}
	m, err := NewManager(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	writeFile(t, filepath.Join(state, "feeds", "firehol.feed"), "# Entries : 12\n192.0.2.1\n") // marker wrong
	fs.Fail(http.StatusServiceUnavailable)

	logs.Reset()
	if _, err := NewManager(src, opts); err == nil {
		t.Fatal("a start with an unusable cache and a failing feed succeeded")
	}
	out := logs.String()
	if !strings.Contains(out, "the cached copy cannot be used; downloading") {
		t.Errorf("log:\n%s\nwant the unusable cached copy named", out)
	}
	if strings.Contains(out, keptLog) || strings.Count(out, noPrevLog) != 1 {
		t.Errorf("log:\n%s\nwant one %q and no %q", out, noPrevLog, keptLog)
	}
}
