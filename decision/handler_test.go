package decision

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

func TestDecisions(t *testing.T) {
	emptyNotify := codec.AppendNotify(nil, 1, 1, nil)
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
		{"first address arg when the name is absent", notifyWith(1, "check-client-ip", "n", codec.Value{Type: codec.TypeInt64, Uint: 5}, "src", ip4("192.0.2.1")), "drop"},
		{"first matching deny list named", notifyWith(1, "check-client-ip", "ip", ip4("198.51.100.7")), "tor"},
		{"allow list exempts", notifyWith(1, "check-client-ip", "ip", ip4("127.0.0.9")), ""},
		{"IPv6", notifyWith(1, "check-client-ip", "ip", ip6("2001:db8::5")), "drop"},
		{"v4-mapped IPv6 is IPv4", notifyWith(1, "check-client-ip", "ip", ip6("::ffff:192.0.2.9")), "drop"},
		{"XFF string IPv4", notifyWith(1, "check-client-ip", "ip", str("192.0.2.44")), "drop"},
		{"XFF string list, last element", notifyWith(1, "check-client-ip", "ip", str("10.1.1.1, 198.51.100.7")), "tor"},
		{"XFF string IPv6", notifyWith(1, "check-client-ip", "ip", str(" 2001:db8::1 ")), "drop"},
		{"XFF string bracketed IPv6", notifyWith(1, "check-client-ip", "ip", str("[2001:db8::7]")), "drop"},
		{"XFF string v4-mapped is IPv4", notifyWith(1, "check-client-ip", "ip", str("::ffff:192.0.2.9")), "drop"},
		{"XFF string with a zone", notifyWith(1, "check-client-ip", "ip", str("2001:db8::1%eth0")), ""},
		{"XFF string garbage", notifyWith(1, "check-client-ip", "ip", str("unknown")), ""},
		{"NULL (missing header)", notifyWith(1, "check-client-ip", "ip", codec.Value{Type: codec.TypeNull}), ""},
		{"NULL XFF: src decides", notifyWith(1, "check-client-ip", "ip", codec.Value{Type: codec.TypeNull}, "src", ip4("192.0.2.3")), "drop"},
		{"garbage XFF: src decides", notifyWith(1, "check-client-ip", "ip", str("garbage"), "src", ip4("192.0.2.3")), "drop"},
		{"unlisted XFF from a listed src", notifyWith(1, "check-client-ip", "ip", str("10.0.0.1"), "src", ip4("192.0.2.3")), ""},
		{"other message ignored", notifyWith(1, "something-else", "ip", ip4("192.0.2.1")), ""},
		{"no arguments", notifyWith(1, "check-client-ip"), ""},
		{"empty NOTIFY (3.1-3.3)", emptyNotify, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := testHandler(t, nil)
			a := answerOne(t, h, tc.notify)
			if got := a.blocked(t); got != (tc.list != "") {
				t.Fatalf("blocked=%v, want %v (actions %v)", got, tc.list != "", a)
			}
			for _, act := range a {
				if string(act.Name) == "list" && (act.Value.Type != codec.TypeString || act.Scope != codec.ScopeTxn) {
					t.Errorf("list action %v", act)
				}
			}
			if got := a.list(); got != tc.list {
				t.Errorf("list=%q, want %q", got, tc.list)
			}
		})
	}
}

func TestDecisionCountersPublishedPerBatch(t *testing.T) {
	set := metrics.NewSet()
	h, _ := testHandler(t, set)
	in := slices.Concat(v26(t, "07_"), v26(t, "06_"), notifyWith(9, "check-client-ip", "ip", ip4("198.51.100.7")))
	if len(answer(t, newDriver(h.NewConn()), in)) != 3 {
		t.Fatal("want 3 ACKs")
	}
	wantMetrics(t, set,
		`spoaguard_decisions_total{decision="blocked"} 2`,
		`spoaguard_decisions_total{decision="allowed"} 1`,
		`spoaguard_blocked_total{list="drop"} 1`,
		`spoaguard_blocked_total{list="tor"} 1`,
	)
}

