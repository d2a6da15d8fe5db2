package feed

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const body = "# Entries : 2\n192.0.2.0/24\n198.51.100.7\n"

func newFetcher(t *testing.T, url string, tweak func(*Config)) *Fetcher {
	t.Helper()
	cfg := Config{Name: "test", URL: url, Dir: t.TempDir(), Attempts: 3, Backoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond, Timeout: 10 * time.Second, UserAgent: "spoaguard/test", Logger: quiet}
	if tweak != nil {
		tweak(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fetchCommit fetches and commits, failing the test on any error or a 304.
func fetchCommit(t *testing.T, f *Fetcher) *Download {
	t.Helper()
	d, err := f.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Fatal("304, want a download")
	}
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	return d
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

func TestConditionalGETAnswers304(t *testing.T) {
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		header  string // the validator the second request must carry
	}{
		{"etag", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			io.WriteString(w, body)
		}, "If-None-Match"},
		{"last-modified", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "x.netset", mod, strings.NewReader(body))
		}, "If-Modified-Since"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(got, r.Header.Get(tc.header))
				tc.handler(w, r)
			}))
			defer srv.Close()
			f := newFetcher(t, srv.URL+"/x.netset", nil)
			fetchCommit(t, f)
			if s := readFile(t, f.CachePath()); s != body {
				t.Fatalf("cached copy %q, want %q", s, body)
			}
			d, err := f.Fetch(context.Background())
			if err != nil || d != nil {
				t.Fatalf("second fetch: %v, %v; want a 304", d, err)
			}
			if got[0] != "" || got[1] == "" {
				t.Errorf("%s headers sent: %q; want none, then the validator", tc.header, got)
			}
			// A restart keeps the validators: the first request after it is conditional too.
			f2 := newFetcher(t, srv.URL+"/x.netset", func(c *Config) { c.Dir = f.cfg.Dir })
			if d, err := f2.Fetch(context.Background()); err != nil || d != nil {
				t.Fatalf("fetch after restart: %v, %v; want a 304", d, err)
			}
			st := f.Stats()
			if st.Updated != 1 || st.NotModified != 1 || st.Failed != 0 || st.Bytes != int64(len(body)) || st.LastSuccess.IsZero() {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRequestIdentifiesItselfAndAsksForGzip(t *testing.T) {
	var ua, ae string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua, ae = r.UserAgent(), r.Header.Get("Accept-Encoding")
		if !strings.Contains(ae, "gzip") {
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, body)
		zw.Close()
	}))
	defer srv.Close()
	f := newFetcher(t, srv.URL, nil)
	fetchCommit(t, f)
	if ua != "spoaguard/test" || !strings.Contains(ae, "gzip") {
		t.Errorf("User-Agent %q, Accept-Encoding %q", ua, ae)
	}
	if s := readFile(t, f.CachePath()); s != body {
		t.Errorf("cached copy %q, want the decompressed body", s)
	}
}

func TestRetriesThenRecovers(t *testing.T) {
	var n atomic.Int32
	failFirst := int32(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= failFirst {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()

	f := newFetcher(t, srv.URL, func(c *Config) { c.Attempts = 3 })
	fetchCommit(t, f)
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3 (two 500s, then the body)", n.Load())
	}

	// Every attempt failing: one failed fetch, the feed is failing since then, the cached copy
	// stays; a later fetch that works clears it.
	n.Store(0)
	failFirst = 100
	f.Forget()
	if _, err := f.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err %v, want the 500", err)
	}
	st := f.Stats()
	if n.Load() != 3 || st.Failed != 1 || st.FailingSince.IsZero() || !strings.Contains(st.LastError, "500") {
		t.Errorf("%d requests, stats %+v", n.Load(), st)
	}
	if !st.Stale(st.FailingSince.Add(2*time.Hour), time.Hour) || st.Stale(st.FailingSince.Add(time.Minute), time.Hour) {
		t.Error("Stale: want true only past the age")
	}
	if s := readFile(t, f.CachePath()); s != body {
		t.Errorf("cached copy %q after failures", s)
	}
	failFirst = 0
	fetchCommit(t, f)
	if st := f.Stats(); !st.FailingSince.IsZero() || st.LastError != "" || st.Stale(time.Now().Add(time.Hour), time.Minute) {
		t.Errorf("after recovery: %+v", st)
	}
}

