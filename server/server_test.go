package server

// The server on real sockets: listeners, serving captured traffic, ending connections,
// shutting down. The protocol logic itself is tested without a socket in session_test.go;
// the bounds the server keeps under hostile peers are in limits_test.go.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// safety bounds a test that would otherwise hang on a broken server; it is never what a test
// asserts on.
const safety = testutil.Safety

func startServer(t *testing.T, cfg Config, h Handler) (*Server, *testutil.Buffer) {
	t.Helper()
	before := goroutines()
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
		for i := 0; i < 200 && goroutines() > before; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if n := goroutines(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left after shutdown (were %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
	return s, logs
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
		c := testutil.Dial(t, a)
		c.Handshake()
		c.Send(v26(t, "07_"))
		if ack := c.Expect(codec.FrameAck); ack.StreamID != 2 || !ack.BlockedVar(t) {
			t.Errorf("%s: ACK %d blocked=%v", a, ack.StreamID, ack.BlockedVar(t))
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
		c := testutil.Dial(t, s.Addr())
		c.Send(tc.hello)
		c.Expect(codec.FrameAgentHello)
		c.Send(tc.notify)
		ack := c.Expect(codec.FrameAck)
		if ack.StreamID != tc.sid || ack.FrameID != 1 || ack.BlockedVar(t) != tc.blocked {
			t.Errorf("ACK %d/%d blocked=%v, want %d/1 %v", ack.StreamID, ack.FrameID, ack.BlockedVar(t), tc.sid, tc.blocked)
		}
	}
}

func TestServeHealthcheck(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := testutil.Dial(t, s.Addr())
	c.Send(v26(t, "02_"))
	c.Expect(codec.FrameAgentHello)
	c.ExpectClosed()
}

func TestServeTwentyPipelinedNotifiesInOneWrite(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := testutil.Dial(t, s.Addr())
	c.Handshake()
	var batch []byte
	for i := 0; i < 20; i++ {
		ip := [4]byte{192, 0, 2, byte(i)}
		if i%5 == 0 {
			ip = [4]byte{127, 0, 0, 2}
		}
		batch = append(batch, notifyFrame(uint64(2*i+1), 1, ip)...)
	}
	c.Send(batch)
	seen := map[uint64]bool{}
	for i := 0; i < 20; i++ {
		ack := c.Expect(codec.FrameAck)
		if seen[ack.StreamID] || ack.StreamID%2 != 1 || ack.StreamID > 39 {
			t.Fatalf("unexpected or duplicate ACK %d", ack.StreamID)
		}
		seen[ack.StreamID] = true
		if want := (ack.StreamID-1)/2%5 == 0; ack.BlockedVar(t) != want {
			t.Errorf("ACK %d blocked=%v, want %v", ack.StreamID, !want, want)
		}
	}
}

func TestServeOneByteWrites(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	c := testutil.Dial(t, s.Addr())
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	stream := cat(v26(t, "01_"), v26(t, "07_"), v26(t, "29_"))
	for i := range stream {
		c.Send(stream[i : i+1])
	}
	c.Expect(codec.FrameAgentHello)
	if !c.Expect(codec.FrameAck).BlockedVar(t) {
		t.Error("first ACK not blocked")
	}
	for i := 0; i < 15; i++ {
		c.Expect(codec.FrameAck)
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
		c := testutil.Dial(t, s.Addr())
		c.Send(tc.in)
		d, ok := c.Next()
		if ok && d.Type == codec.FrameAgentHello {
			d, ok = c.Next()
		}
		if !ok || d.Status(t) != tc.want {
			t.Fatalf("%s: got %v %v, want AGENT-DISCONNECT %d", tc.name, ok, d.KV, tc.want)
		}
		c.ExpectClosed()
	}
	if !strings.Contains(logs.String(), "protocol error") || !strings.Contains(logs.String(), "status=11") {
		t.Errorf("protocol errors not logged with their status:\n%s", logs)
	}
}

func TestServeEOFAndResetAreNotErrors(t *testing.T) {
	s, logs := startServer(t, Config{}, nil)
	c := testutil.Dial(t, s.Addr())
	c.Handshake()
	c.Send(v26(t, "14a")) // mid-fragment
	_ = c.Conn.(*net.TCPConn).SetLinger(0)
	c.Conn.Close() // RST
	c2 := testutil.Dial(t, s.Addr())
	c2.Handshake()
	c2.Conn.Close() // FIN
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
	c := testutil.Dial(t, s.Addr())
	c.ExpectClosed() // no HELLO sent: the server must close (the client's safety deadline is far longer)
	ready := testutil.Dial(t, s.Addr())
	ready.Handshake()
	time.Sleep(300 * time.Millisecond) // past the HELLO timeout: a ready connection stays
	ready.Send(v26(t, "06_"))
	ready.Expect(codec.FrameAck)
}

func TestShutdownAnswersThenDisconnects(t *testing.T) {
	before := goroutines()
	set := metrics.NewSet()
	s, err := New(Config{Listen: []string{"127.0.0.1:0"}, Loops: 2, Metrics: set, Logger: slog.New(slog.DiscardHandler)}, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var cs []*testutil.Client
	for i := 0; i < 4; i++ {
		c := testutil.Dial(t, s.Addr())
		c.Handshake()
		cs = append(cs, c)
	}
	idle := testutil.Dial(t, s.Addr()) // no HELLO yet
	cs[0].Send(v26(t, "07_"))
	cs[0].Expect(codec.FrameAck)
	for i := 0; i < int(safety/time.Millisecond) && s.OpenConns() < 5; i++ {
		time.Sleep(time.Millisecond) // the idle connection reaches its loop
	}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	for _, c := range cs {
		if d := c.Expect(codec.FrameAgentDisconnect); d.Status(t) != codec.StatusNormal {
			t.Errorf("status %d, want 0", d.Status(t))
		}
		c.ExpectClosed()
	}
	idle.ExpectClosed()
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
	for i := 0; i < 200 && goroutines() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := goroutines(); n > before {
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
	c := testutil.Dial(t, s.Addr())
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10) // fill the server's output queue quickly
	}
	c.Handshake()
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
		if _, err := c.Conn.Write(chunk); err != nil {
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

// waitTicks waits until the server's tick has run about n times more.
func waitTicks(s *Server, n int) {
	start := s.clock.Load()
	for i := 0; i < int(safety/time.Millisecond) && s.clock.Load() < start+int64(n)*int64(tickInterval)-int64(tickInterval)/2; i++ {
		time.Sleep(time.Millisecond)
	}
}

// goroutines counts the goroutines but the idle workers of gnet's goroutine pool, which
// hands connections to the loops and keeps its workers for a while after.
func goroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "panjf2000/ants") {
			n++
		}
	}
	return n
}
