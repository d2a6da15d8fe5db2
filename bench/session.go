package bench

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// IDStyle is how the load generator numbers the NOTIFYs it sends, in the style of one
// HAProxy generation (docs/PROTOCOL.md#ids). Agents must treat ids as opaque; sending both
// styles checks that they do.
type IDStyle int

const (
	// IDs26 numbers like HAProxy ≤ 3.0: stream-id is a counter global to the process
	// (shared by all connections, so each connection sees gaps; 0 is a valid id), frame-id 1.
	IDs26 IDStyle = iota
	// IDs3x numbers like HAProxy 3.1+: odd stream-ids per connection (1, 3, 5, …), frame-id 1.
	IDs3x
)

func (s IDStyle) String() string {
	if s == IDs3x {
		return "3.x"
	}
	return "2.6"
}

// ParseIDStyle maps "2.6" or "3.x" to its IDStyle.
func ParseIDStyle(s string) (IDStyle, error) {
	switch s {
	case "2.6":
		return IDs26, nil
	case "3.x", "3":
		return IDs3x, nil
	}
	return 0, fmt.Errorf("unknown id style %q (want 2.6 or 3.x)", s)
}

// slot states in the in-flight ring.
const (
	slotFree uint8 = iota
	slotWaiting
	slotDone
)

// pending is one NOTIFY waiting for its ACK.
type pending struct {
	streamID uint64
	sent     time.Duration // since the run's start, monotonic
	target   int32
	state    uint8
}

// counters are a connection's outcome counts. Any of the error counts fails the run.
type counters struct {
	Sent       uint64 // NOTIFYs written
	Acked      uint64 // ACKs matched to a NOTIFY, whatever their decision
	Blocked    uint64 // ACKs that answered blocked=true (and were expected to)
	Wrong      uint64 // decision differs from the expected one, or the actions are malformed
	Unexpected uint64 // ACKs whose ids match no NOTIFY in flight (including late ones)
	Missing    uint64 // NOTIFYs not ACKed within the ACK timeout
	Protocol   uint64 // frames that are neither ACK nor AGENT-DISCONNECT, or undecodable
}

func (c *counters) add(o *counters) {
	c.Sent += o.Sent
	c.Acked += o.Acked
	c.Blocked += o.Blocked
	c.Wrong += o.Wrong
	c.Unexpected += o.Unexpected
	c.Missing += o.Missing
	c.Protocol += o.Protocol
}

func (c *counters) failures() uint64 { return c.Wrong + c.Unexpected + c.Missing + c.Protocol }

// session is the protocol state of one load-generator connection after the handshake: the
// ring of NOTIFYs in flight, in the order they were sent, and the matching of ACKs to them.
//
// ACKs normally come back in the order their NOTIFYs went out, so the ring's head is checked
// first and matching is O(1); an out-of-order ACK costs a scan of at most the ring's length
// (a small multiple of the in-flight depth). A NOTIFY ACKed out of order leaves a done slot
// behind that is reclaimed when the head reaches it.
type session struct {
	w          *workload
	style      IDStyle
	globalSID  *atomic.Uint64 // IDs26: the process-wide stream counter
	nextSID    uint64         // IDs3x: next odd stream-id of this connection
	nextTarget int
	ackTimeout time.Duration
	mfs        uint32 // max-frame-size the agent announced

	ring       []pending // len is a power of two
	head, tail uint64    // ring[head&mask] is the oldest slot in use; tail is where the next goes
	waiting    int       // NOTIFYs sent and not yet ACKed (or declared missing)

	c        counters
	hist     *histogram // latency of ACKs while measuring
	firstErr string     // the first failure, for the report
}

func newSession(w *workload, style IDStyle, globalSID *atomic.Uint64, inFlight, firstTarget int, ackTimeout time.Duration, hist *histogram) *session {
	n := 8
	for n < 2*inFlight {
		n <<= 1
	}
	return &session{
		w: w, style: style, globalSID: globalSID, nextSID: 1,
		nextTarget: firstTarget % len(w.blocked), ackTimeout: ackTimeout,
		mfs: codec.DefaultMaxFrameSize, ring: make([]pending, n), hist: hist,
	}
}

func (s *session) fail(format string, args ...any) {
	if s.firstErr == "" {
		s.firstErr = fmt.Sprintf(format, args...) // cold path: only the first failure is kept
	}
}

// room returns how many more NOTIFYs the ring can hold.
func (s *session) room() int { return len(s.ring) - int(s.tail-s.head) }

// appendNotifies appends up to n NOTIFY frames to out (fewer when the ring is full) and
// records them as sent at now. It allocates nothing once out has grown to its working size.
func (s *session) appendNotifies(out []byte, n int, now time.Duration) []byte {
	n = min(n, s.room())
	if n <= 0 {
		return out
	}
	var sid uint64
	if s.style == IDs26 {
		sid = s.globalSID.Add(uint64(n)) - uint64(n) // one atomic per batch, not per NOTIFY
	}
	mask := uint64(len(s.ring) - 1)
	for range n {
		if s.style == IDs3x {
			sid = s.nextSID
			s.nextSID += 2
		}
		t := s.nextTarget
		if s.nextTarget++; s.nextTarget == len(s.w.blocked) {
			s.nextTarget = 0
		}
		out = codec.AppendNotify(out, sid, 1, s.w.payload(t))
		s.ring[s.tail&mask] = pending{streamID: sid, sent: now, target: int32(t), state: slotWaiting}
		s.tail++
		sid++
	}
	s.waiting += n
	s.c.Sent += uint64(n)
	return out
}

// agentDisconnectError is returned by handleFrames when the agent sent AGENT-DISCONNECT.
type agentDisconnectError struct{ d codec.Disconnect }

