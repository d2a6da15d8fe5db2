package decision

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// A NOTIFY that no configured message with a usable address decides is answered
// blocked=false but counted by why, not as an allowed decision.
func TestUndecidedCountedApart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notify []byte
		reason string
	}{
		{"misnamed message", notifyWith(1, "check-clientip", "ip", ip4("192.0.2.1")), "no_message"},
		{"message of another agent", notifyWith(1, "log-request", "path", str("/")), "no_message"},
		{"garbage string, no fallback", notifyWith(1, "check-client-ip", "ip", str("unknown")), "no_address"},
		{"NULL, no fallback", notifyWith(1, "check-client-ip", "ip", codec.Value{Type: codec.TypeNull}), "no_address"},
		{"misnamed argument, no address at all", notifyWith(1, "check-client-ip", "addr", str("192.0.2.1")), "no_address"},
		{"no arguments", notifyWith(1, "check-request"), "no_address"},
		{"no message at all", codec.AppendNotify(nil, 1, 1, nil), "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := metrics.NewSet()
			h, _ := testHandler(t, set)
			if a := answerOne(t, h, tc.notify); a.blocked(t) {
				t.Fatalf("blocked: %v", a)
			}
			wantMetrics(t, set,
				`spoaguard_undecided_total{reason="`+tc.reason+`"} 1`,
				`spoaguard_decisions_total{decision="allowed"} 0`,
				`spoaguard_decisions_total{decision="blocked"} 0`,
			)
			for _, other := range reasonLabels {
				if other != tc.reason && !strings.Contains(metricsText(set), `spoaguard_undecided_total{reason="`+other+`"} 0`) {
					t.Errorf("reason %s counted too", other)
				}
			}
		})
	}
}

// The warning names the messages and arguments the NOTIFY held, and comes once however many
// such NOTIFYs arrive; an empty NOTIFY is not warned about.
func TestUndecidedWarnedOnceWithTheNamesReceived(t *testing.T) {
	logs := &testutil.Buffer{}
	src := &staticSource{}
	src.p.Store(buildSnapshot(t, [3]string{"drop", "deny", "192.0.2.0/24\n"}))
	h, err := New(src, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(h.NewConn())
	var batch []byte
	for i := range 100 {
		batch = append(batch, codec.AppendNotify(nil, uint64(i), 1, nil)...)
		batch = append(batch, notifyWith(uint64(i), "check-clientip", "ip", ip4("192.0.2.1"), "src", ip4("192.0.2.2"))...)
	}
	if n := len(answer(t, d, batch)); n != 200 {
		t.Fatalf("%d ACKs, want 200", n)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, out)
	}
	for _, want := range []string{"reason=no_message", `check-clientip`, `ip`, `src`, "check-client-ip"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %s:\n%s", want, out)
		}
	}
}

// Readiness judges the NOTIFYs of its window (here each check ends one): none decided is
// not ready, some undecided is degraded, all decided is ready, and without NOTIFYs the
// judgement stands.
func TestReadinessJudgesTheNotifiesSinceThePreviousCheck(t *testing.T) {
	h, _ := testHandler(t, nil)
	h.undecided.window = 0 // every check ends a window
	d := newDriver(h.NewConn())
	decided := notifyWith(1, "check-client-ip", "ip", ip4("192.0.2.1"))
	misnamed := notifyWith(2, "check-clientip", "ip", ip4("192.0.2.1"))
	empty := codec.AppendNotify(nil, 3, 1, nil)
	for _, step := range []struct {
		name   string
		send   []byte
		want   health.Level
		detail string
	}{
		{"before any NOTIFY", nil, health.Ready, "no NOTIFY yet"},
		{"only misnamed messages", slices.Concat(misnamed, misnamed), health.NotReady, "2 of 2 NOTIFYs"},
		{"no NOTIFY since", nil, health.NotReady, "2 of 2 NOTIFYs"},
		{"empty NOTIFYs are no evidence", empty, health.NotReady, "2 of 2 NOTIFYs"},
		{"some decided", slices.Concat(misnamed, decided, decided), health.Degraded, "1 of 3 NOTIFYs"},
		{"all decided", slices.Concat(decided, empty), health.Ready, "1 NOTIFYs decided"},
	} {
		if step.send != nil {
			answer(t, d, step.send)
		}
		conds := h.Readiness()
		if len(conds) != 1 || conds[0].Level != step.want || !strings.Contains(conds[0].Detail, step.detail) {
			t.Errorf("%s: %+v, want %s with %q", step.name, conds, step.want, step.detail)
		}
	}
}

// The messages kept to describe an undecided NOTIFY alias the connection buffer: none is
// held once the NOTIFY is answered, whether it was decided, undecided or refused.
func TestSeenMessagesNotHeldAfterTheNotify(t *testing.T) {
	h, _ := testHandler(t, nil)
	h.undecided.log = slog.New(slog.DiscardHandler)
	var many []byte
	for range 20 {
		many = codec.AppendArg(codec.AppendMessage(many, "other", 1), "ip", ip4("192.0.2.1"))
	}
	bad := codec.AppendMessage(codec.AppendMessage(nil, "other", 0), "check-request", 2) // the second does not decode
	for _, in := range [][]byte{
		slices.Concat(notifyWith(1, "other", "ip", ip4("192.0.2.1")), codec.AppendNotify(nil, 2, 1,
			codec.AppendArg(codec.AppendMessage(codec.AppendMessage(nil, "other", 0), "check-request", 1), "ip", ip4("192.0.2.1")))),
		codec.AppendNotify(nil, 3, 1, many),
		codec.AppendNotify(nil, 4, 1, bad),
	} {
		c := h.NewConn().(*conn)
		_, _ = newDriver(c).respond(in, nil, nil)
		for i, m := range c.seen.kept {
			if args := m.args; c.seen.n != 0 || m.name != nil || args.Next() {
				t.Errorf("message %d of %d still held after the NOTIFY", i, c.seen.n)
			}
		}
	}
	c := h.NewConn().(*conn)
	for range 20 {
		c.seen.add(&codec.MessageIterator{})
	}
	if got := c.seen.describe(); !strings.HasSuffix(got, "… (20 messages)") {
		t.Errorf("describe of 20 messages: %q", got)
	}
}

// The description of an undecided NOTIFY is bounded whatever its names hold, and a name
// that is not plain text is quoted.
func TestDescribeIsBounded(t *testing.T) {
	long := strings.Repeat("m", 10000)
	for _, tc := range []struct {
		name string
		msgs []byte
		want string
	}{
		{"plain", codec.AppendArg(codec.AppendMessage(nil, "check-clientip", 1), "ip", ip4("192.0.2.1")), "check-clientip(ip IPV4)"},
		{"odd bytes", codec.AppendArg(codec.AppendMessage(nil, "a b\x00", 1), "", str("x")), `"a b\x00"("" STRING)`},
		{"long name", codec.AppendMessage(nil, long, 0), strings.Repeat("m", 64) + "…()"},
	} {
		it := codec.NewMessageIterator(tc.msgs)
		var s seenMessages
		for it.Next() {
			s.add(&it)
		}
		if got := s.describe(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	var many []byte
	for range 8 {
		m := codec.AppendMessage(many, long, 100)
		for range 100 {
			m = codec.AppendArg(m, long, str("x"))
		}
		many = m
	}
	it := codec.NewMessageIterator(many)
	var s seenMessages
	for it.Next() {
		s.add(&it)
	}
	if got := s.describe(); len(got) > 1024 {
		t.Errorf("description of %d bytes", len(got))
	}
}
