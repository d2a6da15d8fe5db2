package bench

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var defaultCheck = Check{Scope: codec.ScopeTxn, VarBlocked: "blocked", VarList: "list"}

func testTargets() []Target {
	return []Target{
		{Addr: netip.MustParseAddr("192.0.2.1")},
		{Addr: netip.MustParseAddr("2001:db8::1")},
		{Addr: netip.MustParseAddr("127.0.0.2"), Blocked: true},
		{Addr: netip.MustParseAddr("::ffff:198.51.100.7")}, // sent as IPv4, as HAProxy would
	}
}

func newTestSession(style IDStyle, inFlight int, check Check) *session {
	w := newWorkload(testTargets(), "check-client-ip", "ip", check)
	return newSession(w, style, new(atomic.Uint64), inFlight, 0, time.Second, new(histogram))
}

// ackFrame builds the ACK an agent would send.
func ackFrame(dst []byte, sid uint64, blocked bool, list string) []byte {
	dst, start := codec.BeginAck(dst, sid, 1)
	dst = codec.AppendSetVar(dst, codec.ScopeTxn, "blocked", codec.BoolValue(blocked))
	if list != "" {
		dst = codec.AppendSetVar(dst, codec.ScopeTxn, "list", codec.StringValue([]byte(list)))
	}
	return codec.FinishFrame(dst, start)
}

// notifies decodes the frames appendNotifies wrote.
func notifies(t *testing.T, b []byte) (frames []codec.Frame, addrs []netip.Addr) {
	t.Helper()
	for len(b) > 0 {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, b, codec.DefaultMaxFrameSize)
		if err != nil || n == 0 {
			t.Fatalf("undecodable NOTIFY stream: n=%d err=%v", n, err)
		}
		if f.Type != codec.FrameNotify || !f.Fin() || f.FrameID != 1 {
			t.Fatalf("frame %s flags %s frame-id %d, want NOTIFY FIN 1", f.Type, f.Flags, f.FrameID)
		}
		msgs := codec.NewMessageIterator(f.Payload)
		if !msgs.Next() {
			t.Fatalf("NOTIFY without a message: %v", msgs.Err())
		}
		args := msgs.Args()
		if string(msgs.Name()) != "check-client-ip" || msgs.NumArgs() != 1 || !args.Next() || string(args.Name()) != "ip" {
			t.Fatalf("message %q with %d args", msgs.Name(), msgs.NumArgs())
		}
		a, ok := args.Value().Addr()
		if !ok {
			t.Fatalf("argument is %s, want an address", args.Value().Type)
		}
		frames, addrs = append(frames, f), append(addrs, a)
		b = b[n:]
	}
	return frames, addrs
}

func TestNotifiesCarryTargetsInOrderWithHAProxyIDs(t *testing.T) {
	tests := []struct {
		style IDStyle
		want  []uint64
	}{
		{IDs3x, []uint64{1, 3, 5, 7, 9}},
		{IDs26, []uint64{0, 1, 2, 3, 4}}, // 0 is a valid 2.6 stream-id
	}
	for _, tt := range tests {
		t.Run(tt.style.String(), func(t *testing.T) {
			s := newTestSession(tt.style, 5, defaultCheck)
			frames, addrs := notifies(t, s.appendNotifies(nil, 5, 0))
			for i, f := range frames {
				if f.StreamID != tt.want[i] {
					t.Errorf("NOTIFY %d stream-id %d, want %d", i, f.StreamID, tt.want[i])
				}
			}
			want := []string{"192.0.2.1", "2001:db8::1", "127.0.0.2", "198.51.100.7", "192.0.2.1"}
			for i, a := range addrs {
				if a.String() != want[i] {
					t.Errorf("NOTIFY %d carries %s, want %s", i, a, want[i])
				}
			}
			if s.waiting != 5 || s.c.Sent != 5 {
				t.Errorf("waiting %d sent %d, want 5", s.waiting, s.c.Sent)
			}
		})
	}
}