// The server ends the connection on a NOTIFY whose messages do not all decode, and drops
// its ACK: the decision it would have carried is not counted.
func TestRefusedNotifyNotCounted(t *testing.T) {
	set := metrics.NewSet()
	h, _ := testHandler(t, set)
	m := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", ip4("192.0.2.1"))
	m = codec.AppendMessage(m, "check-request", 2) // announces 2 arguments, holds none
	if _, err := newDriver(h.NewConn()).respond(codec.AppendNotify(nil, 1, 1, m), nil, nil); err == nil {
		t.Fatal("a NOTIFY that does not decode was answered")
	}
	wantMetrics(t, set,
		`spoaguard_decisions_total{decision="blocked"} 0`,
		`spoaguard_decisions_total{decision="allowed"} 0`,
	)
}

// TestHandlerDoesNotAllocate: the handler on real NOTIFYs, including the string
// (X-Forwarded-For) path and a NOTIFY whose string is not an address.
func TestHandlerDoesNotAllocate(t *testing.T) {
	h, _ := testHandler(t, nil)
	d := newDriver(h.NewConn())
	testutil.WantNoAllocs(t, []testutil.Batch{
		{Name: "15 NOTIFYs", In: v26(t, "29_")},
		{Name: "blocked", In: v26(t, "07_")},
		{Name: "12 args", In: v26(t, "11_")},
		{Name: "IPv6", In: v34(t, "05_")},
		{Name: "XFF IPv4", In: notifyWith(1, "check-client-ip", "ip", str("192.0.2.44"))},
		{Name: "XFF IPv6", In: notifyWith(1, "check-client-ip", "ip", str("2001:db8::1"))},
		{Name: "XFF garbage", In: notifyWith(1, "check-client-ip", "ip", str("1.2.3.999"))},
	}, func(in, out []byte) error {
		if o, err := d.respond(in, out, nil); err != nil || len(o) == 0 {
			return fmt.Errorf("not answered: %v", err)
		}
		return nil
	})
}

// TestScope: every scope is sent as configured, proc (scope 0) included, and the default is
// txn: proc is the zero codec.Scope, so the zero value cannot stand for "the default".
func TestScope(t *testing.T) {
	for _, tc := range []struct {
		name string
		want codec.Scope
	}{{"", codec.ScopeTxn}, {"proc", codec.ScopeProc}, {"sess", codec.ScopeSess}, {"txn", codec.ScopeTxn}, {"req", codec.ScopeReq}, {"res", codec.ScopeRes}} {
		src := &staticSource{}
		src.p.Store(buildSnapshot(t, [3]string{"drop", "deny", "127.0.0.2\n"}))
		h, err := New(src, Config{Scope: tc.name})
		if err != nil {
			t.Fatalf("scope %q: %v", tc.name, err)
		}
		for _, a := range answerOne(t, h, v26(t, "07_")) {
			if a.Scope != tc.want {
				t.Errorf("scope %q: action %s has scope %s, want %s", tc.name, a.Name, a.Scope, tc.want)
			}
		}
	}
	if _, err := New(&staticSource{}, Config{Scope: "global"}); err == nil {
		t.Error("scope \"global\" accepted")
	}
}

func TestRefusesNamesHAProxyCannotReference(t *testing.T) {
	for _, name := range []string{"is-blocked", "blocked!", "bl ocked", "blocké", strings.Repeat("b", 41)} {
		if _, err := New(&staticSource{}, Config{VarBlocked: name}); err == nil {
			t.Errorf("variable name %q accepted", name)
		}
	}
	if _, err := New(&staticSource{}, Config{VarBlocked: "ip.blocked_v2", VarList: "List9"}); err != nil {
		t.Errorf("valid names refused: %v", err)
	}
}

