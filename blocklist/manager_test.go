package blocklist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // how downloaders should publish a file
		t.Fatal(err)
	}
}

// addrs returns n distinct addresses in 198.18.0.0/15, one per line.
func addrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "198.18.%d.%d\n", i/256, i%256)
	}
	return b.String()
}

func blocked(m *Manager, a string) bool {
	return m.Snapshot().LookupAddr(netip.MustParseAddr(a)).Blocked
}

// newTestManager starts a Manager on one list, "local", read from a file holding text.
func newTestManager(t *testing.T, text string) (*Manager, string) {
	t.Helper()
	return newSourceManager(t, Source{Name: "local"}, text)
}

// newSourceManager starts a Manager on src, read from a file holding text; it returns the
// file's path for the test to rewrite.
func newSourceManager(t *testing.T, src Source, text string) (*Manager, string) {
	t.Helper()
	src.Path = filepath.Join(t.TempDir(), "list.txt")
	writeFile(t, src.Path, text)
	m, err := NewManager([]Source{src}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return m, src.Path
}

func TestManagerStartupErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.netset")
	writeFile(t, good, "1.2.3.4\n")
	writeFile(t, bad, "# Entries : 5 subnets\n1.2.3.4\n")
	_, err := NewManager([]Source{
		{Name: "good", Path: good},
		{Name: "firehol", Path: bad},
		{Name: "gone", Path: filepath.Join(dir, "missing.txt")},
	}, Options{Logger: quiet})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"firehol: " + bad + ": line 1: ", "gone: " + filepath.Join(dir, "missing.txt") + ": "} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if !errors.Is(err, ErrTruncated) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap ErrTruncated and ErrNotExist", err)
	}
}

func TestManagerPicksUpChanges(t *testing.T) {
	m, path := newTestManager(t, "192.0.2.1\n")
	if !blocked(m, "192.0.2.1") || blocked(m, "192.0.2.2") {
		t.Fatal("initial snapshot wrong")
	}
	before := m.Snapshot()
	m.poll() // nothing changed: same snapshot
	if m.Snapshot() != before {
		t.Error("an unchanged file produced a new snapshot")
	}
	writeFile(t, path, "192.0.2.2\n")
	m.poll()
	if blocked(m, "192.0.2.1") || !blocked(m, "192.0.2.2") {
		t.Error("change not picked up")
	}
	if st := m.Status()[0]; st.Loads != 2 || st.Entries != 1 || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
}

func TestManagerKeepsPreviousContentsOnFailure(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, path string)
		want   error
	}{
		{"empty file", func(t *testing.T, p string) { writeFile(t, p, "") }, ErrEmpty},
		{"garbage", func(t *testing.T, p string) { writeFile(t, p, "<html>\n<h1>503</h1>\n</html>\n") }, ErrGarbage},
		{"truncated", func(t *testing.T, p string) {
			writeFile(t, p, "# Entries : 1000 subnets\n"+addrs(400))
		}, ErrTruncated},
		{"shrunk", func(t *testing.T, p string) { writeFile(t, p, addrs(100)) }, ErrShrunk},
		{"deleted", func(t *testing.T, p string) { os.Remove(p) }, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, path := newTestManager(t, addrs(1000))
			tt.break_(t, path)
			m.poll()
			if !blocked(m, "198.18.3.200") {
				t.Error("previous contents lost")
			}
			st := m.Status()[0]
			if st.Failures != 1 || st.Entries != 1000 || st.LastError == "" || st.LastErrorTime.IsZero() {
				t.Errorf("status %+v", st)
			}
			if err := m.Reload(); !errors.Is(err, tt.want) {
				t.Errorf("Reload() = %v, want %v", err, tt.want)
			}
			m.poll() // the same bad file is not re-read at every poll
			if st := m.Status()[0]; st.Failures != 2 {
				t.Errorf("failures = %d after one more poll, want 2", st.Failures)
			}
			// A good file brings the list back.
			writeFile(t, path, addrs(1200))
			m.poll()
			if st := m.Status()[0]; st.Entries != 1200 || st.LastError != "" || !blocked(m, "198.18.4.100") {
				t.Errorf("not recovered: %+v", st)
			}
		})
	}
}

