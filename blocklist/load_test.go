package blocklist

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hangGuard is how long a test waits for a call that must not block before it reports that
// the call blocked. It bounds a hang; it measures nothing.
const hangGuard = 30 * time.Second

// within runs f and fails the test if f has not returned within hangGuard.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("%s blocked", what)
	}
}

// mkfifo makes a FIFO at path and, at cleanup, opens its write side so that a reader stuck
// in open() (the failure under test) is released.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// TestListThatBecomesAFIFOIsRefusedWithoutBlocking: opening a FIFO for reading blocks until
// a writer comes. The file is opened non-blocking and refused by its type, and neither a
// poll nor a reload, nor Status and Stats meanwhile, waits for a writer.
func TestListThatBecomesAFIFOIsRefusedWithoutBlocking(t *testing.T) {
	m, path := newTestManager(t, "192.0.2.1\n")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, path)
	go m.poll()
	within(t, "Status during a poll of a FIFO", func() {
		for m.Status()[0].Failures == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	within(t, "Stats", func() { m.Stats() })
	within(t, "Reload of a FIFO", func() {
		if err := m.Reload(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Reload() = %v, want a refusal of the FIFO", err)
		}
	})
	if !blocked(m, "192.0.2.1") {
		t.Error("previous contents lost")
	}
	within(t, "ParseFile of a FIFO", func() {
		if _, err := ParseFile(Source{Name: "fifo", Path: path}); err == nil {
			t.Error("ParseFile read a FIFO")
		}
	})
}

// endless is a feed that never ends: comment lines, so that only a time budget stops it.
type endless struct{}

func (endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = "#\n"[i%2]
	}
	return len(b), nil
}

func TestLoadStopsAtItsTimeBudget(t *testing.T) {
	_, _, err := parse(endless{}, Source{MaxBytes: 1 << 60}, time.Now().Add(20*time.Millisecond), 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

// TestCloseReturnsWithoutWaitingForALoad: shutdown closes the Manager, and a Reload waiting
// for a load returns at once instead of when the load ends.
func TestCloseReturnsWithoutWaitingForALoad(t *testing.T) {
	m, path := newTestManager(t, "192.0.2.1\n")
	writeFile(t, path, "192.0.2.2\n")
	m.loadMu.Lock() // a load in progress, which ends only after Close
	errc := make(chan error, 1)
	go func() { errc <- m.Reload() }()
	m.Close()
	within(t, "Reload after Close", func() {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("Reload() = %v, want ErrClosed", err)
		}
	})
	m.loadMu.Unlock()
	if err := m.Reload(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload() after Close = %v, want ErrClosed", err)
	}
	within(t, "Run after Close", func() { m.Run(context.Background()) })
}

func gz(t *testing.T, text string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(text))
	w.Close()
	return b.String()
}

// TestReloadGuards: a list over its byte cap (its size, or its size after decompression) or
// its entry cap is refused like a truncated file, and so is one that shrank past the shrink
// guard: the last good contents stay and the refusal is counted. The shrink guard applies to
// lists of ShrinkGuardMinEntries or more, per-list max-shrink overrides the Manager's, and
// allow-empty accepts an emptied or empty list.
func TestReloadGuards(t *testing.T) {
	for _, tc := range []struct {
		name        string
		src         Source
		before      string
		after       string
		wantEntries int
		wantErr     error
		wantMsg     string // in the error
	}{
		{"file over max-bytes", Source{MaxBytes: 4096}, "192.0.2.1\n", addrs(1000), 1, ErrTooBig, "bytes, the cap is 4096"},
		{"gzip expanding past max-bytes", Source{MaxBytes: 4096}, "192.0.2.1\n", gz(t, addrs(1000)), 1, ErrTooBig, "more than 4096 bytes"},
		{"over max-entries", Source{MaxEntries: 500}, "192.0.2.1\n", addrs(1000), 1, ErrTooBig, "more than 500 entries"},
		{"a short hand-kept list may lose most of it", Source{}, addrs(3), addrs(1), 1, nil, ""},
		{"just under the minimum size", Source{}, addrs(ShrinkGuardMinEntries - 1), addrs(1), 1, nil, ""},
		{"at the minimum size", Source{}, addrs(ShrinkGuardMinEntries), addrs(1), ShrinkGuardMinEntries, ErrShrunk, ""},
		{"per-list max-shrink allows more", Source{MaxShrink: 0.95}, addrs(1000), addrs(100), 100, nil, ""},
		{"per-list max-shrink allows less", Source{MaxShrink: 0.1}, addrs(1000), addrs(800), 1000, ErrShrunk, ""},
		{"emptied without allow-empty", Source{}, addrs(1000), "", 1000, ErrEmpty, ""},
		{"emptied with allow-empty", Source{AllowEmpty: true}, addrs(1000), "", 0, nil, ""},
		{"all entries gone with allow-empty", Source{AllowEmpty: true}, addrs(1000), "# nothing listed today\n", 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			src.Name = "l"
			m, path := newSourceManager(t, src, tc.before)
			writeFile(t, path, tc.after)
			err := m.Reload()
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Fatalf("Reload() = %v, want %v saying %q", err, tc.wantErr, tc.wantMsg)
			}
			if st := m.Status()[0]; st.Entries != tc.wantEntries {
				t.Errorf("entries %d, want %d", st.Entries, tc.wantEntries)
			}
			first, _, _ := strings.Cut(tc.before, "\n")
			if st := m.Status()[0]; tc.wantErr != nil && (st.Failures != 1 || !blocked(m, first)) {
				t.Errorf("status %+v: want the refusal counted and the last good contents served", st)
			}
		})
	}
}