// The pre-encoded verdicts belong to a snapshot: after a reload that renames and reorders the
// lists, the next batch on the same connection names the new list, and counts it.
func TestVerdictsFollowTheSnapshot(t *testing.T) {
	set := metrics.NewSet()
	h, src := testHandler(t, set)
	d := newDriver(h.NewConn())
	ask := func(ip string) ack {
		t.Helper()
		acks := answer(t, d, notifyWith(1, "check-client-ip", "ip", ip4(ip)))
		if len(acks) != 1 {
			t.Fatalf("want one ACK, got %v", acks)
		}
		return acks[0]
	}
	if got := ask("198.51.100.7").list(); got != "tor" {
		t.Fatalf("before the reload: list=%q, want tor", got)
	}
	src.p.Store(buildSnapshot(t,
		[3]string{"spamhaus-drop", "deny", "203.0.113.0/24\n"},
		[3]string{"firehol-level1", "deny", "198.51.100.0/24\n"},
	))
	if got := ask("198.51.100.7").list(); got != "firehol-level1" {
		t.Errorf("after the reload: list=%q, want firehol-level1", got)
	}
	if got := ask("203.0.113.1").list(); got != "spamhaus-drop" {
		t.Errorf("after the reload: list=%q, want spamhaus-drop", got)
	}
	if a := ask("127.0.0.2"); a.blocked(t) || a.list() != "" {
		t.Errorf("127.0.0.2 is no longer listed, got %v", a)
	}
	wantMetrics(t, set,
		`spoaguard_blocked_total{list="tor"} 1`,
		`spoaguard_blocked_total{list="firehol-level1"} 1`,
		`spoaguard_blocked_total{list="spamhaus-drop"} 1`,
	)
}

// A replaced snapshot is not kept alive by the handler once no batch uses it, even when no
// NOTIFY has come since the reload: a 2M-entry list is tens of megabytes.
func TestDoesNotPinAReplacedSnapshot(t *testing.T) {
	h, src := testHandler(t, nil)
	d := newDriver(h.NewConn())
	if !answer(t, d, v26(t, "07_"))[0].blocked(t) {
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
	runtime.KeepAlive(d)
}

// Before any list is loaded the source may have no snapshot: every NOTIFY is allowed.
func TestWithoutASnapshot(t *testing.T) {
	h, src := testHandler(t, metrics.NewSet())
	src.p.Store(nil)
	acks := answer(t, newDriver(h.NewConn()), slices.Concat(v26(t, "07_"), notifyWith(5, "check-client-ip", "ip", ip6("2001:db8::5"))))
	if len(acks) != 2 {
		t.Fatalf("got %v", acks)
	}
	for _, a := range acks {
		if a.blocked(t) || a.list() != "" {
			t.Errorf("ACK %v, want blocked=false alone", a)
		}
	}
}

// Only deny lists have a spoaguard_blocked_total: an allow list never blocks.
func TestCountersOnlyForDenyLists(t *testing.T) {
	set := metrics.NewSet()
	h, _ := testHandler(t, set)
	answer(t, newDriver(h.NewConn()), v26(t, "07_"))
	text := metricsText(set)
	if strings.Contains(text, `list="office"`) {
		t.Errorf("a counter for the allow list office:\n%s", text)
	}
	if !strings.Contains(text, `spoaguard_blocked_total{list="drop"} 1`) {
		t.Errorf("no count for drop:\n%s", text)
	}
}

// A reload lands between batches on a connection that keeps sending: every ACK before it
// follows the old snapshot, every ACK after it the new one.
func TestReloadDuringTraffic(t *testing.T) {
	h, src := testHandler(t, nil)
	after := buildSnapshot(t, [3]string{"new", "deny", "203.0.113.5\n"})
	d := newDriver(h.NewConn())
	const rounds = 200
	var reloaded bool
	for r := 0; r < rounds; r++ {
		if r == rounds/2 {
			src.p.Store(after)
			reloaded = true
		}
		var batch []byte
		for i := 0; i < 20; i++ {
			batch = append(batch, notifyWith(uint64(r*20+i), "check-client-ip", "ip", ip4("203.0.113.5"))...)
		}
		for i, a := range answer(t, d, batch) {
			if reloaded != a.blocked(t) {
				t.Fatalf("round %d: ACK %d blocked=%v, reloaded=%v", r, i, a.blocked(t), reloaded)
			}
		}
	}
}