// The 2.6 counter is global: two connections draw from it, so each sees gaps, as a real
// HAProxy 2.6 with several connections produces.
func TestIDs26CounterIsSharedByConnections(t *testing.T) {
	w := newWorkload(testTargets(), "check-client-ip", "ip", defaultCheck)
	var global atomic.Uint64
	a := newSession(w, IDs26, &global, 2, 0, time.Second, new(histogram))
	b := newSession(w, IDs26, &global, 2, 1, time.Second, new(histogram))
	fa, _ := notifies(t, a.appendNotifies(nil, 2, 0))
	fb, _ := notifies(t, b.appendNotifies(nil, 2, 0))
	fa2, _ := notifies(t, a.appendNotifies(nil, 1, 0))
	got := []uint64{fa[0].StreamID, fa[1].StreamID, fb[0].StreamID, fb[1].StreamID, fa2[0].StreamID}
	want := []uint64{0, 1, 2, 3, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stream-ids %v, want %v", got, want)
		}
	}
}

// The captured ACKs of HAProxy's own test agent (15: stream 0 allowed, 16: stream 2 blocked)
// match the 2.6-style NOTIFYs 0 and 2 and their expected decisions.
func TestCapturedACKsMatchTheirNotifies(t *testing.T) {
	s := newTestSession(IDs26, 4, defaultCheck)
	s.appendNotifies(nil, 3, 0) // stream-ids 0, 1, 2 → targets 0, 1, 2 (2 is listed)
	buf := append(testutil.Capture(t, "haproxy-2.6.12", "16_ack-block.hex"), testutil.Capture(t, "haproxy-2.6.12", "15_ack-allow.hex")...)
	consumed, acked, err := s.handleFrames(buf, time.Millisecond, true)
	if err != nil || consumed != len(buf) || acked != 2 {
		t.Fatalf("consumed %d/%d acked %d err %v", consumed, len(buf), acked, err)
	}
	if s.c.failures() != 0 || s.c.Blocked != 1 || s.waiting != 1 {
		t.Errorf("counters %+v waiting %d (%s)", s.c, s.waiting, s.firstErr)
	}
	// Stream 1 is still in flight at the head: nothing could be reclaimed past it.
	if s.head != 1 || s.tail != 3 {
		t.Errorf("ring head %d tail %d, want 1 and 3", s.head, s.tail)
	}
	if s.hist.Count() != 2 || s.hist.Max() != time.Millisecond {
		t.Errorf("latencies: %d recorded, max %s", s.hist.Count(), s.hist.Max())
	}
}

func TestACKChecks(t *testing.T) {
	tests := []struct {
		name  string
		ack   func(sid uint64) []byte // answer to the NOTIFY for target 2 (listed)
		check Check
		field func(*counters) uint64
	}{
		{"blocked as expected", func(sid uint64) []byte { return ackFrame(nil, sid, true, "bad") }, defaultCheck,
			func(c *counters) uint64 { return c.Blocked }},
		{"blocked, actions in another order with an extra one", func(sid uint64) []byte {
			b, start := codec.BeginAck(nil, sid, 1)
			b = codec.AppendSetVar(b, codec.ScopeTxn, "list", codec.StringValue([]byte("bad")))
			b = codec.AppendSetVar(b, codec.ScopeTxn, "score", codec.Uint32Value(100))
			return codec.FinishFrame(codec.AppendSetVar(b, codec.ScopeTxn, "blocked", codec.BoolValue(true)), start)
		}, Check{Scope: codec.ScopeTxn, VarBlocked: "blocked", VarList: "list", ListName: "bad"},
			func(c *counters) uint64 { return c.Blocked }},
		{"allowed instead of blocked", func(sid uint64) []byte { return ackFrame(nil, sid, false, "") }, defaultCheck,
			func(c *counters) uint64 { return c.Wrong }},
		{"wrong list name", func(sid uint64) []byte { return ackFrame(nil, sid, true, "other") },
			Check{Scope: codec.ScopeTxn, VarBlocked: "blocked", VarList: "list", ListName: "bad"},
			func(c *counters) uint64 { return c.Wrong }},
		{"no blocked variable", func(sid uint64) []byte {
			b, start := codec.BeginAck(nil, sid, 1)
			return codec.FinishFrame(codec.AppendSetVar(b, codec.ScopeTxn, "score", codec.Uint32Value(1)), start)
		}, defaultCheck, func(c *counters) uint64 { return c.Wrong }},
		{"blocked in the wrong scope", func(sid uint64) []byte {
			b, start := codec.BeginAck(nil, sid, 1)
			return codec.FinishFrame(codec.AppendSetVar(b, codec.ScopeSess, "blocked", codec.BoolValue(true)), start)
		}, defaultCheck, func(c *counters) uint64 { return c.Wrong }},
		{"malformed action list", func(sid uint64) []byte {
			b, start := codec.BeginAck(nil, sid, 1)
			return codec.FinishFrame(append(b, 9, 9, 9), start)
		}, defaultCheck, func(c *counters) uint64 { return c.Wrong }},
		{"unknown stream-id", func(uint64) []byte { return ackFrame(nil, 999, true, "") }, defaultCheck,
			func(c *counters) uint64 { return c.Unexpected }},
		{"ACK without FIN", func(sid uint64) []byte {
			b, start := codec.BeginFrame(nil, codec.FrameAck, 0, sid, 1)
			return codec.FinishFrame(codec.AppendSetVar(b, codec.ScopeTxn, "blocked", codec.BoolValue(true)), start)
		}, defaultCheck, func(c *counters) uint64 { return c.Protocol }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(IDs3x, 3, tt.check)
			s.appendNotifies(nil, 3, 0) // stream 5 carries target 2
			if _, _, err := s.handleFrames(tt.ack(5), 0, false); err != nil {
				t.Fatal(err)
			}
			if got := tt.field(&s.c); got != 1 {
				t.Errorf("counter = %d, want 1; counters %+v", got, s.c)
			}
			if !strings.HasPrefix(tt.name, "blocked") && s.firstErr == "" {
				t.Error("failure without a first error for the report")
			}
		})
	}
}

