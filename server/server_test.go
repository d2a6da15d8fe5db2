package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// safety bounds a test that would otherwise hang on a broken server; it is never what a test
// asserts on.
const safety = 20 * time.Second

func startServer(t *testing.T, cfg Config, h Handler) (*Server, *testutil.Buffer) {
	t.Helper()
	before := runtime.NumGoroutine()
	logs := &testutil.Buffer{} // the server's log lines, for assertions
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	if h == nil {
		h = fakeHandler{}
	}
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// gnet's loops exit asynchronously after Stop returns; wait for them (bounded).
		for i := 0; i < 200 && runtime.NumGoroutine() > before; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left after shutdown (were %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
	return s, logs
}

// client plays HAProxy's side of SPOP over a real socket.
type client struct {
	t   testing.TB
	c   net.Conn
	buf []byte
}

func dial(t testing.TB, addr net.Addr) *client {
	t.Helper()
	c, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(safety))
	return &client{t: t, c: c}
}

func (c *client) send(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame the agent sent, or ok=false at EOF or reset.
func (c *client) next() (d decoded, ok bool) {
	c.t.Helper()
	for {
		var f codec.Frame
		if n, err := codec.ReadFrameInto(&f, c.buf, 1<<24); err != nil {
			c.t.Fatalf("agent frame: %v", err)
		} else if n > 0 {
			fs := decodeAll(c.t, c.buf[:n])
			c.buf = c.buf[n:]
			return fs[0], true
		}
		tmp := make([]byte, 4096)
		n, err := c.c.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil {
			if n > 0 {
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return d, false
			}
			c.t.Fatalf("read: %v", err)
		}
	}
}

func (c *client) expect(typ codec.FrameType) decoded {
	c.t.Helper()
	d, ok := c.next()
	if !ok {
		c.t.Fatalf("connection closed, want %s", typ)
	}
	if d.Type != typ {
		c.t.Fatalf("got %s %v, want %s", d.Type, d.kv, typ)
	}
	return d
}

func (c *client) expectClosed() {
	c.t.Helper()
	if d, ok := c.next(); ok {
		c.t.Fatalf("got %s, want the connection closed", d.Type)
	}
}

// handshake sends the captured 2.6 HELLO and reads the AGENT-HELLO.
func (c *client) handshake() decoded {
	c.t.Helper()
	c.send(v26(c.t, "01_"))
	return c.expect(codec.FrameAgentHello)
}

func TestServeTCPv4TCPv6AndUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "spoa.sock")
	s, _ := startServer(t, Config{Listen: []string{"127.0.0.1:0", "[::1]:0", "unix:" + sock}}, nil)
	addrs := s.Addrs()
	if len(addrs) != 3 || addrs[0] == nil || addrs[1] == nil || addrs[2] == nil {
		t.Fatalf("Addrs() = %v", addrs)
	}
	if p := addrs[0].(*net.TCPAddr).Port; p == 0 {
		t.Fatalf("port 0 not resolved: %v", addrs[0])
	}
	for _, a := range addrs {
		c := dial(t, a)
		c.handshake()
		c.send(v26(t, "07_"))
		if ack := c.expect(codec.FrameAck); ack.StreamID != 2 || !ack.blockedVar(t) {
			t.Errorf("%s: ACK %d blocked=%v", a, ack.StreamID, ack.blockedVar(t))
		}
	}
}

func TestServeCapturedNotifies(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	for _, tc := range []struct {
		hello, notify []byte
		sid           uint64
		blocked       bool
	}{
		{v26(t, "01_"), v26(t, "06_"), 0, false},
		{v26(t, "01_"), v26(t, "12_"), 2, false},
		{v34(t, "01_"), v34(t, "04_"), 3, true},
		{v34(t, "01_"), v34(t, "05_"), 7, false},
	} {
		c := dial(t, s.Addr())
		c.send(tc.hello)
		c.expect(codec.FrameAgentHello)
		c.send(tc.notify)
		ack := c.expect(codec.FrameAck)
		if ack.StreamID != tc.sid || ack.FrameID != 1 || ack.blockedVar(t) != tc.blocked {
			t.Errorf("ACK %d/%d blocked=%v, want %d/1 %v", ack.StreamID, ack.FrameID, ack.blockedVar(t), tc.sid, tc.blocked)
		}
	}
}

