package server

// The protocol logic of one connection, without a socket: session.handle turns inbound bytes
// into the frames to send.

import (
	"fmt"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

func testSessionConfig() *sessionConfig {
	return &sessionConfig{
		maxFrameSize:  codec.DefaultMaxFrameSize,
		capabilities:  "pipelining,fragmentation",
		fragmentation: true,
		maxReassembly: DefaultMaxReassembly,
		handler:       fakeHandler{},
		metrics:       newServerMetrics(metrics.NewSet()),
	}
}

// run feeds in to a fresh session in one piece and returns the decoded output.
func run(t *testing.T, cfg *sessionConfig, in []byte) (out []testutil.Frame, consumed int, closeAfter bool, s *session) {
	t.Helper()
	s = newSession(cfg)
	consumed, raw, closeAfter := s.handle(in, nil)
	return testutil.DecodeAll(t, raw), consumed, closeAfter, s
}

func TestHelloAnswered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hello []byte
	}{
		{"2.6", v26(t, "01_")},
		{"2.6 no pipelining", v26(t, "03_")},
		{"3.4", v34(t, "01_")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, consumed, closeAfter, s := run(t, testSessionConfig(), tc.hello)
			if len(out) != 1 || out[0].Type != codec.FrameAgentHello || closeAfter || consumed != len(tc.hello) {
				t.Fatalf("got %d frames, closeAfter %v, consumed %d", len(out), closeAfter, consumed)
			}
			h := out[0]
			if h.StreamID != 0 || h.FrameID != 0 {
				t.Errorf("AGENT-HELLO ids %d/%d, want 0/0", h.StreamID, h.FrameID)
			}
			if v := h.KV["version"]; v.Type != codec.TypeString || string(v.Bytes) != "2.0" {
				t.Errorf("version %v", v)
			}
			if v := h.KV["max-frame-size"]; !v.Type.IsInt() || v.Uint != 16380 {
				t.Errorf("max-frame-size %v, want HAProxy's 16380 echoed", v)
			}
			if v := h.KV["capabilities"]; string(v.Bytes) != "pipelining,fragmentation" {
				t.Errorf("capabilities %v", v)
			}
			if s.state != stateReady || s.maxFrame != 16380+codec.MaxHeaderLength {
				t.Errorf("state %s maxFrame %d", s.state, s.maxFrame)
			}
		})
	}
}

func TestHelloNegotiatesSmallerFrameSize(t *testing.T) {
	cfg := testSessionConfig()
	cfg.maxFrameSize = 1024
	out, _, _, s := run(t, cfg, v26(t, "01_"))
	if v := out[0].KV["max-frame-size"]; v.Uint != 1024 || s.maxFrame != 1024+codec.MaxHeaderLength {
		t.Fatalf("max-frame-size %v / %d, want min(16380, 1024)", v, s.maxFrame)
	}
	// HAProxy's smaller value wins too.
	hello := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 300, Capabilities: []byte("pipelining")})
	out, _, _, _ = run(t, testSessionConfig(), hello)
	if v := out[0].KV["max-frame-size"]; v.Uint != 300 {
		t.Fatalf("max-frame-size %v, want 300", v)
	}
}

func TestCapabilitiesCanBeTurnedOff(t *testing.T) {
	cfg := testSessionConfig()
	cfg.capabilities = ""
	out, _, _, _ := run(t, cfg, v26(t, "01_"))
	if v := out[0].KV["capabilities"]; v.Type != codec.TypeString || len(v.Bytes) != 0 {
		t.Fatalf("capabilities %v, want empty STRING", v)
	}
}

func TestHealthcheckHelloAnsweredThenClosed(t *testing.T) {
	for _, v := range [][]byte{v26(t, "02_"), v34(t, "02_")} {
		out, _, closeAfter, _ := run(t, testSessionConfig(), v)
		if len(out) != 1 || out[0].Type != codec.FrameAgentHello || !closeAfter {
			t.Fatalf("got %d frames (%v), closeAfter %v; want AGENT-HELLO then close", len(out), out, closeAfter)
		}
	}
}

