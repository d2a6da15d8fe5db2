package main

import (
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/live"
)

// bans posts every ban it reports, each one once, and they reach the live set.
func TestBansPostsEveryBanItReports(t *testing.T) {
	ls, err := live.Open(live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	api, err := admin.NewHandler(admin.Config{Live: ls, Explain: func(netip.Addr) decision.Explanation { return decision.Explanation{} }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "bans.json")
	args := []string{"-api", strings.TrimPrefix(srv.URL, "http://"), "-rate", "2000", "-per-post", "10",
		"-duration", "100ms", "-ttl", "0", "-from", "240.16.0.250", "-json", out}
	if err := bansCmd(args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res bansResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Posts != 20 || res.Bans != 200 || res.Failed != 0 {
		t.Fatalf("reported %d bans in %d POSTs, %d failed; want 200 in 20, 0 failed", res.Bans, res.Posts, res.Failed)
	}
	tb := ls.Table()
	if tb.Len() != 200 {
		t.Fatalf("the live set holds %d entries, want the 200 posted", tb.Len())
	}
	for _, ip := range []string{"240.16.0.250", "240.16.1.193"} { // the first and the 200th, past a /24
		if tb.Lookup(netip.MustParseAddr(ip).AsSlice()) == 0 {
			t.Errorf("%s was posted but is not in the live set", ip)
		}
	}
}
