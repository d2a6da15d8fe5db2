package testutil

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// Safety bounds a test that would otherwise hang on a broken agent: the deadline of every
// Client connection. It is never what a test asserts on.
const Safety = 20 * time.Second

// Frame is a frame an agent sent, decoded for assertions. Payload is a copy.
type Frame struct {
	codec.Frame
	KV      map[string]codec.Value // AGENT-HELLO and AGENT-DISCONNECT
	Actions []codec.Action         // ACK
}

// DecodeFrames decodes every frame in out, all of which must be whole agent frames with FIN
// (every agent frame has it): an AGENT-HELLO, an AGENT-DISCONNECT, or an ACK with at least
// one action.
func DecodeFrames(out []byte) ([]Frame, error) {
	var fs []Frame
	var f codec.Frame
	for len(out) > 0 {
		n, err := codec.ReadFrameInto(&f, out, 1<<24)
		if err != nil || n == 0 {
			return fs, fmt.Errorf("agent output does not decode (n=%d): %v\n% x", n, err, out)
		}
		out = out[n:]
		if f.Flags != codec.FlagFin {
			return fs, fmt.Errorf("agent frame %s with flags %s, want FIN", f.Type, f.Flags)
		}
		d := Frame{Frame: f}
		d.Payload = append([]byte(nil), f.Payload...)
		switch f.Type {
		case codec.FrameAgentHello, codec.FrameAgentDisconnect:
			d.KV = map[string]codec.Value{}
			it := codec.NewKVIterator(d.Payload)
			for it.Next() {
				d.KV[string(it.Key())] = it.Value()
			}
			if it.Err() != nil {
				return fs, fmt.Errorf("%s KV list: %v", f.Type, it.Err())
			}
		case codec.FrameAck:
			it := codec.NewActionIterator(d.Payload)
			for it.Next() {
				d.Actions = append(d.Actions, it.Action())
			}
			if it.Err() != nil {
				return fs, fmt.Errorf("ACK actions: %v", it.Err())
			}
			if len(d.Actions) == 0 {
				return fs, fmt.Errorf("ACK %d/%d with no action", f.StreamID, f.FrameID)
			}
		default:
			return fs, fmt.Errorf("agent sent a %s frame", f.Type)
		}
		fs = append(fs, d)
	}
	return fs, nil
}

// DecodeAll is DecodeFrames that fails the test on an error.
func DecodeAll(t testing.TB, out []byte) []Frame {
	t.Helper()
	fs, err := DecodeFrames(out)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// Blocked returns the value of an ACK's BOOL `blocked` variable, and whether it has one.
func (f Frame) Blocked() (blocked, ok bool) {
	for _, a := range f.Actions {
		if a.Type == codec.ActionSetVar && string(a.Name) == "blocked" && a.Value.Type == codec.TypeBool {
			return a.Value.Bool, true
		}
	}
	return false, false
}

// BlockedVar returns the value of an ACK's `blocked` variable; the test fails without one.
func (f Frame) BlockedVar(t testing.TB) bool {
	t.Helper()
	b, ok := f.Blocked()
	if !ok {
		t.Fatalf("%s %d/%d has no BOOL blocked: %v", f.Type, f.StreamID, f.FrameID, f.Actions)
	}
	return b
}

// ListVar returns the `list` variable an ACK sets, "" when none.
func (f Frame) ListVar() string {
	for _, a := range f.Actions {
		if string(a.Name) == "list" {
			return string(a.Value.Bytes)
		}
	}
	return ""
}

// Status returns an AGENT-DISCONNECT's status-code; the test fails on another frame.
func (f Frame) Status(t testing.TB) codec.Status {
	t.Helper()
	if f.Type != codec.FrameAgentDisconnect {
		t.Fatalf("got %s, want AGENT-DISCONNECT", f.Type)
	}
	return codec.Status(f.KV["status-code"].Uint)
}

// Client plays HAProxy's side of SPOP over a socket. Made by Dial, its methods fail the
// test; made by DialSPOP (for goroutines other than the test's), use only the methods that
// return an error.
type Client struct {
	T    testing.TB // nil for a client made by DialSPOP
	Conn net.Conn
	buf  []byte
}

// DialSPOP connects to an agent with the Safety deadline.
func DialSPOP(network, addr string) (*Client, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(Safety))
	return &Client{Conn: c}, nil
}

// Dial connects to the agent at addr; the connection is closed when the test ends.
func Dial(t testing.TB, addr net.Addr) *Client {
	t.Helper()
	c, err := DialSPOP(addr.Network(), addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Conn.Close() })
	c.T = t
	return c
}