func TestCapturedNotifiesAnswered(t *testing.T) {
	for _, tc := range []struct {
		hello, notify []byte
		sid, fid      uint64
		blocked       bool
	}{
		{v26(t, "01_"), v26(t, "06_"), 0, 1, false},
		{v26(t, "01_"), v26(t, "07_"), 2, 1, true},
		{v26(t, "01_"), v26(t, "08_"), 5, 1, false},
		{v26(t, "01_"), v26(t, "09_"), 240, 1, false},
		{v26(t, "01_"), v26(t, "10_"), 2294, 1, false},
		{v26(t, "01_"), v26(t, "11_"), 0, 1, false},
		{v26(t, "01_"), v26(t, "12_"), 2, 1, false},
		{v26(t, "01_"), v26(t, "13_"), 5, 1, false},
		{v34(t, "01_"), v34(t, "03_"), 1, 1, false},
		{v34(t, "01_"), v34(t, "04_"), 3, 1, true},
		{v34(t, "01_"), v34(t, "05_"), 7, 1, false},
	} {
		out, _, closeAfter, _ := run(t, testSessionConfig(), cat(tc.hello, tc.notify))
		if len(out) != 2 || closeAfter {
			t.Fatalf("NOTIFY %d/%d: got %d frames, closeAfter %v", tc.sid, tc.fid, len(out), closeAfter)
		}
		ack := out[1]
		if ack.Type != codec.FrameAck || ack.StreamID != tc.sid || ack.FrameID != tc.fid {
			t.Errorf("got %s %d/%d, want ACK %d/%d", ack.Type, ack.StreamID, ack.FrameID, tc.sid, tc.fid)
		}
		if got := ack.BlockedVar(t); got != tc.blocked {
			t.Errorf("ACK %d/%d blocked=%v, want %v", tc.sid, tc.fid, got, tc.blocked)
		}
	}
}

func TestFifteenNotifiesInOneSegmentGetFifteenACKsInOneBatch(t *testing.T) {
	s := newSession(testSessionConfig())
	_, _, _ = s.handle(v26(t, "01_"), nil)
	seg := v26(t, "29_")
	consumed, raw, closeAfter := s.handle(seg, nil)
	acks := testutil.DecodeAll(t, raw)
	if consumed != len(seg) || closeAfter || len(acks) != 15 {
		t.Fatalf("consumed %d of %d, closeAfter %v, %d ACKs; want all, false, 15", consumed, len(seg), closeAfter, len(acks))
	}
	if fc := s.h.(*fakeConn); fc.batches != 1 || fc.batchOpen != 0 {
		t.Errorf("handler saw %d batches (%d open), want exactly 1 closed batch", fc.batches, fc.batchOpen)
	}
	if s.stats.notify != 15 || s.stats.acks != 15 {
		t.Errorf("stats %+v", s.stats)
	}
}

// TestPartialFrameWaits feeds a stream one byte at a time, as a slow network would, keeping
// the unconsumed bytes like gnet's inbound buffer does.
func TestPartialFrameWaits(t *testing.T) {
	stream := cat(v26(t, "01_"), v26(t, "29_"), v26(t, "07_"))
	s := newSession(testSessionConfig())
	var buf, out []byte
	for i := range stream {
		buf = append(buf, stream[i])
		n, o, closeAfter := s.handle(buf, out)
		if closeAfter {
			t.Fatalf("closed at byte %d", i)
		}
		out = o
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left unconsumed", len(buf))
	}
	fs := testutil.DecodeAll(t, out)
	if len(fs) != 17 || fs[0].Type != codec.FrameAgentHello || !fs[16].BlockedVar(t) {
		t.Fatalf("got %d frames, want AGENT-HELLO and 16 ACKs, the last blocked", len(fs))
	}
}

