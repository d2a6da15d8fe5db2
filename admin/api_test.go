package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/live"
)

const token = "s3cret-token"

type fixedSnapshot struct{ s *blocklist.Snapshot }

func (f fixedSnapshot) Snapshot() *blocklist.Snapshot { return f.s }

// newHandler returns the API with cfg's settings over a live set opened with opts (closed
// when the test ends), in front of snap's file lists (none when nil).
func newHandler(tb testing.TB, opts live.Options, snap *blocklist.Snapshot, cfg Config) (http.Handler, *live.Set) {
	tb.Helper()
	ls, err := live.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ls.Close)
	d, err := decision.New(fixedSnapshot{snap}, decision.Config{Live: ls})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Live, cfg.Explain = ls, d.Explain
	h, err := NewHandler(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return h, ls
}

// newAPI serves the API over a live set, in front of a file deny list "drop" holding
// 192.0.2.0/24.
func newAPI(t *testing.T, maxBody int64) (*httptest.Server, *live.Set, *metrics.Set) {
	t.Helper()
	p, _, err := blocklist.Parse(strings.NewReader("192.0.2.0/24\n"), blocklist.Source{Name: "drop"})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := blocklist.Build([]blocklist.List{{Name: "drop", Kind: blocklist.Deny, Parsed: p}}, blocklist.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := metrics.NewSet()
	h, ls := newHandler(t, live.Options{}, snap, Config{Token: token, MaxBody: maxBody, Metrics: set})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, ls, set
}

// call makes a request with the token and returns the status and body.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	return callAs(t, srv, "Bearer "+token, method, path, body)
}

