package server

// Resource exhaustion: what the server does when peers hold descriptors, slots, buffers or
// output (README, Security). Every case is bounded by a count; time only sets the limits
// under test short (so that the waits are short) and bounds waits that would otherwise
// hang on a broken server.

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// waitFor polls cond until it holds, bounded by safety, and fails the test if it never does.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, safety, what, cond)
}

// A full file table pauses accepting and accepting resumes once descriptors are free: the
// port stays open and the connection that waited is served.
func TestAcceptPausesWhenOutOfDescriptorsAndResumes(t *testing.T) {
	s, logs := startServer(t, Config{}, nil)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fill := func() (fillers []*os.File) { // takes every free descriptor
		for len(fillers) < 1<<16 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return fillers
			}
			fillers = append(fillers, f)
		}
		return fillers
	}
	// A low limit, so that filling the table takes a few hundred files.
	low := lim
	low.Cur = uint64(countFDs(t) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	fillers := fill()
	closeFillers := func() {
		for _, f := range fillers {
			f.Close()
		}
		fillers = nil
	}
	defer closeFillers()
	fillers[len(fillers)-1].Close() // one descriptor for the client's socket
	fillers = fillers[:len(fillers)-1]
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "accepting paused", s.AcceptPaused)
	if s.metrics.acceptPauses.Get() == 0 {
		t.Error("pause not counted")
	}
	select {
	case <-s.Done():
		t.Fatalf("server stopped: %v", s.Err())
	default:
	}
	closeFillers()
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	cl := &testutil.Client{T: t, Conn: c}
	_ = c.SetDeadline(time.Now().Add(safety))
	if err := cl.Hello(v26(t, "01_")); err != nil {
		t.Fatalf("the connection that waited: %v", err)
	}
	waitFor(t, "accepting resumed", func() bool { return !s.AcceptPaused() })
	fresh := testutil.Dial(t, s.Addr())
	fresh.Handshake()
	if !strings.Contains(logs.String(), "accepting paused") {
		t.Errorf("pause not logged:\n%s", logs)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// A listener that fails for another reason stops the server with an error, which Done and
// Err report, so that the process exits and a supervisor restarts it.
func TestServerStopsWithAnErrorWhenAListenerFails(t *testing.T) {
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	_ = s.lns[0].ln.Close() // as if the socket broke under the server
	select {
	case <-s.Done():
	case <-time.After(safety):
		t.Fatal("server still running after its listener failed")
	}
	if s.Err() == nil {
		t.Error("Err() = nil after the listener failed")
	}
}

// A handshaken connection that completes no frame for IdleTimeout gets AGENT-DISCONNECT
// status 2 and is closed; one that keeps sending stays.
func TestIdleTimeoutEndsSilentConnections(t *testing.T) {
	s, _ := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, nil)
	idle := testutil.Dial(t, s.Addr())
	idle.Handshake()
	busy := testutil.Dial(t, s.Addr())
	busy.Handshake()
	done := make(chan struct{})
	go func() { // busy sends within every idle timeout until idle is gone
		defer close(done)
		for sid := uint64(1); s.metrics.closedByLimit("idle_timeout").Get() == 0 && sid < 1e5; sid += 2 {
			if _, err := busy.Conn.Write(notifyFrame(sid, 1, [4]byte{192, 0, 2, 1})); err != nil {
				return
			}
			if _, err := busy.ReadACKs(1); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if d := idle.Expect(codec.FrameAgentDisconnect); d.Status(t) != codec.StatusTimeout {
		t.Errorf("status %d, want %d", d.Status(t), codec.StatusTimeout)
	}
	idle.ExpectClosed()
	<-done
	busy.Send(notifyFrame(999999, 1, [4]byte{192, 0, 2, 1}))
	busy.Expect(codec.FrameAck)
	if got := s.metrics.closedByLimit("idle_timeout").Get(); got != 1 {
		t.Errorf("%d idle closures counted, want 1", got)
	}
}

// A frame, or a fragmented NOTIFY, started and not finished within FrameTimeout ends the
// connection with status 2: HAProxy gave up on that NOTIFY long before.
func TestFrameTimeoutEndsUnfinishedFrames(t *testing.T) {
	s, _ := startServer(t, Config{FrameTimeout: 200 * time.Millisecond}, nil)
	half := notifyFrame(1, 1, [4]byte{192, 0, 2, 1})
	half = half[:len(half)/2]
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"half a NOTIFY", half},
		{"a fragmented NOTIFY never finished", v26(t, "14a")},
		{"a length prefix alone", []byte{0, 0, 0, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.metrics.closedByLimit("frame_timeout").Get()
			c := testutil.Dial(t, s.Addr())
			c.Handshake()
			c.Send(tc.in)
			if d := c.Expect(codec.FrameAgentDisconnect); d.Status(t) != codec.StatusTimeout {
				t.Errorf("status %d, want %d", d.Status(t), codec.StatusTimeout)
			}
			c.ExpectClosed()
			if got := s.metrics.closedByLimit("frame_timeout").Get() - before; got != 1 {
				t.Errorf("%d frame-timeout closures counted, want 1", got)
			}
		})
	}
}