// A refused download never costs the last good list, memory past the caps, goroutines past
// the fetch, or attempts past Config.Attempts; the error names the URL.
func TestRefusedDownloads(t *testing.T) {
	big := strings.Repeat("192.0.2.1\n", 200) // 2000 bytes
	var bomb bytes.Buffer                     // 64 MiB of zeros, compressed to about 64 KiB
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write(make([]byte, 64<<20))
	zw.Close()
	release := make(chan struct{})
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		tweak    func(*Config)
		want     error  // errors.Is, or nil
		contains string // in the error text
		requests int32  // attempts made (3 allowed)
	}{
		{"body cut short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, body) // the server closes the connection after fewer bytes
		}, nil, io.ErrUnexpectedEOF, "", 3},
		{"slow server past the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, func(c *Config) { c.Timeout = 20 * time.Millisecond }, context.DeadlineExceeded, "", 3},
		{"slow body past the timeout", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "192.0.2.1\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, func(c *Config) { c.Timeout = 20 * time.Millisecond }, context.DeadlineExceeded, "", 3},
		{"body over the cap", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // chunked: no Content-Length to refuse early
			io.WriteString(w, big)
		}, func(c *Config) { c.MaxBytes = 1000 }, ErrTooLarge, "", 1},
		{"Content-Length over the cap", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, func(c *Config) { c.MaxBytes = 1000 }, ErrTooLarge, "Content-Length 2000", 1},
		{"not found", func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, nil, nil, "404", 1},
		{"an endless body", func(w http.ResponseWriter, r *http.Request) {
			line := []byte(strings.Repeat("192.0.2.1\n", 1000))
			for r.Context().Err() == nil {
				if _, err := w.Write(line); err != nil {
					return
				}
			}
		}, func(c *Config) { c.MaxBytes = 1 << 20 }, ErrTooLarge, "", 1},
		{"a gzip bomb", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		}, func(c *Config) { c.MaxBytes = 1 << 20 }, ErrTooLarge, "", 1},
		{"a body dripped forever", func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				if _, err := io.WriteString(w, "1"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(time.Millisecond)
			}
		}, func(c *Config) { c.Timeout = 100 * time.Millisecond }, context.DeadlineExceeded, "", 3},
		{"headers past the cap", func(w http.ResponseWriter, r *http.Request) {
			for range 100 {
				w.Header().Add("X-Junk", strings.Repeat("y", 4000))
			}
			io.WriteString(w, body)
		}, nil, nil, "headers exceeded", 3},
		{"a redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/again", http.StatusFound)
		}, nil, nil, "redirects", maxRedirects}, // one attempt: another would loop again
		{"a redirect to another scheme", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}, nil, nil, "unsupported protocol scheme", 3},
		{"a redirect to a huge URL", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/"+strings.Repeat("a", 100<<10), http.StatusFound)
		}, nil, nil, "headers exceeded", 3},
		{"a 304 to an unconditional request", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, nil, nil, "304", 1},
		{"a gzip body that does not decompress", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, body)
		}, nil, nil, "gzip", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				tc.handler(w, r)
			}))
			defer srv.Close()
			f := newFetcher(t, srv.URL, tc.tweak)
			// The last good list, from an earlier fetch.
			if err := os.WriteFile(f.CachePath(), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			goroutines := runtime.NumGoroutine()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			d, err := f.Fetch(context.Background())
			runtime.ReadMemStats(&after)
			if err == nil {
				d.Reject(errors.New("test"))
				t.Fatal("download accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			// The reason alone: the caller names the feed and its URL.
			if !strings.Contains(err.Error(), tc.contains) || strings.Contains(err.Error(), `"`+srv.URL+`"`) ||
				strings.Contains(err.Error(), "retryable") || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %.300s does not say %q, or says the feed's URL, or what is retried, or is two lines", err, tc.contains)
			}
			if len(err.Error()) > 2<<10 {
				t.Errorf("an error of %d bytes", len(err.Error()))
			}
			if n.Load() != tc.requests {
				t.Errorf("%d requests, want %d", n.Load(), tc.requests)
			}
			// The heap in use: some bodies and headers are 64 MiB and more; a fetch holds a
			// copy buffer and at most maxHeaderBytes of headers.
			if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 8<<20 {
				t.Errorf("the heap grew by %d bytes", grown)
			}
			if s := readFile(t, f.CachePath()); s != body {
				t.Errorf("the cached copy is %q", s)
			}
			if st := f.Stats(); st.Failed != 1 || st.Updated != 0 {
				t.Errorf("stats %+v", st)
			}
			noTemps(t, f.cfg.Dir)
			srv.CloseClientConnections()
			f.client.CloseIdleConnections()
			srv.Close()
			goroutinesSettle(t, goroutines)
		})
	}
	close(release)
}

func TestRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	defer target.Close()
	mux := http.NewServeMux()
	mux.Handle("/moved", http.RedirectHandler(target.URL+"/x.netset", http.StatusFound))
	plain := httptest.NewServer(mux)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	pool := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	f := newFetcher(t, plain.URL+"/moved", nil)
	fetchCommit(t, f)
	if s := readFile(t, f.CachePath()); s != body {
		t.Errorf("cached copy %q", s)
	}

	var tlsRequests atomic.Int32
	tlsSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsRequests.Add(1)
		mux.ServeHTTP(w, r)
	})
	f = newFetcher(t, tlsSrv.URL+"/moved", func(c *Config) { c.RootCAs = pool })
	if _, err := f.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "https to") {
		t.Errorf("redirect from https to http: err %v, want it refused", err)
	}
	if n := tlsRequests.Load(); n != 1 {
		t.Errorf("%d requests for a redirect refused, want 1: another attempt is refused alike", n)
	}
}

func TestTLSUsesTheRootsGiven(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	// The test server's certificate is in no system store.
	f := newFetcher(t, srv.URL, func(c *Config) { c.Attempts = 1 })
	if _, err := f.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("system roots: err %v, want a certificate error", err)
	}
	f = newFetcher(t, srv.URL, func(c *Config) { c.RootCAs = pool })
	fetchCommit(t, f)
}

func TestRejectedDownloadKeepsTheCachedCopy(t *testing.T) {
	version := `"v1"`
	text := body
	var sawValidator []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawValidator = append(sawValidator, r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", version)
		if r.Header.Get("If-None-Match") == version {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, text)
	}))
	defer srv.Close()
	f := newFetcher(t, srv.URL, nil)
	fetchCommit(t, f)

	version, text = `"v2"`, "garbage\n"
	d, err := f.Fetch(context.Background())
	if err != nil || d == nil {
		t.Fatalf("fetch: %v, %v", d, err)
	}
	if s := readFile(t, d.Path); s != text {
		t.Errorf("download holds %q", s)
	}
	d.Reject(errors.New("does not parse"))
	if s := readFile(t, f.CachePath()); s != body {
		t.Errorf("cached copy %q after a rejected download", s)
	}
	st := f.Stats()
	if st.Failed != 1 || !strings.Contains(st.LastError, "does not parse") || st.FailingSince.IsZero() {
		t.Errorf("stats %+v", st)
	}
	// The rejected version's ETag was not kept: the next request still carries v1's.
	d, err = f.Fetch(context.Background())
	if err != nil || d == nil {
		t.Fatalf("fetch: %v, %v", d, err)
	}
	d.Reject(errors.New("does not parse"))
	if want := []string{"", `"v1"`, `"v1"`}; strings.Join(sawValidator, " ") != strings.Join(want, " ") {
		t.Errorf("If-None-Match sent: %q, want %q", sawValidator, want)
	}
	noTemps(t, f.cfg.Dir)
}

func TestRestartServesTheCachedCopyWithoutNetwork(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, body)
	}))
	f := newFetcher(t, srv.URL, nil)
	fetchCommit(t, f)
	fetched, _ := f.Cached()
	srv.Close()

	// A crash left a temporary download behind; the restart removes it.
	os.WriteFile(filepath.Join(f.cfg.Dir, "test.feed.123.tmp"), []byte("partial"), 0o644)
	f2 := newFetcher(t, srv.URL, func(c *Config) { c.Dir = f.cfg.Dir })
	at, ok := f2.Cached()
	if !ok || !at.Equal(fetched) {
		t.Fatalf("Cached() = %v, %v; want %v, true", at, ok, fetched)
	}
	if s := readFile(t, f2.CachePath()); s != body {
		t.Errorf("cached copy %q", s)
	}
	noTemps(t, f.cfg.Dir)
	f2.UseCached()
	if _, err := f2.Fetch(context.Background()); err == nil {
		t.Fatal("fetch from a closed server worked")
	}
	if st := f2.Stats(); !st.LastSuccess.Equal(fetched) || st.FailingSince.IsZero() {
		t.Errorf("stats %+v: want the cached copy's time as the last success, and failing", st)
	}

	// Another URL in the same place does not inherit the cached copy.
	f3 := newFetcher(t, "http://127.0.0.1:1/other", func(c *Config) { c.Dir = f.cfg.Dir })
	if _, ok := f3.Cached(); ok {
		t.Error("a cached copy of another URL is offered")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ name, url, want string }{
		{"x", "ftp://example.com/x", "not an http"},
		{"x", "/var/lib/x.netset", "not an http"},
		{"../x", "http://example.com/x", "name"},
		{"", "http://example.com/x", "name"},
	} {
		if _, err := New(Config{Name: tc.name, URL: tc.url, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): err %v, want %q", tc.name, tc.url, err, tc.want)
		}
	}
}

func TestRetryAfterIsHonouredWithinTheBackoffCap(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600") // beyond MaxBackoff: ignored, not slept
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	f := newFetcher(t, srv.URL, nil)
	fetchCommit(t, f)
	if n.Load() != 2 {
		t.Errorf("%d requests", n.Load())
	}
	if !bytes.Equal([]byte(readFile(t, f.CachePath())), []byte(body)) {
		t.Error("body")
	}
}