func TestServeHealthcheck(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := dial(t, s.Addr())
	c.send(v26(t, "02_"))
	c.expect(codec.FrameAgentHello)
	c.expectClosed()
}

func TestServeTwentyPipelinedNotifiesInOneWrite(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := dial(t, s.Addr())
	c.handshake()
	var batch []byte
	for i := 0; i < 20; i++ {
		ip := [4]byte{192, 0, 2, byte(i)}
		if i%5 == 0 {
			ip = [4]byte{127, 0, 0, 2}
		}
		batch = append(batch, notifyFrame(uint64(2*i+1), 1, ip)...)
	}
	c.send(batch)
	seen := map[uint64]bool{}
	for i := 0; i < 20; i++ {
		ack := c.expect(codec.FrameAck)
		if seen[ack.StreamID] || ack.StreamID%2 != 1 || ack.StreamID > 39 {
			t.Fatalf("unexpected or duplicate ACK %d", ack.StreamID)
		}
		seen[ack.StreamID] = true
		if want := (ack.StreamID-1)/2%5 == 0; ack.blockedVar(t) != want {
			t.Errorf("ACK %d blocked=%v, want %v", ack.StreamID, !want, want)
		}
	}
}

func TestServeOneByteWrites(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := dial(t, s.Addr())
	if tc, ok := c.c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	stream := cat(v26(t, "01_"), v26(t, "07_"), v26(t, "29_"))
	for i := range stream {
		c.send(stream[i : i+1])
	}
	c.expect(codec.FrameAgentHello)
	if !c.expect(codec.FrameAck).blockedVar(t) {
		t.Error("first ACK not blocked")
	}
	for i := 0; i < 15; i++ {
		c.expect(codec.FrameAck)
	}
}

func TestServeFragmentedNotify(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := dial(t, s.Addr())
	c.handshake()
	c.send(cat(v26(t, "14a"), v26(t, "14b")))
	c.send(cat(v26(t, "14c"), v26(t, "14d")))
	c.send(v26(t, "06_")) // a following NOTIFY proves nothing else came out of the fragments
	if ack := c.expect(codec.FrameAck); ack.StreamID != 4 || ack.FrameID != 1 {
		t.Fatalf("ACK %d/%d, want 4/1", ack.StreamID, ack.FrameID)
	}
	if ack := c.expect(codec.FrameAck); ack.StreamID != 0 {
		t.Fatalf("ACK %d, want the next NOTIFY's 0", ack.StreamID)
	}
}

func TestServeBadInputDisconnects(t *testing.T) {
	s, logs := startServer(t, Config{}, nil)
	for _, tc := range []struct {
		name string
		in   []byte
		want codec.Status
	}{
		{"NOTIFY before HELLO", v26(t, "06_"), codec.StatusInvalidFrame},
		{"frame too big", cat(v26(t, "01_"), []byte{0, 1, 0, 0, 3}), codec.StatusFrameTooBig},
		{"interlaced fragments", cat(v26(t, "01_"), v26(t, "14a"), v26(t, "06_")), codec.StatusInterlacedFrames},
		{"HAPROXY-DISCONNECT answered", cat(v26(t, "01_"), v26(t, "19_")), codec.StatusNormal},
	} {
		c := dial(t, s.Addr())
		c.send(tc.in)
		d, ok := c.next()
		if ok && d.Type == codec.FrameAgentHello {
			d, ok = c.next()
		}
		if !ok || d.status(t) != tc.want {
			t.Fatalf("%s: got %v %v, want AGENT-DISCONNECT %d", tc.name, ok, d.kv, tc.want)
		}
		c.expectClosed()
	}
	if !strings.Contains(logs.String(), "protocol error") || !strings.Contains(logs.String(), "status=11") {
		t.Errorf("protocol errors not logged with their status:\n%s", logs)
	}
}

