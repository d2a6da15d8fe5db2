package server

import (
	"errors"
	"fmt"
	"sync"

	"github.com/spoaguard/spoaguard/codec"
)

// state is where a connection is in its life (docs/PROTOCOL.md#hello, #disconnect).
type state uint8

const (
	stateAwaitHello state = iota // nothing but a HAPROXY-HELLO is valid
	stateReady                   // handshake done: NOTIFY, UNSET, HAPROXY-DISCONNECT
	stateClosing                 // a final frame is queued; no more input is read
)

var stateNames = [...]string{"awaiting-hello", "ready", "closing"}

func (s state) String() string { return stateNames[s] }

// sessionConfig is what every session of a server shares; it is never written after New.
type sessionConfig struct {
	maxFrameSize  uint32 // ours: the ceiling of the negotiation
	capabilities  string // announced in AGENT-HELLO
	fragmentation bool   // `fragmentation` is announced, so reassemble
	maxReassembly int
	handler       Handler
	metrics       *serverMetrics
}

// reassemblyPool holds the buffers of fragmented NOTIFYs. Fragmentation is rare (HAProxy 2.6,
// payloads above the frame size), so connections borrow a buffer only while a NOTIFY is in
// pieces instead of each keeping one.
var reassemblyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// session is the protocol state of one connection: it turns inbound bytes into outbound
// frames with no I/O of its own, so it is tested without a socket.
type session struct {
	cfg   *sessionConfig
	state state
	// maxFrame is the limit on the LENGTH of inbound frames: maxHelloSize until the HELLO,
	// then the negotiated max-frame-size, each plus codec.MaxHeaderLength because HAProxy
	// 3.1+ applies max-frame-size to the payload alone (docs/PROTOCOL.md#max-frame-size).
	maxFrame uint32
	h        ConnHandler // nil until the HELLO is accepted
	pf       Prefetcher  // h, when it is one

	// The batch's NOTIFYs that prefetch handed to pf and whose messages it walked, not yet
	// answered; pfErr is why the last of them does not decode, if it does not.
	prefetched int
	pfErr      error
	// The frames prefetch read after the batch's first, which handle takes from here instead
	// of decoding them again: pfFrames[pfNext:pfRead]. Allocated the first time the
	// connection prefetches.
	pfFrames       *[MaxPrefetch]readFrame
	pfNext, pfRead int

	// A fragmented NOTIFY in progress (frag != nil): its ids and the payload so far.
	frag             *[]byte
	fragSID, fragFID uint64

	stats batchStats
	msgs  codec.MessageIterator // the NOTIFY being answered, see ack

	// Why the connection ends, for the log and metrics: set by fail, and by the frames
	// that end a connection normally.
	status      codec.Status // status of the AGENT-DISCONNECT sent, if sentDisc
	sentDisc    bool
	gotDisc     bool // HAProxy sent HAPROXY-DISCONNECT
	peerStatus  codec.Status
	healthcheck bool
	err         error // protocol error, nil for a normal ending
}

// readFrame is a frame decoded from the input and the bytes it took there.
type readFrame struct {
	f codec.Frame
	n int
}

// maxHelloSize caps the frames of a connection that has not completed its HELLO: HAProxy's
// HELLOs are about 130 bytes, so a peer sending more before it has said who it is holds no
// more than this.
const maxHelloSize = 1024

func newSession(cfg *sessionConfig) *session {
	return &session{cfg: cfg, maxFrame: min(cfg.maxFrameSize, maxHelloSize) + codec.MaxHeaderLength}
}