func callAs(t *testing.T, srv *httptest.Server, auth, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestStatusCodes(t *testing.T) {
	srv, ls, _ := newAPI(t, 4096)
	tests := []struct {
		name         string
		auth         string // "" = the right token
		method, path string
		body         string
		status       int
		want         string // in the body
	}{
		{"no token", "-", "GET", "/v1/bans", "", 401, "bearer token"},
		{"a wrong token", "Bearer nope", "GET", "/v1/bans", "", 401, "bearer token"},
		{"a token of another scheme", "Basic " + token, "GET", "/v1/bans", "", 401, "bearer token"},
		{"the scheme in lower case", "bearer " + token, "GET", "/v1/bans", "", 200, `{"bans":[]}`},
		{"a token with a space before it", "Bearer  " + token, "GET", "/v1/bans", "", 401, "bearer token"},
		{"one entry", "", "POST", "/v1/bans", `{"addr": "203.0.113.7", "ttl": "1h", "comment": "ssh"}`, 200, `{"added":1,"updated":0}`},
		{"a list of entries, one already there", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.7"}, {"addr": "198.51.100.0/24", "ttl": 3600, "list": "scanners"}, {"addr": "192.0.2.1-192.0.2.9", "action": "allow"}]}`, 200, `{"added":2,"updated":1}`},
		{"a range spelling a prefix is that prefix", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.128-203.0.113.255"}, {"addr": "203.0.113.128/25"}]}`, 200, `{"added":1,"updated":1}`},
		{"malformed JSON", "", "POST", "/v1/bans", `{"addr": `, 400, "malformed JSON"},
		{"not JSON", "", "POST", "/v1/bans", `addr=1.2.3.4`, 400, "malformed JSON"},
		{"an unknown field", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "expiry": "1h"}`, 400, `unknown field \"expiry\"`},
		{"an unknown field in a list", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8", "ip": "x"}]}`, 400, `unknown field \"ip\"`},
		{"an unknown field names its entry", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}, {"addr": "203.0.113.9", "expiry": "1h"}]}`, 400, `bans[1]: unknown field \"expiry\"`},
		{"a bad ttl names its entry", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}, {"addr": "203.0.113.9", "ttl": -1}]}`, 400, `bans[1]: ttl -1s`},
		{"a value of the wrong type names its entry and field", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}, {"addr": "203.0.113.9", "action": 5}]}`, 400, `"bans[1]: action: want a string, not a number"`},
		{"an entry that is not an object", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}, "203.0.113.9"]}`, 400, `"bans[1]: want an object, not a string"`},
		{"a list that is not a list", "", "POST", "/v1/bans", `{"bans": {"addr": "203.0.113.8"}}`, 400, `"bans: want a list, not an object"`},
		{"a list at the top", "", "POST", "/v1/bans", `[{"addr": "203.0.113.8"}]`, 400, `"want one entry {\"addr\": ...} or {\"bans\": [...]}, not an array"`},
		{"a time in expires", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8", "expires": 5}]}`, 400, `"bans[0]: expires and created are set by the agent; send ttl"`},
		{"an unknown field beside the list", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}], "expiry": "1h"}`, 400, `unknown field \"expiry\" beside \"bans\"`},
		{"a bad address names its entry", "", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.8"}, {"addr": "203.0.113.300"}]}`, 400, "bans[1]: addr"},
		{"a prefix wider than the minimum", "", "POST", "/v1/bans", `{"addr": "10.0.0.0/7"}`, 400, "bans[0]: 10.0.0.0/7 is wider than /8 (IPv4) or /16 (IPv6): a short prefix must be allowed explicitly (POST ?allow-short=true; spoaguard ban -allow-short)"},
		{"a wide prefix with the override", "", "POST", "/v1/bans?allow-short=true", `{"addr": "10.0.0.0/7", "ttl": "1s"}`, 200, `"added":1`},
		{"a bad ttl", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "ttl": "soon"}`, 400, "ttl"},
		{"a negative ttl", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "ttl": -5}`, 400, "ttl"},
		{"a ttl that rounds to no expiry", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "ttl": 1e-10}`, 400, "shorter than 1ns"},
		{"a ttl string that rounds to no expiry", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "ttl": "0.5ns"}`, 400, "shorter than 1ns"},
		{"a bad action", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "action": "block"}`, 400, "action"},
		{"a bad list name", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "list": "a b"}`, 400, "list"},
		{"observe on an allow entry", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "action": "allow", "observe": true}`, 400, "observe"},
		{"expires is the agent's", "", "POST", "/v1/bans", `{"addr": "203.0.113.8", "expires": "2030-01-01T00:00:00Z"}`, 400, "ttl"},
		{"no entries", "", "POST", "/v1/bans", `{"bans": []}`, 400, "no entries"},
		{"neither one entry nor a list", "", "POST", "/v1/bans", `{}`, 400, "want one entry"},
		{"a body over the cap", "", "POST", "/v1/bans", `{"bans": [` + strings.Repeat(`{"addr": "203.0.113.9"},`, 400) + `{"addr": "203.0.113.9"}]}`, 413, "larger than 4096"},
		{"a wrong method", "", "PUT", "/v1/bans", `{}`, 405, "GET, POST, DELETE"},
		{"a wrong method on check", "", "POST", "/v1/check", `{}`, 405, "use GET"},
		{"an unknown route", "", "GET", "/v2/bans", "", 404, "no such route"},
		{"delete without an address", "", "DELETE", "/v1/bans", "", 400, "addr"},
		{"delete a bad address", "", "DELETE", "/v1/bans?addr=nope", "", 400, "addr"},
		{"delete what is not there", "", "DELETE", "/v1/bans?addr=203.0.113.99", "", 404, "no live entry"},
		{"delete by an address inside a prefix", "", "DELETE", "/v1/bans?addr=198.51.100.1", "", 404, "no live entry"},
		{"delete", "", "DELETE", "/v1/bans?addr=198.51.100.0/24", "", 200, `{"removed":1}`},
		{"delete in another spelling", "", "DELETE", "/v1/bans?addr=::ffff:203.0.113.7", "", 200, `{"removed":1}`},
		{"a bad limit", "", "GET", "/v1/bans?limit=0", "", 400, "limit"},
		{"a bad after", "", "GET", "/v1/bans?after=x", "", 400, "after"},
		{"list: every field of every entry", "", "GET", "/v1/bans", "", 200, `{"addr":"192.0.2.1-192.0.2.9","action":"allow","list":"api","observe":false,"comment":"","expires":null,"created":"`},
		{"check without an address", "", "GET", "/v1/check", "", 400, "ip"},
		{"check a zoned address", "", "GET", "/v1/check?ip=fe80::1%25eth0", "", 400, "zone"},
		{"check", "", "GET", "/v1/check?ip=192.0.2.1", "", 200, `"blocked":false`},
		{"check an address on no list: lists, not nulls", "", "GET", "/v1/check?ip=198.18.0.1", "", 200, `{"ip":"198.18.0.1","blocked":false,"list":"","lists":[],"observed":[],"matches":[]}`},
		{"check: every field of a file list's match", "", "GET", "/v1/check?ip=192.0.2.250", "", 200, `"matches":[{"list":"drop","action":"deny","source":"file","observe":false,"addr":"","expires":null}]`},
	}
	for _, tt := range tests {
		auth := "Bearer " + token
		switch tt.auth {
		case "-":
			auth = ""
		case "":
		default:
			auth = tt.auth
		}
		before := ls.Table().Len()
		status, body := callAs(t, srv, auth, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %s %s: %d %s, want %d with %q", tt.name, tt.method, tt.path, status, body, tt.status, tt.want)
		}
		if status != 200 && ls.Table().Len() != before {
			t.Errorf("%s: a refused request changed the live set (%d entries, %d before)", tt.name, ls.Table().Len(), before)
		}
	}
	ls.Close()
	if status, body := call(t, srv, "POST", "/v1/bans", `{"addr": "203.0.113.10"}`); status != 503 {
		t.Errorf("after the set closed: %d %s, want 503", status, body)
	}
}

