package decision

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/server"
)

var v26, v34 = testutil.V26, testutil.V34

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

// testHandler returns the handler most tests use: an allow list office, and deny lists drop
// and tor, in that order.
func testHandler(t testing.TB, set *metrics.Set) (*Handler, *staticSource) {
	src := &staticSource{}
	src.p.Store(buildSnapshot(t,
		[3]string{"office", "allow", "127.0.0.9\n"},
		[3]string{"drop", "deny", "127.0.0.2\n127.0.0.9\n192.0.2.0/24\n2001:db8::/32\n"},
		[3]string{"tor", "deny", "127.0.0.2\n198.51.100.7\n"},
	))
	h, err := New(src, Config{
		Messages: []string{"check-client-ip", "check-request"},
		Metrics:  set,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, src
}

// driver drives a ConnHandler the way the server does. It lives on the heap, as the
// server's session does: an iterator on the stack handed through the ConnHandler interface
// would escape and allocate per NOTIFY.
type driver struct {
	c    server.ConnHandler
	f    codec.Frame
	msgs codec.MessageIterator
}

func newDriver(c server.ConnHandler) *driver { return &driver{c: c} }

// respond answers every NOTIFY frame in in as one batch and appends each ACK's
// LIST-OF-ACTIONS to out, one after another, noting where each ends in ends when it is not
// nil. It allocates nothing itself, so that tests can count the handler's allocations.
func (d *driver) respond(in, out []byte, ends *[]int) ([]byte, error) {
	d.c.BeginBatch()
	defer d.c.EndBatch()
	for len(in) > 0 {
		n, err := codec.ReadFrameInto(&d.f, in, 1<<24)
		if err != nil {
			return out, err
		}
		in = in[n:]
		d.msgs = codec.NewMessageIterator(d.f.Payload)
		out = d.c.HandleNotify(&d.msgs, out)
		for d.msgs.Next() {
		}
		if err := d.msgs.Err(); err != nil {
			return out, err
		}
		if ends != nil {
			*ends = append(*ends, len(out))
		}
	}
	return out, nil
}

// answer answers the NOTIFY frames in in as one batch and returns each ACK's actions.
func answer(t testing.TB, d *driver, in []byte) []ack {
	t.Helper()
	var ends []int
	out, err := d.respond(in, nil, &ends)
	if err != nil {
		t.Fatal(err)
	}
	var acks []ack
	start := 0
	for _, end := range ends {
		var a ack
		it := codec.NewActionIterator(out[start:end])
		for it.Next() {
			a = append(a, it.Action())
		}
		if it.Err() != nil {
			t.Fatalf("ACK actions: %v", it.Err())
		}
		if len(a) == 0 {
			t.Fatal("ACK with no action")
		}
		acks = append(acks, a)
		start = end
	}
	return acks
}

// answerOne answers in, which must hold one NOTIFY, with a fresh connection of h.
func answerOne(t testing.TB, h *Handler, in []byte) ack {
	t.Helper()
	acks := answer(t, newDriver(h.NewConn()), in)
	if len(acks) != 1 {
		t.Fatalf("%d ACKs, want 1", len(acks))
	}
	return acks[0]
}

// ack is the actions of one ACK.
type ack []codec.Action

// blocked returns the value of the ACK's `blocked` variable.
func (a ack) blocked(t testing.TB) bool {
	t.Helper()
	for _, act := range a {
		if act.Type == codec.ActionSetVar && string(act.Name) == "blocked" && act.Value.Type == codec.TypeBool {
			return act.Value.Bool
		}
	}
	t.Fatalf("ACK has no BOOL blocked: %v", a)
	return false
}

// list returns the list variable the ACK sets, "" when none.
func (a ack) list() string {
	for _, act := range a {
		if string(act.Name) == "list" {
			return string(act.Value.Bytes)
		}
	}
	return ""
}

// notifyWith builds a NOTIFY with one message whose arguments are given.
func notifyWith(sid uint64, msg string, args ...any) []byte {
	m := codec.AppendMessage(nil, msg, uint8(len(args)/2))
	for i := 0; i < len(args); i += 2 {
		m = codec.AppendArg(m, args[i].(string), args[i+1].(codec.Value))
	}
	return codec.AppendNotify(nil, sid, 1, m)
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

// metricsText returns set's metrics in the Prometheus text format.
func metricsText(set *metrics.Set) string {
	var sb strings.Builder
	set.WritePrometheus(&sb)
	return sb.String()
}

// wantMetrics fails the test unless set holds every one of the lines.
func wantMetrics(t testing.TB, set *metrics.Set, lines ...string) {
	t.Helper()
	text := metricsText(set)
	for _, want := range lines {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}