// The defaults are what a source that sets no cap gets, and the Manager's options apply to
// sources that set none.
func TestManagerCapsApplyToSourcesThatSetNone(t *testing.T) {
	if _, _, err := Parse(strings.NewReader(addrs(10)), Source{MaxEntries: 9}); !errors.Is(err, ErrTooBig) {
		t.Errorf("Parse over MaxEntries: %v", err)
	}
	path := filepath.Join(t.TempDir(), "list.txt")
	writeFile(t, path, addrs(10))
	if _, err := NewManager([]Source{{Name: "l", Path: path}}, Options{Logger: quiet, MaxEntries: 9}); !errors.Is(err, ErrTooBig) {
		t.Errorf("NewManager with Options.MaxEntries 9: %v", err)
	}
}

// An empty allow-empty list is accepted at start, as on a reload.
func TestEmptyAllowEmptyListAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.txt")
	writeFile(t, path, "")
	m, err := NewManager([]Source{{Name: "l", Path: path, AllowEmpty: true}}, Options{Logger: quiet})
	if err != nil || m.Status()[0].Entries != 0 || blocked(m, "192.0.2.1") {
		t.Errorf("an empty allow-empty list at start: %v", err)
	}
}

// TestServedContentsKeepOnlyWhatTheSnapshotNeeds: a file of many repeated entries and
// exceptions is kept, after its snapshot is built, as its few distinct ranges.
func TestServedContentsKeepOnlyWhatTheSnapshotNeeds(t *testing.T) {
	var b strings.Builder
	b.WriteString("create s hash:net\n")
	for range 20000 {
		b.WriteString("add s 198.51.100.0/24\nadd s 198.51.100.7 nomatch\nadd s 2001:db8::/32\n")
	}
	m, _ := newTestManager(t, b.String())
	p := m.srcs[0].parsed
	if len(p.v4) != 2 || len(p.v6) != 1 || len(p.except4)+len(p.except6) != 0 || cap(p.v4) > 4 {
		t.Errorf("kept %d+%d ranges, %d+%d exceptions, cap %d: want the 3 distinct ranges only",
			len(p.v4), len(p.v6), len(p.except4), len(p.except6), cap(p.v4))
	}
	if st := m.Status()[0]; st.Entries != 60000 || st.Bytes != 2*8+1*32 || !blocked(m, "198.51.100.8") || blocked(m, "198.51.100.7") {
		t.Errorf("status %+v: the entries counted, the memory of 3 ranges, and the same answers", st)
	}
	// A later build from the kept contents answers the same.
	if err := m.rebuildForTest(); err != nil || !blocked(m, "198.51.100.8") || blocked(m, "198.51.100.7") || !blocked(m, "2001:db8::1") {
		t.Errorf("rebuild from kept contents: %v", err)
	}
}

