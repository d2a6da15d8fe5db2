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

// bans refuses what it cannot do as asked, with an error, before it posts anything.
func TestBansRefusesWhatItCannotDo(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no API", []string{"-rate", "100"}, "-api is required"},
		{"no time between POSTs", []string{"-api", "127.0.0.1:1", "-rate", "2000000000", "-per-post", "1"}, "no time between POSTs"},
		{"no POST in the duration", []string{"-api", "127.0.0.1:1", "-rate", "10", "-per-post", "100", "-duration", "1s"}, "does not fit"},
		{"past the last address", []string{"-api", "127.0.0.1:1", "-from", "255.255.255.250", "-per-post", "10", "-rate", "100", "-duration", "1s"}, "run past 255.255.255.255"},
		{"too many to write first", []string{"-api", "127.0.0.1:1", "-rate", "1000000", "-duration", "1h"}, "more than"},
		{"a count that would wrap", []string{"-api", "127.0.0.1:1", "-rate", "4611686018427387904", "-per-post", "4611686018427387904", "-duration", "4s"}, "more than"},
		{"not IPv4", []string{"-api", "127.0.0.1:1", "-from", "2001:db8::1"}, "not an IPv4 address"},
	} {
		if err := bansCmd(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: bans %v = %v, want an error saying %q", tc.name, tc.args, err, tc.want)
		}
	}
}