// Past the buffer budget the connections holding the most are closed, until the total is
// under it; the small holders stay.
func TestBufferBudgetClosesTheBiggestHolders(t *testing.T) {
	const budget, big, small = 50000, 15000, 2000
	s, _ := startServer(t, Config{MaxBuffered: budget}, nil)
	partial := func(n int) []byte { // a NOTIFY of 16000 bytes, of which n are sent
		b := []byte{0, 0, 0x3e, 0x80, byte(codec.FrameNotify), 0, 0, 0, 1, 1, 1}
		return append(b, make([]byte, n-len(b))...)
	}
	var bigs []*testutil.Client
	for i := 0; i < 4; i++ { // 4 × 15000 + 2000 = 62000: one big holder over the budget
		c := testutil.Dial(t, s.Addr())
		c.Handshake()
		c.Send(partial(big))
		bigs = append(bigs, c)
	}
	smallC := testutil.Dial(t, s.Addr())
	smallC.Handshake()
	smallC.Send(partial(small))
	waitFor(t, "a big holder closed", func() bool { return s.metrics.closedByLimit("buffer_budget").Get() > 0 })
	waitFor(t, "the closed connection gone", func() bool { return s.OpenConns() == 4 })
	if got := s.metrics.closedByLimit("buffer_budget").Get(); got != 1 {
		t.Errorf("%d budget closures, want 1", got)
	}
	// 3 × 15000 + 2000 is under the budget; had the small holder gone instead, 60000 is not.
	if h := s.held.Load(); h != 3*big+small {
		t.Errorf("%d bytes held, want %d: the three big holders left and the small one", h, 3*big+small)
	}
	for _, c := range append(bigs, smallC) {
		c.Conn.Close()
	}
}

// A peer whose queued output does not drain within WriteTimeout is closed, even when it
// stops sending (and so never trips the unprocessed-input bound).
func TestWriteTimeoutClosesPeersThatNeverRead(t *testing.T) {
	s, _ := startServer(t, Config{WriteTimeout: 300 * time.Millisecond}, nil)
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { // a small window, so that output queues soon
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &testutil.Client{T: t, Conn: nc}
	_ = nc.SetDeadline(time.Now().Add(safety))
	if err := c.Hello(v26(t, "01_")); err != nil {
		t.Fatal(err)
	}
	var chunk []byte
	for i := 0; i < 1000; i++ {
		chunk = append(chunk, notifyFrame(uint64(2*i+1), 1, [4]byte{192, 0, 2, 1})...)
	}
	for i := 0; i < 40; i++ { // 40,000 ACKs, about 1.6 MB: more than the socket buffers hold
		if _, err := nc.Write(chunk); err != nil {
			break
		}
	}
	waitFor(t, "the peer closed", func() bool { return s.OpenConns() == 0 })
	if got := s.metrics.closedByLimit("write_timeout").Get(); got != 1 {
		t.Errorf("%d write-timeout closures, want 1", got)
	}
}

// -allow-peer: a TCP peer outside the networks is closed before it costs a loop anything.
func TestAllowPeersRefusesOthers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allow   []netip.Prefix
		allowed bool
	}{
		{"outside", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, false},
		{"inside", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}, true},
		{"none configured", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startServer(t, Config{AllowPeers: tc.allow}, nil)
			c := testutil.Dial(t, s.Addr())
			if tc.allowed {
				c.Handshake()
				return
			}
			_, _ = c.Conn.Write(v26(t, "01_"))
			c.ExpectClosed()
			if got := s.metrics.peersRejected.Get(); got != 1 {
				t.Errorf("%d rejections counted, want 1", got)
			}
		})
	}
}

