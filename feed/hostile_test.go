package feed

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutinesSettle waits (bounded) for the goroutine count to fall back to at most n: the
// transport's connection goroutines end a moment after the connection closes.
func goroutinesSettle(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < 200 && runtime.NumGoroutine() > n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > n {
		t.Errorf("%d goroutines after the fetches, %d before", got, n)
	}
}

// Validators no server should send are not kept: the next request is unconditional, and the
// validators file stays readable, so the cached copy is offered at the next start.
func TestGarbageValidatorsAreNotKept(t *testing.T) {
	cases := []struct {
		name, etag, lastModified string
		keep                     bool
	}{
		{"a strong ETag and a date", `"v1"`, "Mon, 30 Nov 2026 12:00:00 GMT", true},
		{"a weak ETag", `W/"v1"`, "", true},
		{"a huge ETag", `"` + strings.Repeat("x", 30<<10) + `"`, "", false},
		{"an unquoted ETag", `v1`, "", false},
		{"an ETag with a space", `"v 1"`, "", false},
		{"a date that is not one", "", "yesterday", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sent []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent = append(sent, r.Header.Get("If-None-Match")+r.Header.Get("If-Modified-Since"))
				if tc.etag != "" {
					w.Header().Set("ETag", tc.etag)
				}
				if tc.lastModified != "" {
					w.Header().Set("Last-Modified", tc.lastModified)
				}
				io.WriteString(w, body)
			}))
			defer srv.Close()
			f := newFetcher(t, srv.URL, nil)
			fetchCommit(t, f)
			fetchCommit(t, f)
			if conditional := sent[1] != ""; conditional != tc.keep {
				t.Errorf("second request sent %.80q, want validators %v", sent[1], tc.keep)
			}
			f2 := newFetcher(t, srv.URL, func(c *Config) { c.Dir = f.cfg.Dir })
			if _, ok := f2.Cached(); !ok {
				t.Error("the cached copy is not offered after a restart")
			}
		})
	}
}

func TestRetryAfterOfYearsIsNoShortWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"36028797018963998", maxRetryAfter}, // 2^55+30 seconds: 30s once multiplied in int64
		{"99999999999999999999", 0},          // past int64: not a number of seconds
	} {
		if got := retryAfter(tc.in); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
