package codec_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var frameIDs = []uint64{0, 1, 2, 239, 240, 2294, 1 << 40, math.MaxUint64}

// BeginAck, the agent's per-NOTIFY encoder, writes the header BeginFrame writes, for one-byte
// ids (its fast path) and longer ones alike, and the ACK reads back with its ids and actions.
func TestBeginAckWritesWhatBeginFrameWrites(t *testing.T) {
	allowed, blocked := verdictActions([]byte("spamhaus-drop"))
	for _, actions := range [][]byte{allowed, blocked} {
		for _, sid := range frameIDs {
			for _, fid := range frameIDs {
				want, start := codec.BeginFrame([]byte("prefix"), codec.FrameAck, codec.FlagFin, sid, fid)
				want = codec.FinishFrame(append(want, actions...), start)
				got, start := codec.BeginAck([]byte("prefix"), sid, fid)
				got = codec.FinishFrame(append(got, actions...), start)
				if !bytes.Equal(got, want) {
					t.Fatalf("ids %d/%d:\n got % x\nwant % x", sid, fid, got, want)
				}
				f, n, err := readFrame(got[len("prefix"):], math.MaxUint32)
				if err != nil || n != len(got)-len("prefix") || f.Type != codec.FrameAck || !f.Fin() ||
					f.StreamID != sid || f.FrameID != fid || !bytes.Equal(f.Payload, actions) {
					t.Fatalf("ids %d/%d: reads back as %+v, n=%d, %v", sid, fid, f, n, err)
				}
			}
		}
	}
}

// The captured ACK that HAProxy 2.6 accepted (vector 16) comes out of BeginAck and a verdict's
// pre-encoded actions byte for byte.
func TestPreencodedActionsWriteTheCapturedAck(t *testing.T) {
	want := testutil.Capture(t, "haproxy-2.6.12", "16_ack-block.hex")
	actions := codec.AppendSetVar(nil, codec.ScopeTxn, "blocked", codec.BoolValue(true))
	actions = codec.AppendSetVar(actions, codec.ScopeTxn, "score", codec.Uint32Value(100))
	got, start := codec.BeginAck(nil, 2, 1)
	if got = codec.FinishFrame(append(got, actions...), start); !bytes.Equal(got, want) {
		t.Errorf("ACK\n got % x\nwant % x", got, want)
	}
}

// The captured one-IPv4 NOTIFY (vector 06) comes out of AppendNotify byte for byte, and any
// ids read back.
func TestAppendNotifyWritesTheCapturedNotify(t *testing.T) {
	ip := [4]byte{127, 0, 0, 1}
	msgs := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
	if got := codec.AppendNotify(nil, 0, 1, msgs); !bytes.Equal(got, oneIPv4Notify) {
		t.Errorf("NOTIFY\n got % x\nwant % x", got, oneIPv4Notify)
	}
	for _, sid := range frameIDs {
		for _, fid := range frameIDs {
			got := codec.AppendNotify([]byte("prefix"), sid, fid, msgs)
			f, n, err := readFrame(got[len("prefix"):], math.MaxUint32)
			if err != nil || n != len(got)-len("prefix") || f.Type != codec.FrameNotify || !f.Fin() ||
				f.StreamID != sid || f.FrameID != fid || !bytes.Equal(f.Payload, msgs) {
				t.Fatalf("ids %d/%d: reads back as %+v, n=%d, %v", sid, fid, f, n, err)
			}
		}
	}
}

// ReadFrameInto touches the caller's Frame only when it returns a frame.
func TestReadFrameIntoKeepsTheFrameUntilOneIsRead(t *testing.T) {
	keep := codec.Frame{Type: codec.FrameAck, StreamID: 9, FrameID: 9, Payload: []byte("keep")}
	for name, src := range map[string][]byte{
		"empty":          nil,
		"partial length": oneIPv4Notify[:3],
		"partial frame":  oneIPv4Notify[:len(oneIPv4Notify)-1],
		"too big":        {0x7f, 0xff, 0xff, 0xff},
		"too short":      {0, 0, 0, 1, 3},
	} {
		f := keep
		n, _ := codec.ReadFrameInto(&f, src, codec.DefaultMaxFrameSize)
		if n != 0 || f.Type != keep.Type || f.StreamID != 9 || string(f.Payload) != "keep" {
			t.Errorf("%s: n=%d, frame now %+v", name, n, f)
		}
	}
	f := keep
	n, err := codec.ReadFrameInto(&f, oneIPv4Notify, codec.DefaultMaxFrameSize)
	const header = codec.LengthSize + 1 + 4 + 1 + 1
	if err != nil || n != len(oneIPv4Notify) || f.Type != codec.FrameNotify || f.Flags != codec.FlagFin ||
		f.StreamID != 0 || f.FrameID != 1 || !bytes.Equal(f.Payload, oneIPv4Notify[header:]) {
		t.Errorf("vector 06 reads as %+v n=%d %v", f, n, err)
	}
}