// Read returns the next frame the agent sent; io.EOF when the agent closed or reset the
// connection.
func (c *Client) Read() (Frame, error) {
	tmp := make([]byte, 4096)
	for {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, c.buf, 1<<24)
		if err != nil {
			return Frame{}, fmt.Errorf("agent frame: %w", err)
		}
		if n > 0 {
			fs, err := DecodeFrames(c.buf[:n])
			c.buf = c.buf[n:]
			if err != nil {
				return Frame{}, err
			}
			return fs[0], nil
		}
		m, err := c.Conn.Read(tmp)
		c.buf = append(c.buf, tmp[:m]...)
		if err != nil {
			if m > 0 {
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return Frame{}, io.EOF
			}
			return Frame{}, err
		}
	}
}

// Hello sends hello and reads the AGENT-HELLO.
func (c *Client) Hello(hello []byte) error {
	if _, err := c.Conn.Write(hello); err != nil {
		return err
	}
	f, err := c.Read()
	if err == nil && f.Type != codec.FrameAgentHello {
		err = fmt.Errorf("got %s", f.Type)
	}
	if err != nil {
		return fmt.Errorf("AGENT-HELLO: %w", err)
	}
	return nil
}

// ReadACKs reads n ACKs and returns the `blocked` value of each by stream-id, failing on
// anything but an ACK, a duplicate, or an ACK without `blocked`.
func (c *Client) ReadACKs(n int) (map[uint64]bool, error) {
	got := make(map[uint64]bool, n)
	for len(got) < n {
		f, err := c.Read()
		if err != nil {
			return got, fmt.Errorf("after %d ACKs: %w", len(got), err)
		}
		if f.Type != codec.FrameAck {
			return got, fmt.Errorf("got %s, want ACK", f.Type)
		}
		if _, dup := got[f.StreamID]; dup {
			return got, fmt.Errorf("two ACKs for stream %d", f.StreamID)
		}
		b, ok := f.Blocked()
		if !ok {
			return got, fmt.Errorf("ACK %d has no blocked variable", f.StreamID)
		}
		got[f.StreamID] = b
	}
	return got, nil
}

// Send writes b.
func (c *Client) Send(b []byte) {
	c.T.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		c.T.Fatalf("write: %v", err)
	}
}

// Next returns the next frame the agent sent, or ok=false when the connection is closed.
func (c *Client) Next() (f Frame, ok bool) {
	c.T.Helper()
	f, err := c.Read()
	if errors.Is(err, io.EOF) {
		return f, false
	}
	if err != nil {
		c.T.Fatal(err)
	}
	return f, true
}

// Expect reads the next frame, which must be of type typ.
func (c *Client) Expect(typ codec.FrameType) Frame {
	c.T.Helper()
	f, ok := c.Next()
	if !ok {
		c.T.Fatalf("connection closed, want %s", typ)
	}
	if f.Type != typ {
		c.T.Fatalf("got %s %v, want %s", f.Type, f.KV, typ)
	}
	return f
}

// ExpectClosed wants the connection closed, with nothing more sent.
func (c *Client) ExpectClosed() {
	c.T.Helper()
	if f, ok := c.Next(); ok {
		c.T.Fatalf("got %s, want the connection closed", f.Type)
	}
}

// Handshake sends the captured HAProxy 2.6 HELLO and reads the AGENT-HELLO.
func (c *Client) Handshake() Frame {
	c.T.Helper()
	c.Send(V26(c.T, "01_"))
	return c.Expect(codec.FrameAgentHello)
}

// ExpectDisconnect reads past an AGENT-HELLO, then wants an AGENT-DISCONNECT with status st
// and the connection closed.
func (c *Client) ExpectDisconnect(st codec.Status) {
	c.T.Helper()
	f, ok := c.Next()
	if ok && f.Type == codec.FrameAgentHello {
		f, ok = c.Next()
	}
	if !ok {
		c.T.Fatalf("closed without AGENT-DISCONNECT, want status %d (%s)", st, st)
	}
	if got := f.Status(c.T); got != st {
		c.T.Fatalf("AGENT-DISCONNECT status %d (%s), want %d (%s)", got, got, st, st)
	}
	c.ExpectClosed()
}

// Reset closes the connection with an RST, as HAProxy 3.x does to idle connections and on
// soft-stop.
func (c *Client) Reset() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Conn.Close()
}