func TestFragmentedNotifyReassembled(t *testing.T) {
	frags := [][]byte{v26(t, "14a"), v26(t, "14b"), v26(t, "14c"), v26(t, "14d")}
	cfg := testSessionConfig()
	// In one batch, and one fragment per read event.
	// A NOTIFY after the fragments proves nothing else came out of them.
	out, _, closeAfter, s := run(t, cfg, cat(v26(t, "01_"), cat(frags...), v26(t, "06_")))
	if len(out) != 3 || closeAfter || out[1].Type != codec.FrameAck || out[1].StreamID != 4 || out[1].FrameID != 1 || out[2].StreamID != 0 {
		t.Fatalf("got %v closeAfter %v; want AGENT-HELLO, one ACK 4/1, and the next NOTIFY's ACK 0", out, closeAfter)
	}
	if s.frag != nil || cfg.metrics.fragsInflight.Get() != 0 {
		t.Errorf("reassembly buffer still held")
	}
	s = newSession(cfg)
	_, _, _ = s.handle(v26(t, "01_"), nil)
	var acks int
	for i, f := range frags {
		n, raw, closeAfter := s.handle(f, nil)
		if n != len(f) || closeAfter {
			t.Fatalf("fragment %d: consumed %d of %d, closeAfter %v", i, n, len(f), closeAfter)
		}
		if i < 3 && len(raw) != 0 {
			t.Fatalf("answer before the last fragment")
		}
		acks += len(testutil.DecodeAll(t, raw))
	}
	if acks != 1 {
		t.Fatalf("%d ACKs, want 1", acks)
	}
}

func TestFragmentedNotifyAbortDropped(t *testing.T) {
	abort, start := codec.BeginFrame(nil, codec.FrameUnset, codec.FlagFin|codec.FlagAbort, 4, 1)
	abort = codec.FinishFrame(abort, start)
	cfg := testSessionConfig()
	out, _, closeAfter, s := run(t, cfg, cat(v26(t, "01_"), v26(t, "14a"), v26(t, "14b"), abort, v26(t, "06_")))
	if closeAfter || len(out) != 2 || out[1].StreamID != 0 {
		t.Fatalf("got %v closeAfter %v; want AGENT-HELLO and only the ACK of the next NOTIFY", out, closeAfter)
	}
	if s.frag != nil || cfg.metrics.fragsInflight.Get() != 0 {
		t.Errorf("reassembly buffer still held")
	}
	if got := cfg.metrics.fragsAborted.Get(); got != 1 {
		t.Errorf("%d aborts counted, want 1", got)
	}
}

// notifyFrame builds a NOTIFY with one check-client-ip message carrying ip.
func notifyFrame(sid, fid uint64, ip [4]byte) []byte {
	msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
	return codec.AppendNotify(nil, sid, fid, msg)
}

func frameWith(t codec.FrameType, flags codec.Flags, sid, fid uint64, payload []byte) []byte {
	b, start := codec.BeginFrame(nil, t, flags, sid, fid)
	return codec.FinishFrame(append(b, payload...), start)
}

