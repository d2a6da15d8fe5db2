package server

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// fuzzConn is a gnet.Conn without a socket: the fuzz target appends what the peer sends to
// in, and the server's writes land in out. It keeps gnet's buffer semantics that the
// traffic handler relies on: Peek(-1) is everything buffered, and Discard(n) with n <= 0 or
// n past the end discards everything. Methods the handler must not call are left to the
// embedded nil interface, so calling one panics and fails the target.
type fuzzConn struct {
	gnet.Conn
	ctx     any
	in, out []byte
	stalled bool // the peer reads nothing: OutboundBuffered reports a full queue
	limit   int  // what OutboundBuffered reports while stalled
	closed  bool
}

func (c *fuzzConn) Context() any       { return c.ctx }
func (c *fuzzConn) SetContext(ctx any) { c.ctx = ctx }
func (c *fuzzConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fuzzConn) InboundBuffered() int { return len(c.in) }
func (c *fuzzConn) Wake(gnet.AsyncCallback) error {
	return nil
}
func (c *fuzzConn) Close() error { c.closed = true; return nil }

func (c *fuzzConn) OutboundBuffered() int {
	if c.stalled {
		return c.limit + 1
	}
	return 0
}

func (c *fuzzConn) Peek(n int) ([]byte, error) {
	if n > len(c.in) {
		return nil, io.ErrShortBuffer
	}
	if n <= 0 {
		n = len(c.in)
	}
	return c.in[:n], nil
}

func (c *fuzzConn) Discard(n int) (int, error) {
	if n <= 0 || n >= len(c.in) {
		n = len(c.in)
	}
	c.in = c.in[n:]
	return n, nil
}

func (c *fuzzConn) Write(b []byte) (int, error) {
	c.out = append(c.out, b...)
	return len(b), nil
}

// FuzzConnection feeds arbitrary bytes, in arbitrary splits, through the server's own gnet
// callbacks (OnOpen, OnTraffic, OnClose), the whole path of a
// connection but the socket. Options: prepend a real HELLO, stall the peer's reading for a
// stretch (the back-pressure path), and begin a graceful shutdown part-way. It must never
// panic, everything the server writes must be whole agent frames with FIN, a protocol
// error must end with AGENT-DISCONNECT, and once closed nothing may remain held.
func FuzzConnection(f *testing.F) {
	hello := v26(f, "01_")
	for _, seed := range [][]byte{
		v26(f, "06_"), v26(f, "07_"), v26(f, "11_"), v26(f, "12_"), v26(f, "13_"), v26(f, "29_"), v26(f, "19_"),
		cat(v26(f, "14a"), v26(f, "14b"), v26(f, "14c"), v26(f, "14d")),
		v34(f, "04_"), v34(f, "05_"), []byte("GET / HTTP/1.1\r\n\r\n"), {0x7f, 0xff, 0xff, 0xff},
	} {
		f.Add(seed, true, uint8(0), uint8(0))
		f.Add(seed, true, uint8(3), uint8(0x81))
		f.Add(seed, false, uint8(1), uint8(0x42))
	}
	f.Fuzz(func(t *testing.T, in []byte, handshake bool, split, opts uint8) {
		s, err := New(Config{
			Listen:          []string{"127.0.0.1:0"},
			MaxReassembly:   2048,
			MaxQueuedOutput: 4096,
			Logger:          slog.New(slog.DiscardHandler),
		}, fakeHandler{})
		if err != nil {
			t.Fatal(err)
		}
		ev := &events{s: s}
		if handshake {
			in = cat(hello, in)
		}
		stallFrom, stallTo := int(opts&0x07), int(opts>>3&0x07)       // in chunks
		drainAt := int(opts >> 6)                                     // 0: never
		c := &fuzzConn{limit: s.cfg.MaxQueuedOutput, ctx: enrolled{}} // as the accept loop hands it over
		if out, action := ev.OnOpen(c); out != nil || action != gnet.None {
			t.Fatalf("OnOpen: %q %v", out, action)
		}
		step := int(split)%(len(in)+1) + 1
		action := gnet.None
		for i, chunk := 0, 0; i < len(in) && action == gnet.None; i, chunk = i+step, chunk+1 {
			c.in = append(c.in, in[i:min(i+step, len(in))]...)
			c.stalled = chunk >= stallFrom && chunk < stallTo
			if drainAt != 0 && chunk == drainAt {
				s.draining.Store(true)
			}
			before := len(c.in)
			action = ev.OnTraffic(c)
			if len(c.in) > before {
				t.Fatalf("input grew from %d to %d bytes in OnTraffic", before, len(c.in))
			}
		}
		if action == gnet.None { // the peer stops: one more event with reading resumed, then EOF
			c.stalled = false
			action = ev.OnTraffic(c)
		}
		sess := c.ctx.(*conn).sess
		ev.OnClose(c, io.EOF)
		frames := testutil.DecodeAll(t, c.out)
		if sess.err != nil && (len(frames) == 0 || frames[len(frames)-1].Type != codec.FrameAgentDisconnect) {
			t.Fatalf("closed on %v without AGENT-DISCONNECT", sess.err)
		}
		// A close is a protocol ending, a backlog closure, or a shutdown (which drops a peer
		// that does not read without a frame, so as not to wait for it).
		if action == gnet.Close && sess.state != stateClosing && s.metrics.backlogClosures.Get() == 0 && !s.draining.Load() {
			t.Fatalf("closed in state %s", sess.state)
		}
		if s.OpenConns() != 0 || s.metrics.fragsInflight.Get() != 0 || sess.h != nil || sess.frag != nil {
			t.Fatalf("after close: %d open, %v fragments in flight, handler %v", s.OpenConns(), s.metrics.fragsInflight.Get(), sess.h)
		}
	})
}