// handle processes every complete frame at the start of in and appends what must be sent to
// out. It returns how many bytes of in were consumed (a trailing partial frame is not), the
// extended out, and whether the connection must be closed once out is written; after that,
// all of in counts as consumed.
//
// in is only read during the call: the frames decoded from it are views, and nothing is kept.
func (s *session) handle(in, out []byte) (consumed int, _ []byte, closeAfter bool) {
	batch := false
	var read codec.Frame
	for s.state != stateClosing {
		f, n := &read, 0
		if s.pfNext < s.pfRead { // read by prefetch
			rf := &s.pfFrames[s.pfNext]
			s.pfNext++
			f, n = &rf.f, rf.n
		} else {
			var err error
			if n, err = codec.ReadFrameInto(f, in[consumed:], s.maxFrame); err != nil {
				out = s.fail(out, err)
				break
			}
			if n == 0 {
				break
			}
		}
		consumed += n
		if s.state == stateReady && !batch && (f.Type == codec.FrameNotify || f.Type == codec.FrameUnset) {
			s.h.BeginBatch()
			batch = true
			if s.pf != nil && s.pf.Prefetching() {
				s.prefetch(f, in[consumed:])
			}
		}
		out = s.frame(f, out)
	}
	if batch {
		s.endPrefetch()
		s.h.EndBatch()
	}
	if s.state == stateClosing {
		return len(in), out, true
	}
	return consumed, out, false
}

// prefetch hands the batch's whole NOTIFYs to the handler's Prefetch, f (already read) then
// those at the start of in, up to MaxPrefetch and up to the first frame that is not one
// (partial, malformed, fragmented or of another type): handle answers or refuses every frame
// as usual afterwards, taking the frames read here from pfFrames. It walks each NOTIFY's
// messages on from where Prefetch stopped, so that ack does not decode them again, and stops
// after the first whose messages do not decode: ack refuses it.
func (s *session) prefetch(f *codec.Frame, in []byte) {
	if s.pfFrames == nil {
		s.pfFrames = new([MaxPrefetch]readFrame)
	}
	for f.Type == codec.FrameNotify && f.Flags == codec.FlagFin {
		s.prefetched++
		s.msgs = codec.NewMessageIterator(f.Payload)
		s.pf.Prefetch(&s.msgs)
		for s.msgs.Next() {
		}
		if err := s.msgs.Err(); err != nil {
			s.pfErr = err
			break
		}
		if s.prefetched == MaxPrefetch {
			break
		}
		rf := &s.pfFrames[s.pfRead]
		n, err := codec.ReadFrameInto(&rf.f, in, s.maxFrame)
		if err != nil || n == 0 {
			break // handle reads it again, and refuses it or waits for the rest
		}
		rf.n = n
		s.pfRead++
		in = in[n:]
		f = &rf.f
	}
	s.msgs = codec.MessageIterator{} // do not pin the connection buffer
	s.pf.PrefetchDone()
}

// endPrefetch forgets the batch's prefetch: the frames that handle did not take (the
// connection ended before them) are dropped with the rest.
func (s *session) endPrefetch() {
	s.prefetched, s.pfErr = 0, nil
	if s.pfRead > 0 {
		clear(s.pfFrames[:s.pfRead]) // do not pin the connection buffer
		s.pfNext, s.pfRead = 0, 0
	}
}

// frame handles one decoded frame.
func (s *session) frame(f *codec.Frame, out []byte) []byte {
	if s.state == stateAwaitHello {
		if f.Type != codec.FrameHAProxyHello {
			return s.fail(out, protoErr(codec.StatusInvalidFrame, "%s frame before HAPROXY-HELLO", f.Type))
		}
		s.stats.hello++
		return s.hello(f, out)
	}
	// Common case first: a whole NOTIFY.
	switch f.Type {
	case codec.FrameNotify:
		s.stats.notify++
		if s.frag != nil {
			return s.fail(out, protoErr(codec.StatusInterlacedFrames,
				"NOTIFY %d/%d while NOTIFY %d/%d is still in fragments", f.StreamID, f.FrameID, s.fragSID, s.fragFID))
		}
		if f.Fin() {
			if f.Abort() { // abandoned by HAProxy: nothing to answer
				return out
			}
			return s.ack(f.StreamID, f.FrameID, f.Payload, out)
		}
		return s.beginFragments(f, out)
	case codec.FrameUnset:
		s.stats.unset++
		return s.fragment(f, out)
	case codec.FrameHAProxyDisconnect:
		s.stats.disc++
		d, err := codec.ParseDisconnect(f.Payload)
		if err != nil {
			return s.fail(out, err)
		}
		s.gotDisc, s.peerStatus = true, d.Status
		return s.disconnect(out, codec.StatusNormal, "")
	}
	return s.fail(out, protoErr(codec.StatusInvalidFrame, "unexpected %s frame after the handshake", f.Type))
}