func TestBadInputEndsWithStatus(t *testing.T) {
	hello := v26(t, "01_")
	bigLen := []byte{0, 0, 0x40, 0x1a, 3, 0, 0, 0, 1} // length 16410 > 16380 + MaxHeaderLength
	small := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 100})
	v1 := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("1.0"), MaxFrameSize: 16380})
	noVersion := frameWith(codec.FrameHAProxyHello, codec.FlagFin, 0, 0, nil)
	helloNoMFS := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0")})
	helloIDs := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 16380})
	helloIDs[10] = 1 // frame-id 1
	truncatedNotify := notifyFrame(1, 1, [4]byte{1, 2, 3, 4})
	truncatedNotify = truncatedNotify[:len(truncatedNotify)-2]
	truncatedNotify[3] -= 2
	// The handler decides on the first message and stops there; the second does not decode.
	badSecond := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&[4]byte{127, 0, 0, 2}))
	badSecond = codec.AppendNotify(nil, 1, 1, codec.AppendMessage(badSecond, "check-request", 2))
	frag := v26(t, "14a")
	fragOtherIDs := frameWith(codec.FrameUnset, codec.FlagFin, 99, 1, []byte{0})
	noFragCfg := testSessionConfig()
	noFragCfg.fragmentation = false
	smallReassembly := testSessionConfig()
	smallReassembly.maxReassembly = 300
	for _, tc := range []struct {
		name string
		cfg  *sessionConfig
		in   []byte
		want codec.Status
	}{
		{"NOTIFY before HELLO", nil, v26(t, "06_"), codec.StatusInvalidFrame},
		{"DISCONNECT before HELLO", nil, v26(t, "19_"), codec.StatusInvalidFrame},
		{"agent frame type from HAProxy", nil, cat(hello, v26(t, "15_")), codec.StatusInvalidFrame},
		{"second HELLO", nil, cat(hello, hello), codec.StatusInvalidFrame},
		{"unknown frame type", nil, cat(hello, []byte{0, 0, 0, 7, 42, 0, 0, 0, 1, 0, 0}), codec.StatusInvalidFrame},
		{"frame shorter than a header", nil, cat(hello, []byte{0, 0, 0, 2, 3, 0}), codec.StatusInvalidFrame},
		{"frame longer than max-frame-size", nil, cat(hello, bigLen), codec.StatusFrameTooBig},
		{"frame too big before HELLO", nil, bigLen, codec.StatusFrameTooBig},
		{"malformed NOTIFY", nil, cat(hello, truncatedNotify), codec.StatusInvalidFrame},
		{"malformed message after the deciding one", nil, cat(hello, badSecond), codec.StatusInvalidFrame},
		{"version 1.0 only", nil, v1, codec.StatusUnsupportedVersion},
		{"no supported-versions", nil, noVersion, codec.StatusNoVersion},
		{"no max-frame-size", nil, helloNoMFS, codec.StatusNoMaxFrameSize},
		{"max-frame-size below 256", nil, small, codec.StatusBadMaxFrameSize},
		{"HELLO with non-zero ids", nil, helloIDs, codec.StatusInvalidFrame},
		{"NOTIFY interleaved with fragments", nil, cat(hello, frag, v26(t, "06_")), codec.StatusInterlacedFrames},
		{"fragment of another stream", nil, cat(hello, frag, fragOtherIDs), codec.StatusInterlacedFrames},
		{"two fragmented NOTIFYs interleaved", nil, cat(hello, frag, frameWith(codec.FrameNotify, 0, 6, 1, []byte{0})), codec.StatusInterlacedFrames},
		{"UNSET with no fragmented NOTIFY", nil, cat(hello, v26(t, "14b")), codec.StatusInvalidFrame},
		{"fragments without fragmentation", noFragCfg, cat(hello, frag), codec.StatusFragmentationUnsupported},
		{"reassembly over the cap", smallReassembly, cat(hello, frag, v26(t, "14b")), codec.StatusFrameTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = testSessionConfig()
			}
			out, consumed, closeAfter, s := run(t, cfg, tc.in)
			if !closeAfter || consumed != len(tc.in) {
				t.Fatalf("closeAfter %v consumed %d of %d; want close, all consumed", closeAfter, consumed, len(tc.in))
			}
			last := out[len(out)-1]
			if got := last.Status(t); got != tc.want {
				t.Fatalf("status %d (%s), want %d (%s); error: %v", got, got, tc.want, tc.want, s.err)
			}
			if s.err == nil {
				t.Errorf("no error recorded for the log")
			}
			if cfg.metrics.fragsInflight.Get() != 0 {
				t.Errorf("fragments in flight after close")
			}
		})
	}
}

