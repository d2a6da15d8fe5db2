package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/feedtest"
	"github.com/spoaguard/spoaguard/internal/geoiptest"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// eventually polls cond for at most 30 s: the agent applies a download at its next refresh,
// whose time the test does not control.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, what, cond)
}

func metricValue(metrics, name string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestAgentFollowsAFeedByURL serves a real FireHOL netset over HTTP to the running agent,
// changes it, breaks it, and checks the decisions at each step, then restarts the agent with
// the feed down.
func TestAgentFollowsAFeedByURL(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/feeds/firehol_level1_2021-06-28.netset")
	if err != nil {
		t.Fatal(err)
	}
	v1 := string(raw)
	// v2 drops 223.254.0.0/16 and adds 9.9.9.0/24: the same entry count.
	v2 := strings.Replace(v1, "223.254.0.0/16\n", "9.9.9.0/24\n", 1)
	if v2 == v1 {
		t.Fatal("the fixture changed: 223.254.0.0/16 is not in it")
	}
	srv := feedtest.New(t, v1)
	state := t.TempDir()
	deny := "firehol=" + srv.URL + "/firehol_level1.netset,allow-short,refresh=50ms,stale-after=1ms"
	a := startAgent(t, "-deny", deny, "-state-dir", state)
	c := a.dial(t)
	check := func(step string, want map[string]bool) {
		t.Helper()
		for ip, w := range want {
			if got, list := c.decide(netip.MustParseAddr(ip)); got != w || (w && list != "firehol") {
				t.Errorf("%s: %s blocked=%v list=%q, want blocked=%v", step, ip, got, list, w)
			}
		}
	}
	check("first download", map[string]bool{"223.254.1.1": true, "9.9.9.9": false, "36.50.1.1": true})
	if code, body := a.get(t, "/readyz"); code != 200 || !strings.Contains(body, "list firehol: ready: loaded: 2892 entries") {
		t.Errorf("/readyz %d %q: want the list loaded", code, body)
	}

	srv.Set(v2)
	eventually(t, "the changed feed applied", func() bool { b, _ := c.decide(netip.MustParseAddr("9.9.9.9")); return b })
	eventually(t, "the reload logged as the list's download", func() bool {
		return strings.Contains(a.logs.String(), `msg="lists reloaded" trigger=download lists=firehol duration=`)
	})
	check("changed feed", map[string]bool{"223.254.1.1": false, "9.9.9.9": true, "36.50.1.1": true})

	// A truncated download (the entry count no longer matches) and then a failing server:
	// the last good list stays, the failures are counted and the list becomes stale.
	srv.Set(v1[:len(v1)/2])
	eventually(t, "the truncated download refused", func() bool {
		return strings.Contains(a.logs.String(), "truncated")
	})
	srv.Fail(http.StatusServiceUnavailable)
	failedMetric := `spoaguard_feed_fetches_total{list="firehol",result="failed"}`
	eventually(t, "the failing feed counted", func() bool {
		v := metricValue(a.scrape(t), failedMetric)
		return v != "" && v != "0" && v != "1"
	})
	check("failing feed", map[string]bool{"223.254.1.1": false, "9.9.9.9": true})
	if code, body := a.get(t, "/readyz"); code != 200 || !strings.HasPrefix(body, "degraded") || !strings.Contains(body, "longer than stale-after") {
		t.Errorf("/readyz %d %q: want degraded, the list stale", code, body)
	}
	m := a.scrape(t)
	for name, want := range map[string]string{
		`spoaguard_feed_fetches_total{list="firehol",result="updated"}`: "2",
		`spoaguard_feed_stale{list="firehol"}`:                          "1",
		`spoaguard_list_entries{list="firehol"}`:                        "2892",
	} {
		if got := metricValue(m, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}
	if v := metricValue(m, `spoaguard_feed_last_success_timestamp_seconds{list="firehol"}`); v == "" || v == "0" {
		t.Errorf("last success %q", v)
	}

	// A restart with the feed still down serves the last good download at once.
	a.stop()
	<-a.err
	a.err <- nil
	b := startAgent(t, "-deny", deny, "-state-dir", state)
	if !strings.Contains(b.logs.String(), "serving the cached copy") {
		t.Errorf("the start-up log does not say the cached copy is served:\n%s", b.logs)
	}
	c = b.dial(t)
	check("restart without the feed", map[string]bool{"223.254.1.1": false, "9.9.9.9": true, "36.50.1.1": true})
}

// TestAgentBlocksTheSelectedCountries runs the agent on a generated Country database with
// countries=: exactly the networks of those countries are blocked, IPv4 and IPv6.
func TestAgentBlocksTheSelectedCountries(t *testing.T) {
	nets := geoiptest.FullCountry(3000, 1000)
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, path, nets, geoiptest.Options{})
	a := startAgent(t, "-deny", "geo="+path+",format=mmdb,countries=CN+RU")
	c := a.dial(t)
	selected := map[string]bool{"CN": true, "RU": true}
	var blocked, passed int
	for _, n := range nets {
		p := netip.MustParsePrefix(n.CIDR)
		first := p.Addr()
		last := lastAddr(p)
		for _, ip := range []netip.Addr{first, last} {
			got, list := c.decide(ip)
			if got != selected[n.Country] || (got && list != "geo") {
				t.Fatalf("%s (%s, %s): blocked=%v list=%q", ip, n.CIDR, n.Country, got, list)
			}
		}
		// The generator leaves a gap after every network: its first address is in no country.
		if got, _ := c.decide(last.Next()); got {
			t.Fatalf("%s, just after %s, is blocked", last.Next(), n.CIDR)
		}
		if selected[n.Country] {
			blocked++
		} else {
			passed++
		}
	}
	if blocked == 0 || passed == 0 {
		t.Fatalf("%d networks selected, %d not: the test database does not test both", blocked, passed)
	}
	if got := metricValue(a.scrape(t), `spoaguard_list_entries{list="geo"}`); got != fmt.Sprint(blocked) {
		t.Errorf("entries %s, want %d", got, blocked)
	}
	if got := metricValue(a.scrape(t), `spoaguard_list_unmatched_selectors{list="geo"}`); got != "0" {
		t.Errorf("unmatched selectors %s, want 0", got)
	}
}

// A selection one of whose countries has no network in the database is a warning of -check
// and counted in the list's metrics, though the list has entries.
func TestCountriesThatMatchNothingAreReported(t *testing.T) {
	db := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, db, []geoiptest.Network{{CIDR: "203.0.113.0/24", Country: "CN"}}, geoiptest.Options{})
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check", "-deny", "geo=" + db + ",countries=CN+XX"}, &out, &bytes.Buffer{}, nil); err != nil {
		t.Fatalf("run = %v\n%s", err, &out)
	}
	for _, want := range []string{"format mmdb, 1 entries", "warning: countries=XX match no network of the database", "1 warnings"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-check output lacks %q:\n%s", want, &out)
		}
	}
	a := startAgent(t, "-deny", "geo="+db+",format=mmdb,countries=CN+XX")
	if got := metricValue(a.scrape(t), `spoaguard_list_unmatched_selectors{list="geo"}`); got != "1" {
		t.Errorf("unmatched selectors %s, want 1", got)
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestCheckReadsURLAndMMDBLists: -check downloads a URL list once (keeping nothing) and walks a
// database as start-up would, and reports a feed that does not answer as a failure.
func TestCheckReadsURLAndMMDBLists(t *testing.T) {
	srv := feedtest.New(t, "# Entries : 2\n192.0.2.1\n198.51.100.0/24\n")
	db := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, db, []geoiptest.Network{{CIDR: "203.0.113.0/24", Country: "CN"}, {CIDR: "2001:db8::/32", Country: "RU"}}, geoiptest.Options{})
	var out bytes.Buffer
	err := run(t.Context(), []string{"-check", "-deny", "feed=" + srv.URL + "/x.netset", "-deny", "geo=" + db + ",countries=CN+RU"},
		&out, &bytes.Buffer{}, nil)
	if err != nil {
		t.Fatalf("run = %v\n%s", err, &out)
	}
	for _, want := range []string{"list feed (deny) " + srv.URL, "format netset, 2 entries", "list geo (deny)", "format mmdb, 2 entries", "OK: 2 lists, 4 entries"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	srv.Fail(http.StatusNotFound)
	out.Reset()
	if err := run(t.Context(), []string{"-check", "-deny", "feed=" + srv.URL + "/x.netset"}, &out, &bytes.Buffer{}, nil); !errors.Is(err, errCheckFailed) || !strings.Contains(out.String(), "404") {
		t.Errorf("a feed answering 404: %v\n%s", err, &out)
	}
}

// A list file changed on disk is reloaded by polling, and the log names it and its trigger.
func TestPolledReloadNamesTheList(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	testutil.WriteFile(t, a, "192.0.2.1\n")
	testutil.WriteFile(t, b, "192.0.2.2\n")
	agent := startAgent(t, "-reload-interval", "50ms", "-deny", "a="+a, "-deny", "b="+b)
	testutil.WriteFile(t, b, "192.0.2.2\n192.0.2.3\n")
	agent.waitFor(t, "the polled reload logged with its list", func() bool {
		return strings.Contains(agent.logs.String(), `msg="lists reloaded" trigger="file change" lists=b duration=`)
	})
}

// TestCheckDownloadsAsTheAgentDoes: -check fetches a URL list with the agent's User-Agent, so
// that a feed that filters on it answers -check as it answers the agent.
func TestCheckDownloadsAsTheAgentDoes(t *testing.T) {
	uas := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case uas <- r.UserAgent():
		default:
		}
		io.WriteString(w, "192.0.2.1\n")
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check", "-deny", "feed=" + srv.URL + "/x.txt"}, &out, &bytes.Buffer{}, nil); err != nil {
		t.Fatalf("run = %v\n%s", err, &out)
	}
	if ua := <-uas; ua != userAgent() {
		t.Errorf("-check sent User-Agent %q, the agent sends %q", ua, userAgent())
	}
}