// TestUnterminatedLastLineIsSkipped: a file caught mid-write ends inside a line. Where no
// completeness marker vouches for it, the last line is skipped and counted.
func TestUnterminatedLastLineIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		format     Format
		entries    int
		skipped    int
	}{
		{"plain", "192.0.2.1\n203.0.113.4", FormatPlain, 1, 1},
		{"only line", "203.0.113.4", FormatPlain, 0, 1},
		{"ipsum", "192.0.2.1\t3\n203.0.113.4\t1", FormatIpsum, 1, 1},
		{"range", "192.0.2.1-192.0.2.9\n203.0.113.4-203.0.113.9", FormatRange, 1, 1},
		{"netset counts the cut line", "# Entries : 2\n192.0.2.1\n203.0.113.4", FormatNetset, 1, 1},
		{"terminated", "192.0.2.1\n203.0.113.4\n", FormatPlain, 2, 0},
		{"trailer without newline", "192.0.2.1\n# END 1 entries", FormatPlain, 1, 0},
		{"spamhaus drop vouched by EOF", "192.0.2.0/24 ; SBL1\n; EOF", FormatSpamhausDROP, 1, 0},
		{"spamhaus json vouched by metadata", `{"cidr":"192.0.2.0/24"}` + "\n" + `{"type":"metadata","records":1}`, FormatSpamhausJSON, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseString(t, tc.text, Source{Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			if p.Entries != tc.entries || p.Skipped != tc.skipped {
				t.Fatalf("entries %d skipped %d %v, want %d %d", p.Entries, p.Skipped, p.SkippedLines, tc.entries, tc.skipped)
			}
			if tc.skipped > 0 && !strings.Contains(p.SkippedLines[0].Reason, "unterminated") {
				t.Errorf("reason %q", p.SkippedLines[0].Reason)
			}
		})
	}
	// A DROP file cut before its "; EOF" is truncated, newline or not.
	if _, err := parseString(t, "192.0.2.0/24 ; SBL1\n198.51.100.0/2", Source{Format: FormatSpamhausDROP}); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut DROP file: %v", err)
	}
}

// TestReloadSkipsUnchangedFiles: SIGHUP re-reads only files whose identity changed, and the
// ones in error.
func TestReloadSkipsUnchangedFiles(t *testing.T) {
	m, path := newTestManager(t, "192.0.2.1\n")
	for range 3 {
		if err := m.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if st, s := m.Status()[0], m.Stats(); st.Loads != 1 || s.Builds != 1 {
		t.Errorf("loads %d, builds %d after reloads of an unchanged file; want 1, 1", st.Loads, s.Builds)
	}
	writeFile(t, path, "192.0.2.2\n")
	if err := m.Reload(); err != nil || !blocked(m, "192.0.2.2") || m.Stats().Builds != 2 {
		t.Errorf("a changed file was not reloaded: %v, %+v", err, m.Stats())
	}
}

// TestReloadsDuringAReloadCoalesce: calls arriving while a reload runs share one more reload.
func TestReloadsDuringAReloadCoalesce(t *testing.T) {
	m, path := newTestManager(t, "192.0.2.1\n")
	writeFile(t, path, "<html>\n") // in error: every reload re-reads it
	const callers = 20
	m.loadMu.Lock() // a reload in progress
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() { defer wg.Done(); m.Reload() }()
	}
	within(t, "callers joining", func() {
		for {
			m.reqMu.Lock()
			n := 0
			if m.next != nil {
				n = m.next.callers
			}
			m.reqMu.Unlock()
			if n == callers {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	m.loadMu.Unlock()
	wg.Wait()
	if f := m.Status()[0].Failures; f != 1 {
		t.Errorf("%d loads for %d reloads requested during one, want 1", f, callers)
	}
}

// TestLoadsCollectGarbageTighterAndRestoreGOGC: a load runs at loadGCPercent, and the GOGC in
// force before it is back once it ends, whether it succeeds or fails.
func TestLoadsCollectGarbageTighterAndRestoreGOGC(t *testing.T) {
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)
	m, path := newTestManager(t, "192.0.2.1\n")
	writeFile(t, path, "192.0.2.2\n")
	m.Reload()
	writeFile(t, path, "<html>\n")
	m.Reload()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GOGC after loads = %d, want 77", got)
	}
	m.loadMu.Lock()
	m.gc.tighten()
	if got := debug.SetGCPercent(loadGCPercent); got != loadGCPercent {
		t.Errorf("GOGC during a load = %d, want %d", got, loadGCPercent)
	}
	m.gc.restore()
	m.loadMu.Unlock()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GOGC after restore = %d, want 77", got)
	}
}

// TestOverlappingLoadsPutGOGCBack: GOGC is the process's, and the loads of two managers may
// overlap (a SIGHUP that changes the lists loads them while the old manager may still be
// loading). Whichever ends first, the GOGC in force before both is back once both end.
func TestOverlappingLoadsPutGOGCBack(t *testing.T) {
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)
	for _, firstEndsFirst := range []bool{true, false} {
		var a, b loadGC
		a.tighten()
		b.tighten()
		if firstEndsFirst {
			a.restore()
		} else {
			b.restore()
		}
		if got := debug.SetGCPercent(loadGCPercent); got != loadGCPercent {
			t.Errorf("GOGC while one load runs = %d, want %d", got, loadGCPercent)
		}
		a.restore()
		b.restore()
		if got := debug.SetGCPercent(77); got != 77 {
			t.Errorf("GOGC after both loads = %d, want 77", got)
		}
	}
}