func TestServeEOFAndResetAreNotErrors(t *testing.T) {
	s, logs := startServer(t, Config{}, nil)
	c := dial(t, s.Addr())
	c.handshake()
	c.send(v26(t, "14a")) // mid-fragment
	_ = c.c.(*net.TCPConn).SetLinger(0)
	c.c.Close() // RST
	c2 := dial(t, s.Addr())
	c2.handshake()
	c2.c.Close() // FIN
	for i := 0; i < 500 && s.OpenConns() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if s.OpenConns() != 0 || s.metrics.fragsInflight.Get() != 0 {
		t.Fatalf("open %d, fragments in flight %v", s.OpenConns(), s.metrics.fragsInflight.Get())
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("EOF/RST logged as errors:\n%s", logs)
	}
}

func TestServeHelloTimeout(t *testing.T) {
	s, _ := startServer(t, Config{HelloTimeout: 100 * time.Millisecond}, nil)
	c := dial(t, s.Addr())
	c.expectClosed() // no HELLO sent: the server must close (the client's safety deadline is far longer)
	ready := dial(t, s.Addr())
	ready.handshake()
	time.Sleep(300 * time.Millisecond) // past the HELLO timeout: a ready connection stays
	ready.send(v26(t, "06_"))
	ready.expect(codec.FrameAck)
}

func TestServeMaxConns(t *testing.T) {
	s, _ := startServer(t, Config{MaxConns: 2}, nil)
	a, b := dial(t, s.Addr()), dial(t, s.Addr())
	a.handshake()
	b.handshake()
	c := dial(t, s.Addr())
	if d := c.expect(codec.FrameAgentDisconnect); d.status(t) != codec.StatusResourceAllocation {
		t.Errorf("refused with status %d, want %d", d.status(t), codec.StatusResourceAllocation)
	}
	c.expectClosed()
	a.send(v26(t, "06_"))
	a.expect(codec.FrameAck)
}

// TestServePeerThatNeverReads floods NOTIFYs without reading one ACK: the server must stop
// queueing and close the connection, never holding more than its bounds.
func TestServePeerThatNeverReads(t *testing.T) {
	const queued = 64 << 10
	s, logs := startServer(t, Config{MaxQueuedOutput: queued}, nil)
	c := dial(t, s.Addr())
	c.handshake()
	var chunk []byte
	for i := 0; i < 1000; i++ {
		chunk = append(chunk, notifyFrame(uint64(i), 1, [4]byte{192, 0, 2, 1})...)
	}
	var err error
	for i := 0; i < 5000 && err == nil; i++ { // at most 180 MB
		_, err = c.c.Write(chunk)
	}
	if err == nil {
		t.Fatal("the server never closed a peer that does not read")
	}
	if got := s.metrics.backlogClosures.Get(); got != 1 {
		t.Errorf("backlog closures %d, want 1", got)
	}
	if !strings.Contains(logs.String(), "does not read") {
		t.Errorf("closure not logged:\n%s", logs)
	}
	// A well-behaved connection is unaffected.
	ok := dial(t, s.Addr())
	ok.handshake()
	ok.send(v26(t, "06_"))
	ok.expect(codec.FrameAck)
}

func TestShutdownAnswersThenDisconnects(t *testing.T) {
	before := runtime.NumGoroutine()
	set := metrics.NewSet()
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Loops: 2, Metrics: set, Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var cs []*client
	for i := 0; i < 4; i++ {
		c := dial(t, s.Addr())
		c.handshake()
		cs = append(cs, c)
	}
	idle := dial(t, s.Addr()) // no HELLO yet
	cs[0].send(v26(t, "07_"))
	cs[0].expect(codec.FrameAck)
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	for _, c := range cs {
		if d := c.expect(codec.FrameAgentDisconnect); d.status(t) != codec.StatusNormal {
			t.Errorf("status %d, want 0", d.status(t))
		}
		c.expectClosed()
	}
	idle.expectClosed()
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still accepting after shutdown")
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, want := range []string{
		`spoaguard_disconnects_total{side="agent",status="0"} 4`,
		`spoaguard_frames_received_total{type="notify"} 1`,
		`spoaguard_acks_total 1`,
		`spoaguard_connections_total 5`,
		`spoaguard_connections_open 0`,
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, sb.String())
		}
	}
	for i := 0; i < 200 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left (were %d)", n, before)
	}
}

