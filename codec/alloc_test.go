package codec_test

import (
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// The hot path of the agent: read a NOTIFY from the connection buffer, find the client
// address among its arguments, append the ACK to a reused output buffer. None of it may
// allocate.

// oneIPv4Notify is vector 06: NOTIFY check-client-ip, ip=127.0.0.1, stream-id 0, frame-id 1.
var oneIPv4Notify = h("00 00 00 20 03 00 00 00 01 00 01 0f 63 68 65 63 6b 2d 63 6c 69 65 6e 74 2d 69 70 01 02 69 70 06 7f 00 00 01")

// clientIP reads one NOTIFY into f and returns the first address argument, as the server does.
func clientIP(f *codec.Frame, src []byte) (codec.Value, bool) {
	n, err := codec.ReadFrameInto(f, src, codec.DefaultMaxFrameSize)
	if err != nil || n == 0 || f.Type != codec.FrameNotify {
		return codec.Value{}, false
	}
	msgs := codec.NewMessageIterator(f.Payload)
	for msgs.Next() {
		args := msgs.Args()
		for args.Next() {
			if v := args.Value(); v.Type == codec.TypeIPv4 || v.Type == codec.TypeIPv6 {
				return v, true
			}
		}
	}
	return codec.Value{}, false
}

// appendVerdict appends the ACK the agent sends: set-var txn.blocked BOOL and txn.list STRING.
func appendVerdict(dst []byte, f *codec.Frame, blocked bool, list []byte) []byte {
	dst, start := codec.BeginAck(dst, f.StreamID, f.FrameID)
	dst = codec.AppendSetVar(dst, codec.ScopeTxn, "blocked", codec.BoolValue(blocked))
	dst = codec.AppendSetVar(dst, codec.ScopeTxn, "list", codec.StringValue(list))
	return codec.FinishFrame(dst, start)
}

// appendAck appends the ACK of f from a verdict's pre-encoded actions, as the agent does.
func appendAck(dst []byte, f *codec.Frame, actions []byte) []byte {
	dst, start := codec.BeginAck(dst, f.StreamID, f.FrameID)
	return codec.FinishFrame(append(dst, actions...), start)
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	hello := readOne(t, testutil.Capture(t, "haproxy-2.6.12", "01_haproxy-hello.hex"))
	out := make([]byte, 0, 256)
	list := []byte("spamhaus-drop")
	allowedActs, blockedActs := verdictActions(list)
	tests := []struct {
		name string
		run  func()
	}{
		{"reading a one-IPv4 NOTIFY and iterating its message and argument", func() {
			var f codec.Frame
			if v, ok := clientIP(&f, oneIPv4Notify); !ok || v.Bytes[0] != 127 {
				t.Fatal("no address found")
			}
		}},
		{"encoding an ACK with two set-vars into a reused buffer", func() {
			f := codec.Frame{StreamID: 2294, FrameID: 1}
			out = appendVerdict(out[:0], &f, true, list)
		}},
		{"ParseHello", func() {
			h, err := codec.ParseHello(hello.Payload)
			if err != nil || !h.SupportsVersion("2.0") || !codec.HasCapability(h.Capabilities, "pipelining") {
				t.Fatal("bad HELLO")
			}
		}},
		{"encoding an AGENT-HELLO into a reused buffer", func() {
			out = codec.AppendAgentHello(out[:0], codec.AgentHello{Version: "2.0", MaxFrameSize: 16380, Capabilities: "pipelining"})
		}},
		{"encoding an AGENT-DISCONNECT into a reused buffer", func() {
			out = codec.AppendAgentDisconnect(out[:0], codec.StatusInvalidFrame, "")
		}},
		{"reading a NOTIFY into a Frame, finding its address and appending the pre-encoded ACK", func() {
			var f codec.Frame
			if n, err := codec.ReadFrameInto(&f, oneIPv4Notify, codec.DefaultMaxFrameSize); n == 0 || err != nil {
				t.Fatal(n, err)
			}
			actions := allowedActs
			if blockedClient(f.Payload) {
				actions = blockedActs
			}
			out = appendAck(out[:0], &f, actions)
		}},
		{"reading a NOTIFY and encoding its ACK", func() {
			var f codec.Frame
			clientIP(&f, oneIPv4Notify)
			out = appendVerdict(out[:0], &f, false, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.run); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
}

func TestAckEncoderWritesTheCapturedLayout(t *testing.T) {
	// Vector 16 (accepted by HAProxy 2.6.12, which answered 403): blocked=true, score=100.
	want := testutil.Capture(t, "haproxy-2.6.12", "16_ack-block.hex")
	dst, start := codec.BeginAck(nil, 2, 1)
	dst = codec.AppendSetVar(dst, codec.ScopeTxn, "blocked", codec.BoolValue(true))
	dst = codec.AppendSetVar(dst, codec.ScopeTxn, "score", codec.Uint32Value(100))
	if got := codec.FinishFrame(dst, start); string(got) != string(want) {
		t.Errorf("ACK\n got % x\nwant % x", got, want)
	}
}
