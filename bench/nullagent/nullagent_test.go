package nullagent

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

func capture(t *testing.T, name string) []byte {
	t.Helper()
	return testutil.HexFile(t, filepath.Join("..", "..", "testdata", "spop", name))
}

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

func dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", agent.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// reader returns successive frames read from c.
type reader struct {
	c      net.Conn
	buf    []byte
	filled int
}

func (r *reader) next(t *testing.T) codec.Frame {
	t.Helper()
	for {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, r.buf[:r.filled], codec.DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			// Copy the payload out: the buffer is reused by the next read.
			f.Payload = append([]byte(nil), f.Payload...)
			r.filled = copy(r.buf, r.buf[n:r.filled])
			return f
		}
		m, err := r.c.Read(r.buf[r.filled:])
		if err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		r.filled += m
	}
}

func handshake(t *testing.T, c net.Conn) *reader {
	t.Helper()
	if _, err := c.Write(capture(t, "haproxy-2.6.12/01_haproxy-hello.hex")); err != nil {
		t.Fatal(err)
	}
	r := &reader{c: c, buf: make([]byte, 1<<16)}
	f := r.next(t)
	if f.Type != codec.FrameAgentHello || !f.Fin() || f.StreamID != 0 || f.FrameID != 0 {
		t.Fatalf("answer to HAPROXY-HELLO: %s flags %s ids %d/%d", f.Type, f.Flags, f.StreamID, f.FrameID)
	}
	kv := map[string]string{}
	it := codec.NewKVIterator(f.Payload)
	for it.Next() {
		kv[string(it.Key())] = it.Value().String()
	}
	if kv["version"] != `"2.0"` || kv["max-frame-size"] != "UINT32(16380)" || kv["capabilities"] != `"pipelining"` {
		t.Errorf("AGENT-HELLO %v", kv)
	}
	return r
}

// checkAck checks f is the canned ACK for stream-id sid.
func checkAck(t *testing.T, f codec.Frame, sid uint64) {
	t.Helper()
	if f.Type != codec.FrameAck || !f.Fin() || f.StreamID != sid || f.FrameID != 1 {
		t.Fatalf("got %s flags %s ids %d/%d, want ACK FIN %d/1", f.Type, f.Flags, f.StreamID, f.FrameID, sid)
	}
	it := codec.NewActionIterator(f.Payload)
	if !it.Next() {
		t.Fatalf("ACK without actions: %v", it.Err())
	}
	a := it.Action()
	if a.Type != codec.ActionSetVar || a.Scope != codec.ScopeTxn || string(a.Name) != "blocked" || a.Value.Type != codec.TypeBool || a.Value.Bool {
		t.Errorf("action %+v, want set-var txn.blocked false", a)
	}
}

func TestHandshakeWithCapturedHello(t *testing.T) {
	handshake(t, dial(t))
}

// The captured NOTIFY with stream-id 0 (valid on 2.6) gets an ACK with the same ids.
func TestNotifyGetsCannedAckWithItsIDs(t *testing.T) {
	c := dial(t)
	r := handshake(t, c)
	for _, tt := range []struct {
		file string
		sid  uint64
	}{
		{"haproxy-2.6.12/06_notify-ipv4-sid0.hex", 0},
		{"haproxy-2.6.12/10_notify-sid2294-3byte-varint.hex", 2294},
		{"haproxy-3.4.0/05_notify-ipv6-sid7.hex", 7},
	} {
		c.Write(capture(t, tt.file))
		checkAck(t, r.next(t), tt.sid)
	}
}

// One captured TCP segment holding 15 pipelined NOTIFYs gets 15 ACKs, in order.
func TestFifteenNotifiesInOneSegment(t *testing.T) {
	c := dial(t)
	r := handshake(t, c)
	seg := capture(t, "haproxy-2.6.12/29_STREAM_15-notifies-in-one-tcp-segment.hex")
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
	c.Write(seg[:len(seg)/2])
	time.Sleep(10 * time.Millisecond)
	c.Write(seg[len(seg)/2:])
	for _, sid := range sids {
		checkAck(t, r.next(t), sid)
	}
	if len(sids) != 15 {
		t.Errorf("%d NOTIFYs in the capture, want 15", len(sids))
	}
}

func expectClose(t *testing.T, r *reader) {
	t.Helper()
	if _, err := r.c.Read(make([]byte, 1)); err != io.EOF {
		if ne, ok := err.(net.Error); !ok || ne.Timeout() {
			t.Errorf("connection not closed: %v", err)
		}
	}
}

func TestHealthCheckIsAnsweredThenClosed(t *testing.T) {
	c := dial(t)
	c.Write(capture(t, "haproxy-2.6.12/02_haproxy-hello-healthcheck.hex"))
	r := &reader{c: c, buf: make([]byte, 4096)}
	if f := r.next(t); f.Type != codec.FrameAgentHello {
		t.Fatalf("health check answered with %s", f.Type)
	}
	expectClose(t, r)
}

func TestHAProxyDisconnectIsAnswered(t *testing.T) {
	c := dial(t)
	r := handshake(t, c)
	c.Write(capture(t, "haproxy-2.6.12/19_haproxy-disconnect-normal.hex"))
	f := r.next(t)
	d, err := codec.ParseDisconnect(f.Payload)
	if f.Type != codec.FrameAgentDisconnect || err != nil || d.Status != codec.StatusNormal {
		t.Fatalf("answer %s status %d err %v", f.Type, d.Status, err)
	}
	expectClose(t, r)
}

func TestBadInputGetsDisconnect(t *testing.T) {
	tests := []struct {
		name   string
		before bool // handshake first
		send   []byte
		status codec.Status
	}{
		{"NOTIFY before HELLO", false, capture(t, "haproxy-2.6.12/06_notify-ipv4-sid0.hex"), codec.StatusInvalidFrame},
		{"frame too big", true, []byte{0x7f, 0, 0, 0, 3}, codec.StatusFrameTooBig},
		{"unknown frame type", true, []byte{0, 0, 0, 7, 77, 0, 0, 0, 1, 0, 0}, codec.StatusInvalidFrame},
		{"unsupported version", false, codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("1.0"), MaxFrameSize: 16380}), codec.StatusUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t)
			r := &reader{c: c, buf: make([]byte, 4096)}
			if tt.before {
				r = handshake(t, c)
			}
			c.Write(tt.send)
			f := r.next(t)
			d, _ := codec.ParseDisconnect(f.Payload)
			if f.Type != codec.FrameAgentDisconnect || d.Status != tt.status {
				t.Fatalf("answer %s status %d, want AGENT-DISCONNECT %d", f.Type, d.Status, tt.status)
			}
			expectClose(t, r)
		})
	}
}