// hello answers a HAPROXY-HELLO (docs/PROTOCOL.md#hello).
func (s *session) hello(f *codec.Frame, out []byte) []byte {
	if !f.Fin() || f.Abort() || f.StreamID != 0 || f.FrameID != 0 {
		return s.fail(out, protoErr(codec.StatusInvalidFrame,
			"HAPROXY-HELLO with flags %s and ids %d/%d, want FIN and 0/0", f.Flags, f.StreamID, f.FrameID))
	}
	h, err := codec.ParseHello(f.Payload)
	if err != nil {
		return s.fail(out, err)
	}
	if len(h.SupportedVersions) == 0 {
		return s.fail(out, protoErr(codec.StatusNoVersion, "HAPROXY-HELLO has no supported-versions"))
	}
	if !h.SupportsVersion("2.0") {
		return s.fail(out, protoErr(codec.StatusUnsupportedVersion, "HAProxy supports versions %q, not 2.0", h.SupportedVersions))
	}
	if h.MaxFrameSize == 0 {
		return s.fail(out, protoErr(codec.StatusNoMaxFrameSize, "HAPROXY-HELLO has no max-frame-size"))
	}
	mfs := min(h.MaxFrameSize, s.cfg.maxFrameSize)
	if mfs < codec.MinMaxFrameSize {
		return s.fail(out, protoErr(codec.StatusBadMaxFrameSize,
			"HAProxy's max-frame-size %d is below the minimum %d", h.MaxFrameSize, codec.MinMaxFrameSize))
	}
	s.maxFrame = mfs + codec.MaxHeaderLength
	out = codec.AppendAgentHello(out, codec.AgentHello{Version: "2.0", MaxFrameSize: mfs, Capabilities: s.cfg.capabilities})
	if h.Healthcheck {
		// `option spop-check`: the answer is the whole check.
		s.healthcheck = true
		s.state = stateClosing
		return out
	}
	s.state = stateReady
	s.h = s.cfg.handler.NewConn()
	s.pf, _ = s.h.(Prefetcher)
	return out
}

// ack appends the ACK of one NOTIFY whose LIST-OF-MESSAGES is payload.
func (s *session) ack(sid, fid uint64, payload, out []byte) []byte {
	// The batch's first NOTIFYs are the prefetched ones, in order: their messages are walked.
	walked := s.prefetched > 0
	if walked {
		s.prefetched--
		if s.prefetched == 0 && s.pfErr != nil {
			return s.fail(out, s.pfErr)
		}
	}
	start := len(out)
	out, frame := codec.BeginAck(out, sid, fid)
	// The iterator lives in the session, not on the stack: a pointer to a local passed
	// through the ConnHandler interface would escape and allocate per NOTIFY.
	s.msgs = codec.NewMessageIterator(payload)
	out = s.h.HandleNotify(&s.msgs, out)
	var err error
	if !walked {
		for s.msgs.Next() { // the handler may have stopped at the message that decided
		}
		err = s.msgs.Err()
	}
	s.msgs = codec.MessageIterator{} // do not pin the connection buffer
	if err != nil {
		return s.fail(out[:start], err)
	}
	s.stats.acks++
	return codec.FinishFrame(out, frame)
}

