package server

import (
	"bytes"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var v26, v34 = testutil.V26, testutil.V34

// fakeHandler stands in for a decision handler: the first address argument of any message
// decides, and 127.0.0.2 and 2001:db8::2 are "blocked" by list "test".
type fakeHandler struct{}

func (fakeHandler) NewConn() ConnHandler { return &fakeConn{} }

type fakeConn struct {
	batches, batchOpen int
}

var (
	fakeBlocked4 = []byte{127, 0, 0, 2}
	fakeBlocked6 = []byte{0x20, 0x01, 0x0d, 0xb8, 14: 0, 15: 2}
)

func (f *fakeConn) BeginBatch() { f.batches++; f.batchOpen++ }
func (f *fakeConn) EndBatch()   { f.batchOpen-- }
func (f *fakeConn) Close()      {}

func (f *fakeConn) HandleNotify(msgs *codec.MessageIterator, ack []byte) []byte {
	blocked := false
decide:
	for msgs.Next() {
		args := msgs.Args()
		for args.Next() {
			if t := args.Type(); t == codec.TypeIPv4 || t == codec.TypeIPv6 {
				blocked = bytes.Equal(args.Bytes(), fakeBlocked4) || bytes.Equal(args.Bytes(), fakeBlocked6)
				break decide
			}
		}
	}
	ack = codec.AppendSetVar(ack, codec.ScopeTxn, "blocked", codec.BoolValue(blocked))
	if blocked {
		ack = codec.AppendSetVar(ack, codec.ScopeTxn, "list", codec.StringValue(listTest))
	}
	return ack
}

var listTest = []byte("test")

// decoded is a frame the agent sent, decoded for assertions.
type decoded struct {
	codec.Frame
	kv      map[string]codec.Value // HELLO and DISCONNECT
	actions []codec.Action         // ACK
}

// decodeAll decodes every frame in out; it fails the test on a partial or malformed frame
// or on a frame without FIN (every agent frame must have it).
func decodeAll(t testing.TB, out []byte) []decoded {
	t.Helper()
	var fs []decoded
	for len(out) > 0 {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, out, 1<<24)
		if err != nil || n == 0 {
			t.Fatalf("agent output does not decode (n=%d): %v\n% x", n, err, out)
		}
		out = out[n:]
		if f.Flags != codec.FlagFin {
			t.Fatalf("agent frame %s with flags %s, want FIN", f.Type, f.Flags)
		}
		d := decoded{Frame: f}
		d.Payload = append([]byte(nil), f.Payload...)
		switch f.Type {
		case codec.FrameAgentHello, codec.FrameAgentDisconnect:
			d.kv = map[string]codec.Value{}
			it := codec.NewKVIterator(d.Payload)
			for it.Next() {
				d.kv[string(it.Key())] = it.Value()
			}
			if it.Err() != nil {
				t.Fatalf("%s KV list: %v", f.Type, it.Err())
			}
		case codec.FrameAck:
			it := codec.NewActionIterator(d.Payload)
			for it.Next() {
				d.actions = append(d.actions, it.Action())
			}
			if it.Err() != nil {
				t.Fatalf("ACK actions: %v", it.Err())
			}
			if len(d.actions) == 0 {
				t.Fatalf("ACK %d/%d with no action", f.StreamID, f.FrameID)
			}
		default:
			t.Fatalf("agent sent a %s frame", f.Type)
		}
		fs = append(fs, d)
	}
	return fs
}

// blockedVar returns the value of the `blocked` set-var of an ACK.
func (d decoded) blockedVar(t testing.TB) bool {
	t.Helper()
	for _, a := range d.actions {
		if a.Type == codec.ActionSetVar && string(a.Name) == "blocked" && a.Value.Type == codec.TypeBool {
			return a.Value.Bool
		}
	}
	t.Fatalf("ACK %d/%d has no BOOL blocked: %v", d.StreamID, d.FrameID, d.actions)
	return false
}

func (d decoded) status(t testing.TB) codec.Status {
	t.Helper()
	if d.Type != codec.FrameAgentDisconnect {
		t.Fatalf("got %s, want AGENT-DISCONNECT", d.Type)
	}
	return codec.Status(d.kv["status-code"].Uint)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
