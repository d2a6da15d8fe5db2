package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/admin"
)

// The null API answers a POST of bans as the agent does, counting them, so that the bans
// command reports every ban it posted; it answers nothing else, and refuses a body the agent
// would refuse as too large.
func TestNullAPIAnswersAsTheAgentDoes(t *testing.T) {
	ep, _, err := admin.Listen("unix:"+filepath.Join(t.TempDir(), "api.sock"), nullAPI())
	if err != nil {
		t.Fatal(err)
	}
	go ep.Serve()
	defer ep.Close()
	sock := "unix:" + ep.Addr().String()
	out := filepath.Join(t.TempDir(), "bans.json")
	if err := bansCmd([]string{"-api", sock, "-rate", "2000", "-per-post", "10", "-duration", "100ms", "-json", out}); err != nil {
		t.Fatalf("bans against the null API: %v", err)
	}
	got, err := admin.NewClient(sock, "").Ban(admin.Ban{Addr: "192.0.2.1"}, admin.Ban{Addr: "192.0.2.2"})
	if err != nil || got.Added != 2 || got.Updated != 0 {
		t.Errorf("Ban of 2 = %+v, %v; want 2 added", got, err)
	}

	h := nullAPI()
	for _, tc := range []struct {
		method, path string
		body         string
		want         int
	}{
		{http.MethodGet, "/v1/bans", "", http.StatusNotFound},
		{http.MethodPost, "/v1/check", "{}", http.StatusNotFound},
		{http.MethodPost, "/v1/bans", strings.Repeat(" ", admin.DefaultMaxBody+1), http.StatusRequestEntityTooLarge},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, bytes.NewBufferString(tc.body)))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.want)
		}
	}
}

func TestNullAPINeedsAnAddress(t *testing.T) {
	if err := nullAPICmd(nil); err == nil || !strings.Contains(err.Error(), "-listen is required") {
		t.Errorf("null-api without -listen = %v, want an error saying so", err)
	}
}
