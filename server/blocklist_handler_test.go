package server

import (
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"weak"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
)

// staticSource serves a snapshot that tests can swap.
type staticSource struct {
	p atomic.Pointer[blocklist.Snapshot]
}

func (s *staticSource) Snapshot() *blocklist.Snapshot { return s.p.Load() }

// buildSnapshot builds lists from inline plain-format contents; kind "allow" or "deny".
func buildSnapshot(t testing.TB, lists ...[3]string) *blocklist.Snapshot {
	t.Helper()
	var ls []blocklist.List
	for _, l := range lists {
		kind := blocklist.Deny
		if l[1] == "allow" {
			kind = blocklist.Allow
		}
		src := blocklist.Source{Name: l[0], Path: l[0], Kind: kind}
		p, line, err := blocklist.Parse(strings.NewReader(l[2]), src)
		if err != nil {
			t.Fatalf("list %s line %d: %v", l[0], line, err)
		}
		ls = append(ls, blocklist.List{Name: l[0], Kind: kind, Parsed: p})
	}
	snap, err := blocklist.Build(ls, blocklist.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func testBlocklistHandler(t testing.TB, set *metrics.Set) (*BlocklistHandler, *staticSource) {
	src := &staticSource{}
	src.p.Store(buildSnapshot(t,
		[3]string{"office", "allow", "127.0.0.9\n"},
		[3]string{"drop", "deny", "127.0.0.2\n127.0.0.9\n192.0.2.0/24\n2001:db8::/32\n"},
		[3]string{"tor", "deny", "127.0.0.2\n198.51.100.7\n"},
	))
	h, err := NewBlocklistHandler(src, BlocklistConfig{
		Messages: []string{"check-client-ip", "check-request"},
		Metrics:  set,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, src
}

// handshakenBlocklistSession returns a session with the test blocklist handler, past its
// HELLO, and the source whose snapshot tests can swap.
func handshakenBlocklistSession(t testing.TB, set *metrics.Set) (*session, *staticSource) {
	t.Helper()
	h, src := testBlocklistHandler(t, set)
	cfg := testSessionConfig()
	cfg.handler = h
	s := newSession(cfg)
	if _, out, closeAfter := s.handle(v26(t, "01_"), nil); closeAfter || len(out) == 0 {
		t.Fatal("HELLO refused")
	}
	return s, src
}

// notifyWith builds a NOTIFY with one message whose arguments are given.
func notifyWith(sid uint64, msg string, args ...any) []byte {
	b, start := codec.BeginFrame(nil, codec.FrameNotify, codec.FlagFin, sid, 1)
	b = codec.AppendMessage(b, msg, uint8(len(args)/2))
	for i := 0; i < len(args); i += 2 {
		b = codec.AppendArg(b, args[i].(string), args[i+1].(codec.Value))
	}
	return codec.FinishFrame(b, start)
}

func str(s string) codec.Value { return codec.StringValue([]byte(s)) }
func ip4(s string) codec.Value {
	a := netip.MustParseAddr(s).As4()
	return codec.IPv4Value(&a)
}
func ip6(s string) codec.Value {
	a := netip.MustParseAddr(s).As16()
	return codec.IPv6Value(&a)
}

func TestBlocklistDecisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notify []byte
		list   string // "" = not blocked
	}{
		{"captured 2.6 NOTIFY, blocked", v26(t, "07_"), "drop"},
		{"captured 2.6 NOTIFY, clean", v26(t, "06_"), ""},
		{"captured 3.4 NOTIFY, blocked", v34(t, "04_"), "drop"},
		{"captured IPv6 ::1", v26(t, "08_"), ""},
		{"captured 12 args: ip 127.0.0.5", v26(t, "11_"), ""},
		{"named arg wins over earlier address", notifyWith(1, "check-client-ip", "src", ip4("192.0.2.1"), "ip", ip4("10.0.0.1")), ""},
		{"first address arg when the name is absent", notifyWith(1, "check-client-ip", "n", codec.Int64Value(5), "src", ip4("192.0.2.1")), "drop"},
		{"first matching deny list named", notifyWith(1, "check-client-ip", "ip", ip4("198.51.100.7")), "tor"},
		{"allow list exempts", notifyWith(1, "check-client-ip", "ip", ip4("127.0.0.9")), ""},
		{"IPv6", notifyWith(1, "check-client-ip", "ip", ip6("2001:db8::5")), "drop"},
		{"v4-mapped IPv6 is IPv4", notifyWith(1, "check-client-ip", "ip", ip6("::ffff:192.0.2.9")), "drop"},
		{"XFF string IPv4", notifyWith(1, "check-client-ip", "ip", str("192.0.2.44")), "drop"},
		{"XFF string list, last element", notifyWith(1, "check-client-ip", "ip", str("10.1.1.1, 198.51.100.7")), "tor"},
		{"XFF string IPv6", notifyWith(1, "check-client-ip", "ip", str(" 2001:db8::1 ")), "drop"},
		{"XFF string garbage", notifyWith(1, "check-client-ip", "ip", str("unknown")), ""},
		{"NULL (missing header)", notifyWith(1, "check-client-ip", "ip", codec.NullValue()), ""},
		{"NULL XFF: src decides", notifyWith(1, "check-client-ip", "ip", codec.NullValue(), "src", ip4("192.0.2.3")), "drop"},
		{"garbage XFF: src decides", notifyWith(1, "check-client-ip", "ip", str("garbage"), "src", ip4("192.0.2.3")), "drop"},
		{"unlisted XFF from a listed src", notifyWith(1, "check-client-ip", "ip", str("10.0.0.1"), "src", ip4("192.0.2.3")), ""},
		{"other message ignored", notifyWith(1, "something-else", "ip", ip4("192.0.2.1")), ""},
		{"no arguments", notifyWith(1, "check-client-ip"), ""},
		{"empty NOTIFY (3.1-3.3)", frameWith(codec.FrameNotify, codec.FlagFin, 1, 1, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := testBlocklistHandler(t, nil)
			cfg := testSessionConfig()
			cfg.handler = h
			out, _, closeAfter, _ := run(t, cfg, cat(v26(t, "01_"), tc.notify))
			if closeAfter || len(out) != 2 {
				t.Fatalf("got %v closeAfter %v", out, closeAfter)
			}
			ack := out[1]
			if got := ack.blockedVar(t); got != (tc.list != "") {
				t.Fatalf("blocked=%v, want %v (actions %v)", got, tc.list != "", ack.actions)
			}
			var list string
			for _, a := range ack.actions {
				if string(a.Name) == "list" {
					if a.Value.Type != codec.TypeString || a.Scope != codec.ScopeTxn {
						t.Errorf("list action %v", a)
					}
					list = string(a.Value.Bytes)
				}
			}
			if list != tc.list {
				t.Errorf("list=%q, want %q", list, tc.list)
			}
		})
	}
}

func TestBlocklistMetricsPerBatch(t *testing.T) {
	set := metrics.NewSet()
	s, _ := handshakenBlocklistSession(t, set)
	in := cat(v26(t, "07_"), v26(t, "06_"), notifyWith(9, "check-client-ip", "ip", ip4("198.51.100.7")))
	if _, out, _ := s.handle(in, nil); len(decodeAll(t, out)) != 3 {
		t.Fatal("want 3 ACKs")
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, want := range []string{
		`spoaguard_decisions_total{decision="blocked"} 2`,
		`spoaguard_decisions_total{decision="allowed"} 1`,
		`spoaguard_blocked_total{list="drop"} 1`,
		`spoaguard_blocked_total{list="tor"} 1`,
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, sb.String())
		}
	}
}

// TestBlocklistNotifyToAckDoesNotAllocate: the real handler on real NOTIFYs, including the
// string (X-Forwarded-For) path and a NOTIFY whose string is not an address.
func TestBlocklistNotifyToAckDoesNotAllocate(t *testing.T) {
	s, _ := handshakenBlocklistSession(t, nil)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"15 NOTIFYs", v26(t, "29_")},
		{"blocked", v26(t, "07_")},
		{"12 args", v26(t, "11_")},
		{"IPv6", v34(t, "05_")},
		{"XFF IPv4", notifyWith(1, "check-client-ip", "ip", str("192.0.2.44"))},
		{"XFF IPv6", notifyWith(1, "check-client-ip", "ip", str("2001:db8::1"))},
		{"XFF garbage", notifyWith(1, "check-client-ip", "ip", str("1.2.3.999"))},
	} {
		out := make([]byte, 0, 4096)
		allocs := testing.AllocsPerRun(1000, func() {
			if n, _, closeAfter := s.handle(tc.in, out[:0]); n != len(tc.in) || closeAfter {
				t.Fatalf("%s: not handled", tc.name)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per batch, want 0", tc.name, allocs)
		}
	}
}

func TestParseAddrText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1\t", "192.0.2.1"},
		{"10.0.0.1, 192.0.2.1", "192.0.2.1"},
		{"::1", "::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		{"1::", "1::"},
		{"::", "::"},
		{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
		{"", ""}, {"unknown", ""}, {"01.2.3.4", ""}, {"1.2.3", ""}, {"1.2.3.4.5", ""},
		{"256.1.1.1", ""}, {"fe80::1%eth0", ""}, {"1:2:3:4:5:6:7:8:9", ""}, {"1::2::3", ""},
		{"12345::", ""}, {"1:2:3:4:5:6:7::8", ""}, {":1::", ""}, {"1.2.3.4:80", ""},
	} {
		var ip [16]byte
		n := parseAddrText([]byte(tc.in), &ip)
		got := ""
		switch n {
		case 4:
			got = netip.AddrFrom4([4]byte(ip[:4])).String()
		case 16:
			got = netip.AddrFrom16(ip).String()
		}
		if got != tc.want {
			t.Errorf("parseAddrText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseAddrText checks the allocation-free parser against netip.ParseAddr.
func FuzzParseAddrText(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "a:b::c", "1::2:3:4:5:6:7", "0.0.0.0", "fe80::1%1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, ",[] \t\r\n\v\f") {
			return // preprocessing (list, brackets, spaces) is tested above
		}
		var ip [16]byte
		n := parseAddrText([]byte(s), &ip)
		a, err := netip.ParseAddr(s)
		ok := err == nil && a.Zone() == "" && len(s) <= maxAddrText
		if (n != 0) != ok {
			t.Fatalf("%q: parseAddrText n=%d, netip ok=%v (%v)", s, n, ok, err)
		}
		if !ok {
			return
		}
		want := a.AsSlice()
		if string(ip[:n]) != string(want) {
			t.Fatalf("%q: got % x, want % x", s, ip[:n], want)
		}
	})
}

// TestBlocklistScope: every scope is sent as configured, proc (scope 0) included, and the
// default is txn. A zero-valued scope once meant "default", which turned proc into txn.
func TestBlocklistScope(t *testing.T) {
	for _, tc := range []struct {
		name string
		want codec.Scope
	}{{"", codec.ScopeTxn}, {"proc", codec.ScopeProc}, {"sess", codec.ScopeSess}, {"txn", codec.ScopeTxn}, {"req", codec.ScopeReq}, {"res", codec.ScopeRes}} {
		src := &staticSource{}
		src.p.Store(buildSnapshot(t, [3]string{"drop", "deny", "127.0.0.2\n"}))
		h, err := NewBlocklistHandler(src, BlocklistConfig{Scope: tc.name})
		if err != nil {
			t.Fatalf("scope %q: %v", tc.name, err)
		}
		cfg := testSessionConfig()
		cfg.handler = h
		out, _, _, _ := run(t, cfg, cat(v26(t, "01_"), v26(t, "07_")))
		if len(out) != 2 {
			t.Fatalf("scope %q: got %v", tc.name, out)
		}
		for _, a := range out[1].actions {
			if a.Scope != tc.want {
				t.Errorf("scope %q: action %s has scope %s, want %s", tc.name, a.Name, a.Scope, tc.want)
			}
		}
	}
	if _, err := NewBlocklistHandler(&staticSource{}, BlocklistConfig{Scope: "global"}); err == nil {
		t.Error("scope \"global\" accepted")
	}
}

func TestBlocklistRefusesNamesHAProxyCannotReference(t *testing.T) {
	for _, name := range []string{"is-blocked", "blocked!", "bl ocked", "blocké"} {
		if _, err := NewBlocklistHandler(&staticSource{}, BlocklistConfig{VarBlocked: name}); err == nil {
			t.Errorf("variable name %q accepted", name)
		}
	}
	if _, err := NewBlocklistHandler(&staticSource{}, BlocklistConfig{VarBlocked: "ip.blocked_v2", VarList: "List9"}); err != nil {
		t.Errorf("valid names refused: %v", err)
	}
}

// listVar returns the list variable an ACK sets, "" when none.
func listVar(t *testing.T, ack decoded) string {
	t.Helper()
	for _, a := range ack.actions {
		if string(a.Name) == "list" {
			return string(a.Value.Bytes)
		}
	}
	return ""
}

// The pre-encoded verdicts belong to a snapshot: after a reload that renames and reorders the
// lists, the next batch on the same connection names the new list, and counts it.
func TestBlocklistVerdictsFollowTheSnapshot(t *testing.T) {
	set := metrics.NewSet()
	s, src := handshakenBlocklistSession(t, set)
	ask := func(sid uint64, ip string) decoded {
		t.Helper()
		_, out, _ := s.handle(notifyWith(sid, "check-client-ip", "ip", ip4(ip)), nil)
		acks := decodeAll(t, out)
		if len(acks) != 1 || acks[0].StreamID != sid {
			t.Fatalf("want the ACK of %d, got %v", sid, acks)
		}
		return acks[0]
	}
	if got := listVar(t, ask(1, "198.51.100.7")); got != "tor" {
		t.Fatalf("before the reload: list=%q, want tor", got)
	}
	src.p.Store(buildSnapshot(t,
		[3]string{"spamhaus-drop", "deny", "203.0.113.0/24\n"},
		[3]string{"firehol-level1", "deny", "198.51.100.0/24\n"},
	))
	if got := listVar(t, ask(2, "198.51.100.7")); got != "firehol-level1" {
		t.Errorf("after the reload: list=%q, want firehol-level1", got)
	}
	if got := listVar(t, ask(3, "203.0.113.1")); got != "spamhaus-drop" {
		t.Errorf("after the reload: list=%q, want spamhaus-drop", got)
	}
	if ack := ask(4, "127.0.0.2"); ack.blockedVar(t) || listVar(t, ack) != "" {
		t.Errorf("127.0.0.2 is no longer listed, got %v", ack.actions)
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, want := range []string{
		`spoaguard_blocked_total{list="tor"} 1`,
		`spoaguard_blocked_total{list="firehol-level1"} 1`,
		`spoaguard_blocked_total{list="spamhaus-drop"} 1`,
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, sb.String())
		}
	}
}

// A replaced snapshot is not kept alive by the handler once no batch uses it, even when no
// NOTIFY has come since the reload: a 2M-entry list is tens of megabytes.
func TestBlocklistDoesNotPinAReplacedSnapshot(t *testing.T) {
	s, src := handshakenBlocklistSession(t, nil)
	if _, out, _ := s.handle(v26(t, "07_"), nil); !decodeAll(t, out)[0].blockedVar(t) {
		t.Fatal("127.0.0.2 not blocked")
	}
	old := weak.Make(src.p.Load())
	src.p.Store(buildSnapshot(t, [3]string{"other", "deny", "203.0.113.0/24\n"}))
	for i := 0; i < 5 && old.Value() != nil; i++ {
		runtime.GC()
	}
	if old.Value() != nil {
		t.Fatal("the replaced snapshot is still reachable after the batch that used it ended")
	}
	runtime.KeepAlive(s)
}

// Before any list is loaded the source may have no snapshot: every NOTIFY is allowed.
func TestBlocklistWithoutASnapshot(t *testing.T) {
	h, src := testBlocklistHandler(t, metrics.NewSet())
	src.p.Store(nil)
	cfg := testSessionConfig()
	cfg.handler = h
	out, _, closeAfter, _ := run(t, cfg, cat(v26(t, "01_"), v26(t, "07_"), notifyWith(5, "check-client-ip", "ip", ip6("2001:db8::5"))))
	if closeAfter || len(out) != 3 {
		t.Fatalf("got %v closeAfter %v", out, closeAfter)
	}
	for _, ack := range out[1:] {
		if ack.blockedVar(t) || listVar(t, ack) != "" {
			t.Errorf("ACK %d: %v, want blocked=false alone", ack.StreamID, ack.actions)
		}
	}
}

// Only deny lists have a spoaguard_blocked_total: an allow list never blocks.
func TestBlocklistCountersOnlyForDenyLists(t *testing.T) {
	set := metrics.NewSet()
	h, _ := testBlocklistHandler(t, set)
	cfg := testSessionConfig()
	cfg.handler = h
	_, _, _, _ = run(t, cfg, cat(v26(t, "01_"), v26(t, "07_")))
	var sb strings.Builder
	set.WritePrometheus(&sb)
	if strings.Contains(sb.String(), `list="office"`) {
		t.Errorf("a counter for the allow list office:\n%s", sb.String())
	}
	if !strings.Contains(sb.String(), `spoaguard_blocked_total{list="drop"} 1`) {
		t.Errorf("no count for drop:\n%s", sb.String())
	}
}