func TestCheckExplainsTheDecision(t *testing.T) {
	srv, _, _ := newAPI(t, 0)
	if status, body := call(t, srv, "POST", "/v1/bans", `{"bans": [{"addr": "192.0.2.0/25", "list": "scanners", "ttl": "1h"}, {"addr": "192.0.2.200", "action": "allow"}]}`); status != 200 {
		t.Fatal(status, body)
	}
	tests := []struct {
		ip      string
		blocked bool
		list    string
		lists   []string
		sources []string // list:action:source
	}{
		{"192.0.2.7", true, "drop", []string{"drop", "scanners"}, []string{"drop:deny:file", "scanners:deny:live"}},
		{"192.0.2.130", true, "drop", []string{"drop"}, []string{"drop:deny:file"}},
		{"192.0.2.200", false, "", nil, []string{"drop:deny:file", "api:allow:live"}},
		{"::ffff:192.0.2.130", true, "drop", []string{"drop"}, []string{"drop:deny:file"}},
		{"8.8.8.8", false, "", nil, nil},
	}
	for _, tt := range tests {
		status, body := call(t, srv, "GET", "/v1/check?ip="+tt.ip, "")
		var c Check
		if status != 200 || json.Unmarshal([]byte(body), &c) != nil {
			t.Fatalf("check %s: %d %s", tt.ip, status, body)
		}
		var sources []string
		for _, m := range c.Matches {
			sources = append(sources, m.List+":"+m.Action+":"+m.Source)
			if m.Source == "live" && m.List == "scanners" && m.Expires == nil {
				t.Errorf("check %s: the expiring entry has no expires: %s", tt.ip, body)
			}
		}
		if c.Blocked != tt.blocked || c.List != tt.list || fmt.Sprint(c.Lists) != fmt.Sprint(tt.lists) || fmt.Sprint(sources) != fmt.Sprint(tt.sources) {
			t.Errorf("check %s: %s", tt.ip, body)
		}
	}
}

