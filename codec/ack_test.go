package codec_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// AppendAck, the agent's one-copy ACK, writes exactly what BeginAck, the actions and
// FinishFrame write, for one-byte ids (its fast path) and longer ones alike.
func TestAppendAckMatchesTheGeneralEncoder(t *testing.T) {
	allowed, blocked := verdictActions([]byte("spamhaus-drop"))
	ids := []uint64{0, 1, 2, 239, 240, 2294, 1 << 40, math.MaxUint64}
	for _, actions := range [][]byte{allowed, blocked} {
		for _, sid := range ids {
			for _, fid := range ids {
				want, start := codec.BeginAck([]byte("prefix"), sid, fid)
				want = codec.FinishFrame(append(want, actions...), start)
				got := codec.AppendAck([]byte("prefix"), sid, fid, actions)
				if !bytes.Equal(got, want) {
					t.Fatalf("ids %d/%d:\n got % x\nwant % x", sid, fid, got, want)
				}
				f, n, err := codec.ReadFrame(got[len("prefix"):], math.MaxUint32)
				if err != nil || n != len(got)-len("prefix") || f.Type != codec.FrameAck || !f.Fin() ||
					f.StreamID != sid || f.FrameID != fid || !bytes.Equal(f.Payload, actions) {
					t.Fatalf("ids %d/%d: reads back as %+v, n=%d, %v", sid, fid, f, n, err)
				}
			}
		}
	}
}

// The captured ACK that HAProxy 2.6 accepted (vector 16) comes out of AppendAck byte for byte.
func TestAppendAckWritesTheCapturedLayout(t *testing.T) {
	want := loadHex(t, "haproxy-2.6.12", "16_ack-block.hex")
	actions := codec.AppendSetVar(nil, codec.ScopeTxn, "blocked", codec.BoolValue(true))
	actions = codec.AppendSetVar(actions, codec.ScopeTxn, "score", codec.Uint32Value(100))
	if got := codec.AppendAck(nil, 2, 1, actions); !bytes.Equal(got, want) {
		t.Errorf("ACK\n got % x\nwant % x", got, want)
	}
}

// ReadFrameInto decodes what ReadFrame decodes and touches the caller's Frame only when it
// returns a frame.
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
	var f codec.Frame
	n, err := codec.ReadFrameInto(&f, oneIPv4Notify, codec.DefaultMaxFrameSize)
	want, wn, _ := codec.ReadFrame(oneIPv4Notify, codec.DefaultMaxFrameSize)
	if err != nil || n != wn || f.Type != want.Type || f.Flags != want.Flags || f.StreamID != want.StreamID ||
		f.FrameID != want.FrameID || !bytes.Equal(f.Payload, want.Payload) {
		t.Errorf("ReadFrameInto %+v n=%d %v, ReadFrame %+v n=%d", f, n, err, want, wn)
	}
}
