package feed

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFetchGoesThroughTheEnvironmentProxy runs a fetch of an unresolvable host in a child
// process whose HTTP_PROXY names a local proxy (net/http reads the proxy variables once per
// process, so the child is the only way to set them for one test): the request reaches the
// proxy, with the feed's URL, and its answer is the download.
func TestFetchGoesThroughTheEnvironmentProxy(t *testing.T) {
	if os.Getenv("SPOAGUARD_FEED_PROXY_CHILD") != "" {
		f := newFetcher(t, "http://feed.invalid/list.netset", func(c *Config) { c.Attempts = 1 })
		fetchCommit(t, f)
		if s := readFile(t, f.CachePath()); s != body {
			t.Fatalf("cached copy %q", s)
		}
		return
	}
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Method + " " + r.URL.String())
		io.WriteString(w, body)
	}))
	defer proxy.Close()
	cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^TestFetchGoesThroughTheEnvironmentProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPOAGUARD_FEED_PROXY_CHILD=1", "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got, _ := seen.Load().(string); !strings.HasPrefix(got, "GET http://feed.invalid/list.netset") {
		t.Errorf("the proxy saw %q, want the feed's GET", got)
	}
}