func TestNewRejectsAMaxFrameSizeAboveTheBound(t *testing.T) {
	for _, mfs := range []uint32{MaxMaxFrameSize + 1, 1 << 24} {
		if _, err := New(Config{Listen: []string{"127.0.0.1:0"}, MaxFrameSize: mfs}, fakeHandler{}); err == nil {
			t.Errorf("max frame size %d accepted", mfs)
		}
	}
	if _, err := New(Config{Listen: []string{"127.0.0.1:0"}, MaxFrameSize: MaxMaxFrameSize}, fakeHandler{}); err != nil {
		t.Errorf("max frame size %d refused: %v", MaxMaxFrameSize, err)
	}
}

// Within one tick of the coarse clock, the connection that carries NOTIFYs is never the one
// evicted in place of one that does not; among equals the older goes.
func TestEvictionTieBreak(t *testing.T) {
	mk := func(seq uint64, notified bool) *conn {
		c := &conn{seq: seq}
		c.notified.Store(notified)
		return c
	}
	for _, tc := range []struct {
		name string
		a, b *conn
		want bool // a goes before b
	}{
		{"silent before busy", mk(1, false), mk(2, true), true},
		{"busy after silent", mk(2, true), mk(1, false), false},
		{"older silent first", mk(2, false), mk(3, false), true},
		{"newer busy last", mk(2, true), mk(1, true), false},
	} {
		if got := evictFirst(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: evictFirst = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A flood of newcomers never evicts a connection carrying NOTIFYs, even once every silent
// connection is already ending: the newcomer is refused instead.
func TestFullTableNeverEvictsABusyConnection(t *testing.T) {
	s, _ := startServer(t, Config{MaxConns: 2}, nil)
	busy := testutil.Dial(t, s.Addr())
	busy.Handshake()
	busy.Send(notifyFrame(1, 1, [4]byte{192, 0, 2, 1}))
	busy.Expect(codec.FrameAck)
	silent := testutil.Dial(t, s.Addr())
	silent.Handshake()
	waitFor(t, "two open", func() bool { return s.OpenConns() == 2 })
	// The first newcomer evicts the silent one. Each of the next ones finds the one before it
	// closed by its peer: gone, so that it is let in, or still ending, so that there is no
	// connection to evict and it is refused. Busy keeps its place either way.
	for i := 0; i < 5; i++ {
		c := testutil.Dial(t, s.Addr())
		c.Send(testutil.V26(t, "01_"))
		switch f, ok := c.Next(); {
		case ok && f.Type == codec.FrameAgentHello:
		case ok && i > 0 && f.Type == codec.FrameAgentDisconnect && f.Status(t) == codec.StatusResourceAllocation:
		case ok:
			t.Fatalf("newcomer %d: got %s %v, want AGENT-HELLO or, after the first, a refusal", i, f.Type, f.KV)
		default:
			t.Fatalf("newcomer %d: closed without an answer", i)
		}
		busy.Send(notifyFrame(uint64(3+2*i), 1, [4]byte{192, 0, 2, 1}))
		busy.Expect(codec.FrameAck)
		c.Conn.Close()
	}
	silent.ExpectDisconnect(codec.StatusResourceAllocation)
	busy.Send(notifyFrame(99, 1, [4]byte{192, 0, 2, 1}))
	busy.Expect(codec.FrameAck)
}