func TestHAProxyDisconnectAnswered(t *testing.T) {
	for _, d := range [][]byte{v26(t, "19_"), v26(t, "20_"), v26(t, "21_")} {
		out, _, closeAfter, s := run(t, testSessionConfig(), cat(v26(t, "01_"), d, v26(t, "06_")))
		if !closeAfter || len(out) != 2 {
			t.Fatalf("got %d frames, closeAfter %v; want AGENT-HELLO, AGENT-DISCONNECT, close, and nothing after", len(out), closeAfter)
		}
		if st := out[1].Status(t); st != codec.StatusNormal || !s.gotDisc || s.err != nil {
			t.Fatalf("answered status %d, gotDisc %v, err %v", st, s.gotDisc, s.err)
		}
	}
}

func TestShutdownSendsNormalDisconnect(t *testing.T) {
	s := newSession(testSessionConfig())
	_, _, _ = s.handle(v26(t, "01_"), nil)
	out := testutil.DecodeAll(t, s.shutdown(nil))
	if len(out) != 1 || out[0].Status(t) != codec.StatusNormal || s.state != stateClosing {
		t.Fatalf("got %v, state %s", out, s.state)
	}
}

// TestNotifyToAckDoesNotAllocate is the zero-allocation requirement: a warm session turns
// real captured NOTIFYs into ACKs without allocating.
func TestNotifyToAckDoesNotAllocate(t *testing.T) {
	s := newSession(testSessionConfig())
	_, _, _ = s.handle(v26(t, "01_"), nil)
	testutil.WantNoAllocs(t, []testutil.Batch{
		{Name: "one NOTIFY", In: v26(t, "06_")},
		{Name: "15 NOTIFYs", In: v26(t, "29_")},
		{Name: "12 args 2 messages", In: v26(t, "11_")},
		{Name: "fragmented", In: cat(v26(t, "14a"), v26(t, "14b"), v26(t, "14c"), v26(t, "14d"))},
		{Name: "3.4 IPv6", In: v34(t, "05_")},
	}, func(in, out []byte) error {
		if n, o, closeAfter := s.handle(in, out); n != len(in) || closeAfter || len(o) == 0 {
			return fmt.Errorf("consumed %d closeAfter %v", n, closeAfter)
		}
		return nil
	})
}

// FuzzSessionHandle feeds arbitrary bytes to a session, before and after the handshake, in
// arbitrary splits: it must never panic, never consume more than it was given, and end every
// connection it closes on a protocol error with an AGENT-DISCONNECT.
func FuzzSessionHandle(f *testing.F) {
	for _, seed := range [][]byte{
		v26(f, "06_"), v26(f, "11_"), v26(f, "29_"), v26(f, "19_"),
		cat(v26(f, "14a"), v26(f, "14b"), v26(f, "14c"), v26(f, "14d")),
		v34(f, "05_"), {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0},
	} {
		f.Add(seed, true, uint8(7))
		f.Add(seed, false, uint8(0))
	}
	hello := v26(f, "01_")
	f.Fuzz(func(t *testing.T, in []byte, handshake bool, split uint8) {
		cfg := testSessionConfig()
		cfg.maxReassembly = 1024
		s := newSession(cfg)
		if handshake {
			_, _, _ = s.handle(hello, nil)
		}
		var buf, out []byte
		step := int(split)%(len(in)+1) + 1
		for i := 0; i < len(in); i += step {
			buf = append(buf, in[i:min(i+step, len(in))]...)
			n, o, closeAfter := s.handle(buf, out)
			if n > len(buf) {
				t.Fatalf("consumed %d of %d", n, len(buf))
			}
			out = o
			buf = buf[n:]
			if closeAfter {
				break
			}
		}
		if s.err != nil {
			fs := testutil.DecodeAll(t, out)
			if len(fs) == 0 || fs[len(fs)-1].Type != codec.FrameAgentDisconnect {
				t.Fatalf("closed on %v without AGENT-DISCONNECT", s.err)
			}
		}
		s.close()
		if cfg.metrics.fragsInflight.Get() != 0 {
			t.Fatal("reassembly buffer leaked")
		}
	})
}