func TestStartFailsOnAddressInUse(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	s2, err := New(Config{Listen: []string{s.Addr().String()}, Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(); err == nil {
		_ = s2.Shutdown(context.Background())
		t.Fatal("second server started on a used address")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Listen: []string{"localhost:80"}},
		{Listen: []string{"unix:"}},
		{Listen: []string{"127.0.0.1:0"}, MaxFrameSize: 100},
		{Listen: []string{"127.0.0.1:0"}, MaxConns: -1},
	} {
		if _, err := New(cfg, fakeHandler{}); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestLoad measures ACKs/s and allocations per ACK with a simple load: 4 connections, each
// keeping 20 NOTIFYs in flight, for a fixed number of rounds. It asserts only the allocation
// rate; the rate is logged (go test -run TestLoad -v ./server).
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	const conns, inflight, rounds = 4, 20, 5000
	s, _ := startServer(t, Config{}, nil)
	var batch []byte
	for i := 0; i < inflight; i++ {
		batch = append(batch, notifyFrame(uint64(i), 1, [4]byte{192, 0, 2, byte(i)})...)
	}
	cs := make([]*client, conns)
	for i := range cs {
		cs[i] = dial(t, s.Addr())
		cs[i].handshake()
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for r := 0; r < rounds; r++ {
				if _, err := c.Write(batch); err != nil {
					errs <- err
					return
				}
				// Read exactly the 20 ACKs back, counting frames by their length prefixes.
				got, have := 0, 0
				for got < inflight {
					n, err := c.Read(buf[have:])
					if err != nil {
						errs <- err
						return
					}
					have += n
					off := 0
					for off+4 <= have {
						l := int(binary.BigEndian.Uint32(buf[off:]))
						if off+4+l > have {
							break
						}
						off += 4 + l
						got++
					}
					have = copy(buf, buf[off:have])
				}
			}
		}(c.c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	acks := float64(conns * inflight * rounds)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / acks
	t.Logf("%d conns x %d in flight: %.0f ACKs in %s = %.0f ACK/s; %.5f allocations per ACK (client included)",
		conns, inflight, acks, elapsed.Round(time.Millisecond), acks/elapsed.Seconds(), allocs)
	if allocs > 0.01 && !raceEnabled {
		t.Errorf("%.5f allocations per ACK, want about 0", allocs)
	}
}

// TestShutdownWithPeerThatDoesNotRead: a connection paused because its peer reads nothing
// must not hold a graceful shutdown until its deadline; it is closed at once.
func TestShutdownWithPeerThatDoesNotRead(t *testing.T) {
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Loops: 1, MaxQueuedOutput: 16 << 10,
		Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr())
	if tc, ok := c.c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // fill the server's output queue quickly
	}
	c.handshake()
	var chunk []byte
	for i := 0; i < 100; i++ {
		chunk = append(chunk, notifyFrame(uint64(i), 1, [4]byte{192, 0, 2, 1})...)
	}
	paused := func() bool {
		for _, sc := range s.snapshotConns() {
			if sc.paused.Load() {
				return true
			}
		}
		return false
	}
	for i := 0; i < 2000 && !paused(); i++ { // at most 7 MB, far below the close threshold per step
		if _, err := c.c.Write(chunk); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		time.Sleep(time.Millisecond)
	}
	if !paused() {
		t.Fatal("the connection never paused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a paused peer: %v", err)
	}
	if n := s.OpenConns(); n != 0 {
		t.Errorf("%d connections open after Shutdown", n)
	}
}

// The loops block in epoll_wait through a system call; with no idle P the runtime's sysmon
// retakes their Ps and starts threads that find nothing to do (package internal/eventloop).
func TestStartLeavesAnIdlePBesideTheLoops(t *testing.T) {
	for _, loops := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Loops: loops, Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			if loops == 0 && s.Loops() < 1 {
				t.Fatalf("default loops = %d", s.Loops())
			}
			if procs := runtime.GOMAXPROCS(0); procs <= s.Loops() {
				t.Errorf("GOMAXPROCS = %d with %d event loops; want at least one P more than loops", procs, s.Loops())
			}
		})
	}
}