func TestListingPages(t *testing.T) {
	srv, _, _ := newAPI(t, 0)
	c := NewClient(strings.TrimPrefix(srv.URL, "http://"), token)
	var bans []Ban
	for i := range 25 {
		bans = append(bans, Ban{Addr: fmt.Sprintf("10.0.0.%d", i)})
	}
	if got, err := c.Ban(bans...); err != nil || got.Added != 25 {
		t.Fatal(got, err)
	}
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		status, body := call(t, srv, "GET", "/v1/bans?limit=10&after="+after, "")
		var l Listing
		if status != 200 || json.Unmarshal([]byte(body), &l) != nil || pages > 3 {
			t.Fatalf("page %d: %d %s", pages, status, body)
		}
		for _, b := range l.Bans {
			seen = append(seen, b.Addr)
			if b.Created.IsZero() || b.Expires != nil {
				t.Errorf("%s: created %v, expires %v", b.Addr, b.Created, b.Expires)
			}
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(seen) != 25 || seen[0] != "10.0.0.0" || seen[24] != "10.0.0.24" {
		t.Errorf("pages hold %v", seen)
	}
	all, err := c.Bans()
	if err != nil || len(all) != 25 {
		t.Errorf("Client.Bans: %d, %v", len(all), err)
	}
}

func TestOnePostOf100kEntries(t *testing.T) {
	srv, ls, set := newAPI(t, 0)
	var sb strings.Builder
	sb.WriteString(`{"bans": [`)
	for i := range 100_000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"addr": "10.%d.%d.%d", "ttl": "1h"}`, i>>16, (i>>8)&255, i&255)
	}
	sb.WriteString(`]}`)
	status, body := call(t, srv, "POST", "/v1/bans", sb.String())
	if status != 200 || body != `{"added":100000,"updated":0}` {
		t.Fatalf("%d %s", status, body)
	}
	if ls.Table().Len() != 100_000 || ls.Table().Lookup(netip.MustParseAddr("10.1.134.159").AsSlice()) == 0 {
		t.Error("the entries are not in force")
	}
	var sbm strings.Builder
	set.WritePrometheus(&sbm)
	for _, want := range []string{`spoaguard_api_requests_total{route="POST /v1/bans",status="200"} 1`, `spoaguard_api_change_in_force_seconds_count 1`} {
		if !strings.Contains(sbm.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNoTokenMeansNoCheck(t *testing.T) {
	h, _ := newHandler(t, live.Options{}, nil, Config{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if status, body := callAs(t, srv, "", "GET", "/v1/bans", ""); status != 200 {
		t.Errorf("a unix-socket API without a token: %d %s", status, body)
	}
}

// A posted ban's creation and expiry are on the live set's clock, the one it expires entries
// by.
func TestBansExpireByTheLiveSetsClock(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	h, ls := newHandler(t, live.Options{Now: func() time.Time { return at }}, nil, Config{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if status, body := callAs(t, srv, "", "POST", "/v1/bans", `{"addr": "203.0.113.7", "ttl": "1h"}`); status != 200 {
		t.Fatalf("POST: %d %s", status, body)
	}
	addr, err := blocklist.ParseEntry("203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := ls.Table().Get(addr)
	if !ok {
		t.Fatal("the ban is not in force")
	}
	if !e.Created.Equal(at) || !e.Expires.Equal(at.Add(time.Hour)) {
		t.Errorf("created %v, expires %v; want %v and an hour later", e.Created, e.Expires, at)
	}
}

// A POST that would grow the live set past its limit is 507 with the figures, and changes
// nothing; one that fits, and removals, still pass.
func TestAFullLiveSetIs507(t *testing.T) {
	h, ls := newHandler(t, live.Options{MaxEntries: 2}, nil, Config{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.1"}, {"addr": "203.0.113.2"}, {"addr": "203.0.113.3"}]}`, 507,
			"the live set is full: it holds 0 entries, and 3 more would pass its limit of 2 (-live-max-entries); nothing was changed"},
		{"POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.1"}, {"addr": "203.0.113.2"}]}`, 200, `"added":2`},
		{"POST", "/v1/bans", `{"addr": "203.0.113.1", "comment": "again"}`, 200, `"updated":1`},
		{"POST", "/v1/bans", `{"addr": "203.0.113.3"}`, 507, "limit of 2"},
		{"DELETE", "/v1/bans?addr=203.0.113.2", "", 200, `"removed":1`},
		{"POST", "/v1/bans", `{"addr": "203.0.113.3"}`, 200, `"added":1`},
	} {
		before := ls.Table().Len()
		status, body := callAs(t, srv, "", tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", tc.method, tc.path, tc.body, status, body, tc.status, tc.want)
		}
		if status == 507 && ls.Table().Len() != before {
			t.Errorf("a 507 changed the live set: %d entries, %d before", ls.Table().Len(), before)
		}
	}
}

// A change the shared set took but this agent's live set left out in part is 507, saying
// so, and not that nothing changed.
func TestAChangeLeftOutOfAFullSetIs507(t *testing.T) {
	apply := func(context.Context, []live.Change) (live.Counts, error) {
		return live.Counts{}, fmt.Errorf("%w: 1 of its entries are not in force here", ErrLeftOut)
	}
	h, _ := newHandler(t, live.Options{}, nil, Config{Apply: apply})
	srv := httptest.NewServer(h)
	defer srv.Close()
	status, body := callAs(t, srv, "", "POST", "/v1/bans", `{"addr": "203.0.113.1"}`)
	if status != 507 || !strings.Contains(body, "in the shared live set") || strings.Contains(body, "nothing was changed") {
		t.Errorf("%d %s, want 507 saying the change is in the shared set", status, body)
	}
}
