package decision

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
)

// liveHandler is testHandler's lists (allow office; deny drop, tor), a file deny list trial
// in observe mode, and a live set.
func liveHandler(t testing.TB, set *metrics.Set) (*Handler, *live.Set) {
	t.Helper()
	src := &staticSource{}
	src.p.Store(buildSnapshot(t,
		[3]string{"office", "allow", "127.0.0.9\n10.9.0.0/16\n"},
		[3]string{"drop", "deny", "127.0.0.2\n127.0.0.9\n192.0.2.0/24\n2001:db8::/32\n"},
		[3]string{"tor", "deny", "127.0.0.2\n198.51.100.7\n"},
		[3]string{"trial", "deny", "203.0.113.0/24\n192.0.2.77\n"},
	))
	ls, err := live.Open(live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	h, err := New(src, Config{Observe: func(l string) bool { return l == "trial" }, Live: ls, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	return h, ls
}

func ban(t testing.TB, ls *live.Set, addr, list string, action blocklist.Kind, observe bool) {
	t.Helper()
	a, err := blocklist.ParseEntry(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Apply([]live.Change{{Op: live.Put, Entry: live.Entry{Addr: a, List: list, Action: action, Observe: observe}}}); err != nil {
		t.Fatal(err)
	}
}

// vars returns the STRING variables an ACK sets, by name.
func (a ack) vars() map[string]string {
	out := map[string]string{}
	for _, act := range a {
		if act.Value.Type == 0 || string(act.Name) == "blocked" {
			continue
		}
		out[string(act.Name)] = string(act.Value.Bytes)
	}
	return out
}

func TestPrecedenceAcrossFileAndLiveLists(t *testing.T) {
	h, ls := liveHandler(t, nil)
	ban(t, ls, "10.0.0.1", "", blocklist.Deny, false)             // live only
	ban(t, ls, "127.0.0.9", "", blocklist.Deny, false)            // on file allow office too
	ban(t, ls, "198.51.100.7", "vip", blocklist.Allow, false)     // live allow over file deny tor
	ban(t, ls, "192.0.2.0/25", "scanners", blocklist.Deny, false) // overlaps file deny drop
	ban(t, ls, "10.9.1.1", "", blocklist.Deny, false)             // inside file allow 10.9.0.0/16
	ban(t, ls, "10.2.0.0/16", "canary", blocklist.Deny, true)     // live observe
	ban(t, ls, "10.2.0.5", "", blocklist.Deny, false)             // live deny inside live observe
	ban(t, ls, "198.51.100.0/24", "drop", blocklist.Deny, false)  // a live list named as a file list
	ban(t, ls, "192.0.2.201", "drop", blocklist.Deny, false)      // and on that file list too
	ban(t, ls, "203.0.113.8", "trial", blocklist.Deny, true)      // and one named as a file observe list
	tests := []struct {
		name string
		ip   string
		vars map[string]string // the STRING variables set; empty: not blocked, nothing observed
	}{
		{"a live deny blocks an address on no file list", "10.0.0.1", map[string]string{"list": "api", "lists": "api"}},
		{"a file allow wins over a live deny", "127.0.0.9", map[string]string{}},
		{"a file allow prefix wins over a live deny inside it", "10.9.1.1", map[string]string{}},
		{"a live allow wins over a file deny", "198.51.100.7", map[string]string{}},
		{"file lists name the block before live lists; lists has both", "192.0.2.5", map[string]string{"list": "drop", "lists": "drop,scanners"}},
		{"outside the live prefix only the file list matches", "192.0.2.200", map[string]string{"list": "drop", "lists": "drop"}},
		{"every matching file deny list is in lists", "127.0.0.2", map[string]string{"list": "drop", "lists": "drop,tor"}},
		{"a file observe list never blocks", "203.0.113.9", map[string]string{"observed": "trial"}},
		{"an observe list is reported beside the list that blocks", "192.0.2.77", map[string]string{"list": "drop", "lists": "drop,scanners", "observed": "trial"}},
		{"a live observe entry never blocks", "10.2.9.9", map[string]string{"observed": "canary"}},
		{"a live deny blocks inside a live observe prefix", "10.2.0.5", map[string]string{"list": "api", "lists": "api", "observed": "canary"}},
		{"a name on a file list and a live list is in lists once", "192.0.2.201", map[string]string{"list": "drop", "lists": "drop"}},
		{"a live list named as a file list blocks under that name", "198.51.100.9", map[string]string{"list": "drop", "lists": "drop"}},
		{"a name observed on a file list and a live list is reported once", "203.0.113.8", map[string]string{"observed": "trial"}},
		{"on no list", "8.8.8.8", map[string]string{}},
		{"a mapped address is its IPv4 address", "::ffff:10.0.0.1", map[string]string{"list": "api", "lists": "api"}},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.ip)
		var got ack
		if a.Is4() {
			got = answerOne(t, h, notifyWith(1, "check-client-ip", "ip", ip4(tt.ip)))
		} else {
			got = answerOne(t, h, notifyWith(1, "check-client-ip", "ip", ip6(tt.ip)))
		}
		if b := got.blocked(t); b != (tt.vars["list"] != "") {
			t.Errorf("%s: %s blocked=%v", tt.name, tt.ip, b)
		}
		if v := got.vars(); !mapsEqual(v, tt.vars) {
			t.Errorf("%s: %s sets %v, want %v", tt.name, tt.ip, v, tt.vars)
		}
		x := h.Explain(a)
		if x.Blocked != (tt.vars["list"] != "") || x.List != tt.vars["list"] ||
			strings.Join(x.Lists, ",") != tt.vars["lists"] || strings.Join(x.Observed, ",") != tt.vars["observed"] {
			t.Errorf("%s: Explain(%s) = %+v, the ACK sets %v", tt.name, tt.ip, x, tt.vars)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestExplainNamesEveryMatch(t *testing.T) {
	h, ls := liveHandler(t, nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	a, _ := blocklist.ParseEntry("192.0.2.0/25")
	if _, err := ls.Apply([]live.Change{{Op: live.Put, Entry: live.Entry{Addr: a, List: "scanners", Expires: exp}}}); err != nil {
		t.Fatal(err)
	}
	x := h.Explain(netip.MustParseAddr("192.0.2.77"))
	var got []string
	for _, m := range x.Matches {
		s := m.List + ":" + m.Action.String()
		if m.Observe {
			s += ":observe"
		}
		if m.Live {
			s += ":live:" + m.Entry.String()
			if !m.Expires.Equal(exp) {
				t.Errorf("expires %v, want %v", m.Expires, exp)
			}
		}
		got = append(got, s)
	}
	want := []string{"drop:deny", "trial:deny:observe", "scanners:deny:live:192.0.2.0/25"}
	if !slices.Equal(got, want) {
		t.Errorf("matches %v, want %v", got, want)
	}
}

// TestReadYourWrites: once Apply has returned, the next batch on a connection that has
// already answered NOTIFYs decides with the change.
func TestReadYourWrites(t *testing.T) {
	h, ls := liveHandler(t, nil)
	d := newDriver(h.NewConn())
	n := notifyWith(1, "check-client-ip", "ip", ip4("10.7.7.7"))
	for i := range 20 {
		if got := answer(t, d, n)[0].blocked(t); got != (i%2 == 1) {
			t.Fatalf("change %d: blocked=%v", i, got)
		}
		a, _ := blocklist.ParseEntry("10.7.7.7")
		op := live.Put
		if i%2 == 1 {
			op = live.Delete
		}
		if _, err := ls.Apply([]live.Change{{Op: op, Entry: live.Entry{Addr: a}}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestObservedAndBlockedCountedPerList(t *testing.T) {
	set := metrics.NewSet()
	h, ls := liveHandler(t, set)
	ban(t, ls, "10.2.0.0/16", "canary", blocklist.Deny, true)
	ban(t, ls, "10.0.0.1", "", blocklist.Deny, false)
	ban(t, ls, "203.0.113.1", "trial", blocklist.Deny, true) // on the file list trial too: counted once
	in := slices.Concat(
		notifyWith(1, "check-client-ip", "ip", ip4("203.0.113.1")),
		notifyWith(2, "check-client-ip", "ip", ip4("192.0.2.77")),
		notifyWith(3, "check-client-ip", "ip", ip4("10.2.3.4")),
		notifyWith(4, "check-client-ip", "ip", ip4("10.0.0.1")),
	)
	answer(t, newDriver(h.NewConn()), in)
	wantMetrics(t, set,
		`spoaguard_observed_total{list="trial"} 2`,
		`spoaguard_observed_total{list="canary"} 1`,
		`spoaguard_blocked_total{list="drop"} 1`,
		`spoaguard_blocked_total{list="api"} 1`,
		`spoaguard_decisions_total{decision="blocked"} 2`,
		`spoaguard_decisions_total{decision="allowed"} 2`,
	)
}

// TestLiveDecisionsDoNotAllocate: with a live set, on the paths that encode the lists and
// observed variables per ACK as well as the pre-encoded ones.
func TestLiveDecisionsDoNotAllocate(t *testing.T) {
	h, ls := liveHandler(t, nil)
	ban(t, ls, "192.0.2.0/25", "scanners", blocklist.Deny, false)
	ban(t, ls, "10.2.0.0/16", "canary", blocklist.Deny, true)
	ban(t, ls, "10.0.0.1", "", blocklist.Deny, false)
	ban(t, ls, "192.0.2.201", "drop", blocklist.Deny, false) // and on the file list drop
	d := newDriver(h.NewConn())
	for _, ip := range []string{"8.8.8.8", "10.0.0.1", "192.0.2.77", "127.0.0.2", "203.0.113.1", "10.2.0.1", "198.51.100.7", "192.0.2.201"} {
		in := notifyWith(1, "check-client-ip", "ip", ip4(ip))
		out := make([]byte, 0, 4096)
		d.respond(in, out[:0], nil) // the first batch builds the verdicts and grows the buffers
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := d.respond(in, out[:0], nil); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per NOTIFY, want 0", ip, n)
		}
	}
}

// TestALiveChangeKeepingTheListsReusesTheVerdicts: a ban or unban in lists that exist already
// (nearly every live change) gives the next batch a copy of the verdicts it had, not a new
// encoding of every list and a lookup of every counter, on the event loop.
func TestALiveChangeKeepingTheListsReusesTheVerdicts(t *testing.T) {
	h, ls := liveHandler(t, nil)
	ban(t, ls, "192.0.2.0/25", "scanners", blocklist.Deny, false)
	ban(t, ls, "10.2.0.0/16", "canary", blocklist.Deny, true)
	before := ls.Table()
	ban(t, ls, "10.0.0.1", "scanners", blocklist.Deny, false)
	after := ls.Table()
	snap := h.src.Snapshot()
	h.verdictsFor(snap, before)
	if n := testing.AllocsPerRun(100, func() {
		h.verdictsFor(snap, after)
		h.verdictsFor(snap, before)
	}); n > 2 {
		t.Errorf("%v allocations to move between two tables with the same lists, want at most 2 (one copy each)", n)
	}
	v := h.verdictsFor(snap, after)
	if got, want := v.names[liveBase+after.ListOf(&live.Entry{List: "scanners"})], "scanners"; string(got) != want {
		t.Errorf("reused verdicts name %q, want %q", got, want)
	}
	ban(t, ls, "10.0.0.2", "new-list", blocklist.Deny, false)
	if v := h.verdictsFor(snap, ls.Table()); !v.sameLive(ls.Table()) || len(v.liveLists) != 3 {
		t.Errorf("a table with a new list got verdicts for %d lists", len(v.liveLists))
	}
}