// beginFragments starts reassembling a NOTIFY sent without FIN (docs/PROTOCOL.md#fragmentation).
func (s *session) beginFragments(f *codec.Frame, out []byte) []byte {
	if !s.cfg.fragmentation {
		return s.fail(out, protoErr(codec.StatusFragmentationUnsupported,
			"NOTIFY %d/%d without FIN, and fragmentation was not announced", f.StreamID, f.FrameID))
	}
	if len(f.Payload) > s.cfg.maxReassembly {
		return s.fail(out, protoErr(codec.StatusFrameTooBig, "fragmented NOTIFY exceeds %d bytes", s.cfg.maxReassembly))
	}
	s.frag = reassemblyPool.Get().(*[]byte)
	*s.frag = append((*s.frag)[:0], f.Payload...)
	s.fragSID, s.fragFID = f.StreamID, f.FrameID
	s.cfg.metrics.fragsInflight.Inc()
	return out
}

// fragment handles an UNSET frame: the next piece of the NOTIFY being reassembled.
func (s *session) fragment(f *codec.Frame, out []byte) []byte {
	if s.frag == nil {
		return s.fail(out, protoErr(codec.StatusInvalidFrame, "UNSET frame %d/%d with no fragmented NOTIFY in progress", f.StreamID, f.FrameID))
	}
	if f.StreamID != s.fragSID || f.FrameID != s.fragFID {
		return s.fail(out, protoErr(codec.StatusInterlacedFrames,
			"fragment of %d/%d while NOTIFY %d/%d is in fragments", f.StreamID, f.FrameID, s.fragSID, s.fragFID))
	}
	if f.Abort() {
		s.cfg.metrics.fragsAborted.Inc()
		s.dropFragments()
		return out
	}
	if len(*s.frag)+len(f.Payload) > s.cfg.maxReassembly {
		return s.fail(out, protoErr(codec.StatusFrameTooBig, "fragmented NOTIFY exceeds %d bytes", s.cfg.maxReassembly))
	}
	*s.frag = append(*s.frag, f.Payload...)
	if !f.Fin() {
		return out
	}
	out = s.ack(s.fragSID, s.fragFID, *s.frag, out)
	s.dropFragments()
	return out
}

func (s *session) dropFragments() {
	if s.frag == nil {
		return
	}
	if cap(*s.frag) <= s.cfg.maxReassembly { // keep the pool's buffers bounded too
		reassemblyPool.Put(s.frag)
	}
	s.frag = nil
	s.cfg.metrics.fragsInflight.Dec()
}

// disconnect appends an AGENT-DISCONNECT and moves to closing.
func (s *session) disconnect(out []byte, st codec.Status, msg string) []byte {
	s.state = stateClosing
	s.status, s.sentDisc = st, true
	return codec.AppendAgentDisconnect(out, st, msg)
}

// fail ends the connection on a protocol error: AGENT-DISCONNECT with the error's status,
// then close (docs/PROTOCOL.md#disconnect). Errors that are not a *codec.Error are status 4.
func (s *session) fail(out []byte, err error) []byte {
	st := codec.StatusInvalidFrame
	var ce *codec.Error
	if errors.As(err, &ce) {
		st = ce.Status
	}
	s.err = err
	s.dropFragments()
	return s.disconnect(out, st, "")
}

// shutdown ends a ready connection on the agent's initiative (graceful stop): status 0.
func (s *session) shutdown(out []byte) []byte {
	if s.state == stateClosing {
		return out
	}
	if s.state == stateAwaitHello { // nothing negotiated: just close
		s.state = stateClosing
		return out
	}
	return s.disconnect(out, codec.StatusNormal, "agent shutting down")
}

// close releases what the session holds. It is called once, when the connection is gone.
func (s *session) close() {
	s.dropFragments()
	if s.h != nil {
		s.h.Close()
		s.h, s.pf = nil, nil
	}
}

func protoErr(st codec.Status, format string, args ...any) error {
	return &codec.Error{Status: st, Reason: fmt.Sprintf(format, args...)}
}