func TestAllowedTargetMustNotNameAList(t *testing.T) {
	s := newTestSession(IDs3x, 1, defaultCheck)
	s.appendNotifies(nil, 1, 0) // target 0, allowed
	s.handleFrames(ackFrame(nil, 1, false, "bad"), 0, false)
	if s.c.Wrong != 1 {
		t.Errorf("an allowed ACK naming a list was not counted wrong: %+v", s.c)
	}
}

func TestOutOfOrderACKsAndDuplicates(t *testing.T) {
	s := newTestSession(IDs3x, 4, defaultCheck)
	s.appendNotifies(nil, 4, 0) // 1, 3, 5 (listed), 7
	var buf []byte
	buf = ackFrame(buf, 7, false, "")
	buf = ackFrame(buf, 5, true, "x")
	buf = ackFrame(buf, 3, false, "")
	buf = ackFrame(buf, 3, false, "") // a duplicate is an ACK for nothing in flight
	buf = ackFrame(buf, 1, false, "")
	_, acked, err := s.handleFrames(buf, 0, false)
	if err != nil || acked != 4 {
		t.Fatalf("acked %d err %v", acked, err)
	}
	if s.c.Unexpected != 1 || s.c.Wrong != 0 || s.waiting != 0 || s.head != s.tail {
		t.Errorf("counters %+v waiting %d head %d tail %d", s.c, s.waiting, s.head, s.tail)
	}
}

// A frame split across reads is left for the next read, with the frames before it handled.
func TestPartialFrameStaysBuffered(t *testing.T) {
	s := newTestSession(IDs3x, 2, defaultCheck)
	s.appendNotifies(nil, 2, 0)
	buf := ackFrame(ackFrame(nil, 1, false, ""), 3, false, "")
	first := len(ackFrame(nil, 1, false, ""))
	consumed, acked, err := s.handleFrames(buf[:first+5], 0, false)
	if err != nil || consumed != first || acked != 1 {
		t.Fatalf("consumed %d acked %d err %v", consumed, acked, err)
	}
	if _, acked, _ = s.handleFrames(buf[consumed:], 0, false); acked != 1 || s.waiting != 0 {
		t.Errorf("second read acked %d, waiting %d", acked, s.waiting)
	}
}

func TestAgentDisconnectEndsTheWalk(t *testing.T) {
	s := newTestSession(IDs3x, 1, defaultCheck)
	s.appendNotifies(nil, 1, 0)
	_, _, err := s.handleFrames(codec.AppendAgentDisconnect(nil, codec.StatusResourceAllocation, ""), 0, false)
	if d, ok := err.(*agentDisconnectError); !ok || d.d.Status != codec.StatusResourceAllocation {
		t.Fatalf("err = %v, want the agent's disconnect with status 13", err)
	}
}

