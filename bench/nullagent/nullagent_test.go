package nullagent

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// agent is shared by the tests: gnet takes half a second to stop an engine.
var agent *Agent

func TestMain(m *testing.M) {
	var err error
	if agent, err = Start(Config{Addr: "127.0.0.1:0"}); err != nil {
		panic(err)
	}
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := agent.Stop(ctx); err != nil && code == 0 {
		println("stopping the agent:", err.Error())
		code = 1
	}
	cancel()
	os.Exit(code)
}

var v26, v34 = testutil.V26, testutil.V34

// handshake connects with the captured 2.6 HELLO and checks the AGENT-HELLO.
func handshake(t *testing.T) *testutil.Client {
	t.Helper()
	c := testutil.Dial(t, agent.Addr())
	f := c.Handshake()
	if f.StreamID != 0 || f.FrameID != 0 {
		t.Fatalf("AGENT-HELLO ids %d/%d", f.StreamID, f.FrameID)
	}
	kv := map[string]string{}
	for k, v := range f.KV {
		kv[k] = v.String()
	}
	if kv["version"] != `"2.0"` || kv["max-frame-size"] != "UINT32(16380)" || kv["capabilities"] != `"pipelining"` {
		t.Errorf("AGENT-HELLO %v", kv)
	}
	return c
}

// checkAck checks f is the canned ACK for stream-id sid (the client has checked FIN).
func checkAck(t *testing.T, f testutil.Frame, sid uint64) {
	t.Helper()
	if f.Type != codec.FrameAck || f.StreamID != sid || f.FrameID != 1 {
		t.Fatalf("got %s ids %d/%d, want ACK %d/1", f.Type, f.StreamID, f.FrameID, sid)
	}
	a := f.Actions[0]
	if a.Type != codec.ActionSetVar || a.Scope != codec.ScopeTxn || string(a.Name) != "blocked" || a.Value.Type != codec.TypeBool || a.Value.Bool {
		t.Errorf("action %+v, want set-var txn.blocked false", a)
	}
}

func TestHandshakeWithCapturedHello(t *testing.T) {
	handshake(t)
}

// The captured NOTIFY with stream-id 0 (valid on 2.6) gets an ACK with the same ids.
func TestNotifyGetsCannedAckWithItsIDs(t *testing.T) {
	c := handshake(t)
	for _, tt := range []struct {
		notify []byte
		sid    uint64
	}{
		{v26(t, "06_"), 0},
		{v26(t, "10_"), 2294},
		{v34(t, "05_"), 7},
	} {
		c.Send(tt.notify)
		checkAck(t, c.Expect(codec.FrameAck), tt.sid)
	}
}

// One captured TCP segment holding 15 pipelined NOTIFYs gets 15 ACKs, in order.
func TestFifteenNotifiesInOneSegment(t *testing.T) {
	c := handshake(t)
	seg := v26(t, "29_")
	var sids []uint64
	for b := seg; len(b) > 0; {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, b, codec.DefaultMaxFrameSize)
		if err != nil || n == 0 {
			t.Fatalf("capture: %v", err)
		}
		sids = append(sids, f.StreamID)
		b = b[n:]
	}
	// Split the segment mid-frame too: the partial frame must wait for its rest.
	c.Send(seg[:len(seg)/2])
	time.Sleep(10 * time.Millisecond)
	c.Send(seg[len(seg)/2:])
	for _, sid := range sids {
		checkAck(t, c.Expect(codec.FrameAck), sid)
	}
	if len(sids) != 15 {
		t.Errorf("%d NOTIFYs in the capture, want 15", len(sids))
	}
}

func TestHealthCheckIsAnsweredThenClosed(t *testing.T) {
	c := testutil.Dial(t, agent.Addr())
	c.Send(v26(t, "02_"))
	c.Expect(codec.FrameAgentHello)
	c.ExpectClosed()
}

func TestHAProxyDisconnectIsAnswered(t *testing.T) {
	c := handshake(t)
	c.Send(v26(t, "19_"))
	c.ExpectDisconnect(codec.StatusNormal)
}

func TestBadInputGetsDisconnect(t *testing.T) {
	tests := []struct {
		name   string
		before bool // handshake first
		send   []byte
		status codec.Status
	}{
		{"NOTIFY before HELLO", false, v26(t, "06_"), codec.StatusInvalidFrame},
		{"frame too big", true, []byte{0x7f, 0, 0, 0, 3}, codec.StatusFrameTooBig},
		{"unknown frame type", true, []byte{0, 0, 0, 7, 77, 0, 0, 0, 1, 0, 0}, codec.StatusInvalidFrame},
		{"unsupported version", false, codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("1.0"), MaxFrameSize: 16380}), codec.StatusUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *testutil.Client
			if tt.before {
				c = handshake(t)
			} else {
				c = testutil.Dial(t, agent.Addr())
			}
			c.Send(tt.send)
			c.ExpectDisconnect(tt.status)
		})
	}
}