func (e *agentDisconnectError) Error() string {
	return fmt.Sprintf("agent disconnected: status %d (%s) %q", e.d.Status, e.d.Status, e.d.Message)
}

// handleFrames processes every complete frame at the start of buf, received at now, and
// returns the bytes consumed and the number of ACKs matched. Latencies are recorded only when
// measuring. An AGENT-DISCONNECT or an undecodable frame ends the walk with an error; the
// frames before it have been processed.
func (s *session) handleFrames(buf []byte, now time.Duration, measuring bool) (consumed, acked int, err error) {
	var f codec.Frame
	for {
		n, ferr := codec.ReadFrameInto(&f, buf[consumed:], s.mfs)
		if ferr != nil {
			s.c.Protocol++
			s.fail("undecodable frame from the agent: %v", ferr)
			return consumed, acked, ferr
		}
		if n == 0 {
			return consumed, acked, nil
		}
		consumed += n
		switch f.Type {
		case codec.FrameAck:
			if s.ack(&f, now, measuring) {
				acked++
			}
		case codec.FrameAgentDisconnect:
			d, _ := codec.ParseDisconnect(f.Payload)
			return consumed, acked, &agentDisconnectError{d: d}
		default:
			s.c.Protocol++
			s.fail("unexpected %s frame from the agent", f.Type)
		}
	}
}

// ack matches one ACK to its NOTIFY and checks its decision. It reports whether it matched.
func (s *session) ack(f *codec.Frame, now time.Duration, measuring bool) bool {
	if !f.Fin() || f.FrameID != 1 {
		s.c.Protocol++
		s.fail("ACK stream-id %d with flags %s frame-id %d", f.StreamID, f.Flags, f.FrameID)
		return false
	}
	mask := uint64(len(s.ring) - 1)
	i := s.head
	for ; i != s.tail; i++ {
		p := &s.ring[i&mask]
		if p.state == slotWaiting && p.streamID == f.StreamID {
			break
		}
	}
	if i == s.tail {
		s.c.Unexpected++
		s.fail("ACK for stream-id %d, which is not in flight", f.StreamID)
		return false
	}
	p := &s.ring[i&mask]
	p.state = slotDone
	s.waiting--
	s.c.Acked++
	if measuring {
		s.hist.Record(now - p.sent)
	}
	s.checkDecision(f.Payload, int(p.target))
	s.reclaim()
	return true
}

// reclaim frees the done slots at the head of the ring.
func (s *session) reclaim() {
	mask := uint64(len(s.ring) - 1)
	for s.head != s.tail && s.ring[s.head&mask].state == slotDone {
		s.ring[s.head&mask].state = slotFree
		s.head++
	}
}

// checkDecision reads the agent's answer from the ACK's actions and compares it with the
// expected decision for target.
func (s *session) checkDecision(payload []byte, target int) {
	// Fast path: the ACK is byte for byte the expected answer (the common case; parsing every
	// ACK was 15% of the load generator's CPU in its profile).
	if want := s.w.blocked[target]; !want && string(payload) == string(s.w.allowedACK) {
		return
	} else if want && s.w.blockedACK != nil && string(payload) == string(s.w.blockedACK) {
		s.c.Blocked++
		return
	}
	s.checkActions(payload, target)
}

// checkActions is checkDecision's slow path: it parses the actions, in any order and among
// other actions, and says what is wrong.
func (s *session) checkActions(payload []byte, target int) {
	chk := &s.w.check
	var blocked, haveBlocked bool
	var list []byte
	var haveList bool
	it := codec.NewActionIterator(payload)
	for it.Next() {
		a := it.Action()
		if a.Type != codec.ActionSetVar || a.Scope != chk.Scope {
			continue
		}
		switch string(a.Name) { // no allocation: the compiler compares in place
		case chk.VarBlocked:
			blocked, haveBlocked = a.Value.Type == codec.TypeBool && a.Value.Bool, a.Value.Type == codec.TypeBool
		case chk.VarList:
			list, haveList = a.Value.Bytes, a.Value.Type == codec.TypeString
		}
	}
	want := s.w.blocked[target]
	switch {
	case it.Err() != nil:
		s.c.Wrong++
		s.fail("malformed actions in ACK: %v", it.Err())
	case !haveBlocked:
		s.c.Wrong++
		s.fail("ACK without a BOOL set-var %s.%s", chk.Scope, chk.VarBlocked)
	case blocked != want:
		s.c.Wrong++
		s.fail("target %d: agent answered blocked=%v, expected %v", target, blocked, want)
	case !blocked && haveList:
		s.c.Wrong++
		s.fail("target %d: allowed, yet the ACK names list %q", target, list)
	case blocked && chk.ListName != "" && string(list) != chk.ListName:
		s.c.Wrong++
		s.fail("target %d: blocked by list %q, expected %q", target, list, chk.ListName)
	case blocked:
		s.c.Blocked++
	}
}

// expire declares missing every NOTIFY sent before now-ackTimeout and returns how many.
func (s *session) expire(now time.Duration) int {
	mask := uint64(len(s.ring) - 1)
	n := 0
	for i := s.head; i != s.tail; i++ {
		p := &s.ring[i&mask]
		if p.state != slotWaiting {
			continue
		}
		if now-p.sent < s.ackTimeout {
			break // slots are in send order: the rest are younger
		}
		p.state = slotDone
		s.waiting--
		n++
	}
	if n > 0 {
		s.c.Missing += uint64(n)
		s.fail("%d NOTIFYs not ACKed within %s", n, s.ackTimeout)
		s.reclaim()
	}
	return n
}