func TestUnansweredNotifiesExpireAsMissing(t *testing.T) {
	s := newTestSession(IDs3x, 3, defaultCheck)
	s.appendNotifies(nil, 2, 0)
	s.appendNotifies(nil, 1, 500*time.Millisecond)
	if n := s.expire(999 * time.Millisecond); n != 0 {
		t.Fatalf("%d expired before the timeout", n)
	}
	if n := s.expire(1200 * time.Millisecond); n != 2 || s.c.Missing != 2 || s.waiting != 1 {
		t.Fatalf("expired %d, missing %d, waiting %d; want 2, 2, 1", n, s.c.Missing, s.waiting)
	}
	// A late ACK for an expired NOTIFY is unexpected, not a match.
	s.handleFrames(ackFrame(nil, 1, false, ""), 1300*time.Millisecond, false)
	if s.c.Unexpected != 1 {
		t.Errorf("late ACK: %+v", s.c)
	}
}

// A stuck NOTIFY at the head holds its ring slot: refilling never overwrites it, so once the
// ring (twice the in-flight depth) is full, fewer NOTIFYs are in flight until the stuck one
// expires as missing.
func TestRingNeverOverwritesAStuckSlot(t *testing.T) {
	s := newTestSession(IDs3x, 4, defaultCheck) // ring of 8
	s.appendNotifies(nil, 4, 0)                 // 1 3 5 7; 1 will never be ACKed
	sid := uint64(3)
	for s.waiting > 1 {
		if _, acked, _ := s.handleFrames(ackFrame(nil, sid, sid%8 == 5, ""), 0, false); acked != 1 {
			t.Fatalf("ACK %d not matched: %+v %s", sid, s.c, s.firstErr)
		}
		sid += 2
		s.appendNotifies(nil, 4-s.waiting, 0)
	}
	if s.room() != 0 || s.ring[s.head&7].streamID != 1 || s.c.Wrong != 0 {
		t.Fatalf("room %d head stream-id %d counters %+v (%s)", s.room(), s.ring[s.head&7].streamID, s.c, s.firstErr)
	}
	if out := s.appendNotifies(nil, 3, 0); len(out) != 0 {
		t.Fatal("a full ring accepted another NOTIFY")
	}
	if s.expire(2*time.Second) != 1 || s.room() != 8 {
		t.Errorf("after expiry: missing %d, room %d", s.c.Missing, s.room())
	}
}

// The hot path — encode a batch of NOTIFYs, match and check a batch of ACKs — allocates
// nothing once the buffers have grown.
func TestHotPathDoesNotAllocate(t *testing.T) {
	s := newTestSession(IDs3x, 20, defaultCheck)
	out := make([]byte, 0, 4096)
	acks := make([]byte, 0, 4096)
	sid := uint64(1)
	round := func() {
		out = s.appendNotifies(out[:0], 20-s.waiting, 0)
		acks = acks[:0]
		for range 20 {
			target := int((sid - 1) / 2 % 4)
			acks = ackFrame(acks, sid, target == 2, "")
			sid += 2
		}
		if _, acked, err := s.handleFrames(acks, time.Microsecond, true); err != nil || acked != 20 {
			t.Fatalf("acked %d err %v", acked, err)
		}
	}
	round()
	if n := testing.AllocsPerRun(200, round); n != 0 {
		t.Errorf("one batch of 20 NOTIFY/ACK allocates %.1f times", n)
	}
	if s.c.failures() != 0 {
		t.Errorf("failures: %+v %s", s.c, s.firstErr)
	}
}

func BenchmarkSessionBatch20(b *testing.B) {
	s := newTestSession(IDs3x, 20, defaultCheck)
	out := make([]byte, 0, 4096)
	acks := make([]byte, 0, 4096)
	sid := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		out = s.appendNotifies(out[:0], 20-s.waiting, 0)
		acks = acks[:0]
		for range 20 {
			acks = ackFrame(acks, sid, (sid-1)/2%4 == 2, "")
			sid += 2
		}
		s.handleFrames(acks, time.Microsecond, true)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(20*b.N), "ns/ack")
}