// A file rewritten while it is read is detected by comparing its identity before and after.
func TestFileReplacedMidReadIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	writeFile(t, path, addrs(50000))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keep replacing the file until the reader has seen it change
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			writeFile(t, path, addrs(50000+i%2))
		}
	}()
	sawChanged := false
	for range 200 {
		_, err := ParseFile(Source{Name: "x", Path: path})
		if errors.Is(err, ErrChanged) {
			sawChanged = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if !sawChanged {
		t.Skip("the file never changed under the reader in 200 reads")
	}
}

// Lookups run concurrently with reloads; run under -race.
func TestConcurrentLookupsDuringReloads(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	writeFile(t, a, "203.0.113.0/24\n")
	writeFile(t, b, "198.51.100.7\n")
	m, err := NewManager([]Source{{Name: "a", Path: a}, {Name: "allow", Path: b, Kind: Allow}}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := []byte{203, 0, 113, 9}
			for ctx.Err() == nil {
				s := m.Snapshot()
				if r := s.Lookup(ip); !r.Blocked || string(s.ListName(r.Deny)) != "a" {
					t.Errorf("203.0.113.9 = %+v", r)
					return
				}
			}
		}()
	}
	for i := range 50 {
		writeFile(t, b, fmt.Sprintf("198.51.100.%d\n", i))
		if err := m.Reload(); err != nil {
			t.Error(err)
		}
		m.Status()
		m.Stats()
	}
	cancel()
	wg.Wait()
	if got := m.Stats().Builds; got != 51 {
		t.Errorf("builds = %d, want 51", got)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	m, _ := newTestManager(t, "192.0.2.1\n")
	m.opts.PollInterval = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	cancel()
	<-done
}

// TestManagerBuildFailureKeepsLastGoodContents: when the new files parse but the snapshot
// cannot be built (here 17 lists whose overlaps make 2^17 distinct list combinations, more
// than a snapshot holds), the previous snapshot stays, the failure is reported on the lists
// that changed, and those lists keep the contents the served snapshot was built from — so a
// later reload of another list still succeeds instead of tripping over the unbuildable ones.
func TestManagerBuildFailureKeepsLastGoodContents(t *testing.T) {
	const bits = 17
	dir := t.TempDir()
	var srcs []Source
	for k := range bits {
		p := filepath.Join(dir, fmt.Sprintf("l%02d.txt", k))
		writeFile(t, p, fmt.Sprintf("192.0.2.%d\n", k))
		srcs = append(srcs, Source{Name: fmt.Sprintf("l%02d", k), Path: p})
	}
	extra := filepath.Join(dir, "extra.txt")
	writeFile(t, extra, "198.51.100.1\n")
	srcs = append(srcs, Source{Name: "extra", Path: extra})
	m, err := NewManager(srcs, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	before := m.Snapshot()

	// Block i (a /24 from 16.0.0.0) is in list k when bit k of i is set: every combination
	// of the 17 lists occurs. List k is then the aligned runs of 2^k blocks, as CIDRs.
	for k := range bits {
		var b strings.Builder
		for start := 1 << k; start < 1<<bits; start += 2 << k {
			a := 16<<24 + start<<8
			fmt.Fprintf(&b, "%d.%d.%d.0/%d\n", a>>24, a>>16&255, a>>8&255, 24-k)
		}
		writeFile(t, srcs[k].Path, b.String())
	}
	m.poll()
	if m.Snapshot() != before {
		t.Fatal("a snapshot was published although the build failed")
	}
	for _, st := range m.Status()[:bits] {
		if !strings.Contains(st.LastError, "snapshot build") || st.Entries != 1 {
			t.Fatalf("%s: entries %d, last error %q; want the build failure and the 1 entry in service", st.Name, st.Entries, st.LastError)
		}
	}

	writeFile(t, extra, "198.51.100.1\n198.51.100.2\n")
	m.poll()
	if !blocked(m, "198.51.100.2") {
		t.Fatalf("a good reload of another list was not published: %+v", m.Status()[bits])
	}
	if !blocked(m, "192.0.2.3") || blocked(m, "16.0.1.1") {
		t.Error("the lists that failed to build are not served at their last good contents")
	}
}

// A Manager of no lists serves an empty snapshot that blocks nothing, reloads and closes: an
// agent whose deny entries all come from its live set (the admin API, Redis) runs on it.
func TestManagerOfNoListsServesAnEmptySnapshot(t *testing.T) {
	m, err := NewManager(nil, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("NewManager of no lists: %v", err)
	}
	defer m.Close()
	if s := m.Snapshot(); s == nil || blocked(m, "198.18.0.1") || blocked(m, "2001:db8::1") {
		t.Fatalf("the snapshot of no lists: %v, or it blocks", s)
	}
	if err := m.Reload(); err != nil {
		t.Errorf("Reload of no lists: %v", err)
	}
	if st := m.Status(); len(st) != 0 {
		t.Errorf("Status of no lists: %v", st)
	}
}
