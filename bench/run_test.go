package bench_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/bench"
	"github.com/spoaguard/spoaguard/bench/nullagent"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var (
	nullOnce sync.Once
	nullAddr string
	nullErr  error
)

// startNullAgent returns the address of a do-nothing agent shared by the tests (gnet takes
// half a second to stop an engine); it stops with the test binary.
func startNullAgent(t *testing.T) string {
	t.Helper()
	nullOnce.Do(func() {
		a, err := nullagent.Start(nullagent.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			nullErr = err
			return
		}
		nullAddr = a.Addr().String()
	})
	if nullErr != nil {
		t.Fatal(nullErr)
	}
	return nullAddr
}

// shortRun is a run bounded to well under a second of load.
func shortRun(addr string, targets []bench.Target) bench.Config {
	return bench.Config{
		Addr: addr, Conns: 4, InFlight: 20, Targets: targets,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
		DialTimeout: 5 * time.Second, AckTimeout: 5 * time.Second,
	}
}

// A short bounded run against the do-nothing agent on loopback, in both id styles: every
// NOTIFY is ACKed and checked, and each connection ends with HAProxy's soft-stop exchange.
func TestRunAgainstNullAgent(t *testing.T) {
	addr := startNullAgent(t)
	for _, style := range []bench.IDStyle{bench.IDs26, bench.IDs3x} {
		t.Run(style.String(), func(t *testing.T) {
			cfg := shortRun(addr, bench.CleanTargets(1000, 0.5, 1))
			cfg.IDStyle = style
			rep, err := bench.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if rep.ACKs == 0 || rep.ACKsPerSec <= 0 || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 {
				t.Errorf("no measurement: %d ACKs, %.0f/s, p50 %s p99 %s", rep.ACKs, rep.ACKsPerSec, rep.Latency.P50, rep.Latency.P99)
			}
			if rep.Sent != rep.Acked || rep.Failed() {
				t.Errorf("sent %d, matched %d, report %+v", rep.Sent, rep.Acked, rep)
			}
			if got := rep.DisconnectsAtEnd["agent-disconnect status 0 (normal)"]; got != 4 {
				t.Errorf("disconnects at end %v, want 4 normal", rep.DisconnectsAtEnd)
			}
			var text strings.Builder
			rep.WriteText(&text)
			if !strings.Contains(text.String(), "OK") {
				t.Errorf("text report:\n%s", text.String())
			}
		})
	}
}

func TestRunStopsAtTheACKCount(t *testing.T) {
	cfg := shortRun(startNullAgent(t), bench.CleanTargets(100, 0, 1))
	cfg.Duration, cfg.MaxACKs = time.Minute, 2000
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ACKs < 2000 || rep.Duration >= time.Minute {
		t.Errorf("%d ACKs in %s: the count bound did not end the run", rep.ACKs, rep.Duration)
	}
}

// The do-nothing agent answers blocked=false to everything, so a listed target makes the run
// fail: the checks catch an agent that answers wrongly.
func TestRunFailsOnWrongDecisions(t *testing.T) {
	targets := append(bench.CleanTargets(9, 0, 1), bench.Target{Addr: netip.MustParseAddr("192.0.2.1"), Blocked: true})
	rep, err := bench.Run(context.Background(), shortRun(startNullAgent(t), targets))
	if err == nil || rep == nil || rep.Wrong == 0 || !rep.Failed() {
		t.Fatalf("err %v, report %+v: wrong answers not caught", err, rep)
	}
}

// fakeAgent serves one behaviour per connection on loopback.
func fakeAgent(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln := testutil.Accept(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serve(c)
	})
	return ln.Addr().String()
}

// frames reads frames from c and calls fn for each until fn returns false or c fails.
func frames(c net.Conn, fn func(f codec.Frame) bool) {
	buf := make([]byte, 1<<16)
	filled := 0
	for {
		n, err := c.Read(buf[filled:])
		if err != nil {
			return
		}
		filled += n
		off := 0
		for {
			var f codec.Frame
			m, err := codec.ReadFrameInto(&f, buf[off:filled], codec.DefaultMaxFrameSize)
			if err != nil {
				return
			}
			if m == 0 {
				break
			}
			off += m
			if !fn(f) {
				return
			}
		}
		filled = copy(buf, buf[off:filled])
	}
}

func agentHello(caps string) []byte {
	return codec.AppendAgentHello(nil, codec.AgentHello{Version: "2.0", MaxFrameSize: codec.DefaultMaxFrameSize, Capabilities: caps})
}

func allowAck(dst []byte, f codec.Frame) []byte {
	dst, start := codec.BeginAck(dst, f.StreamID, f.FrameID)
	return codec.FinishFrame(codec.AppendSetVar(dst, codec.ScopeTxn, "blocked", codec.BoolValue(false)), start)
}

// pipeliningAgent handshakes, answers HAPROXY-DISCONNECT, and hands the n-th NOTIFY (from 1)
// to notify, which writes its answer and says whether to go on.
func pipeliningAgent(t *testing.T, notify func(c net.Conn, n int, f codec.Frame) bool) string {
	return fakeAgent(t, func(c net.Conn) {
		n := 0
		frames(c, func(f codec.Frame) bool {
			switch f.Type {
			case codec.FrameHAProxyHello:
				c.Write(agentHello("pipelining"))
			case codec.FrameNotify:
				n++
				return notify(c, n, f)
			case codec.FrameHAProxyDisconnect:
				c.Write(codec.AppendAgentDisconnect(nil, codec.StatusNormal, ""))
				return false
			}
			return true
		})
	})
}

// An agent that never answers one NOTIFY in 50: those are counted missing and fail the run.
func TestRunCountsMissingACKs(t *testing.T) {
	addr := pipeliningAgent(t, func(c net.Conn, n int, f codec.Frame) bool {
		if n%50 != 0 {
			c.Write(allowAck(nil, f))
		}
		return true
	})
	cfg := shortRun(addr, bench.CleanTargets(10, 0, 1))
	cfg.AckTimeout = 100 * time.Millisecond
	rep, err := bench.Run(context.Background(), cfg)
	if err == nil || rep == nil || rep.Missing == 0 {
		t.Fatalf("err %v, report %+v: missing ACKs not caught", err, rep)
	}
}

// An agent that closes in the middle of the run: the connection is reported as lost, and
// what it had in flight is missing.
func TestRunReportsDisconnectsDuringTheRun(t *testing.T) {
	addr := pipeliningAgent(t, func(c net.Conn, n int, f codec.Frame) bool {
		if n == 100 {
			c.Write(codec.AppendAgentDisconnect(nil, codec.StatusResourceAllocation, ""))
			// Close without a reset: closing with NOTIFYs unread would send one, and a
			// reset can discard the frame before the load generator reads it.
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c) // until the load generator closes (bounded by the deadline)
			return false
		}
		c.Write(allowAck(nil, f))
		return true
	})
	rep, err := bench.Run(context.Background(), shortRun(addr, bench.CleanTargets(10, 0, 1)))
	if err == nil || rep == nil {
		t.Fatalf("err %v: a lost connection did not fail the run", err)
	}
	if got := rep.DisconnectsDuringRun["agent-disconnect status 13 (resource allocation error)"]; got != 4 {
		t.Errorf("disconnects during run %v, want 4× status 13", rep.DisconnectsDuringRun)
	}
}

func TestRunRefusesABadHandshake(t *testing.T) {
	tests := []struct {
		name  string
		hello []byte
		want  string
	}{
		{"refused", codec.AppendAgentDisconnect(nil, codec.StatusUnsupportedVersion, ""), "refused the handshake"},
		{"no pipelining", agentHello(""), "pipelining"},
		{"version 1.0", codec.AppendAgentHello(nil, codec.AgentHello{Version: "1.0", MaxFrameSize: 16380}), "version"},
		{"max-frame-size 100", codec.AppendAgentHello(nil, codec.AgentHello{Version: "2.0", MaxFrameSize: 100, Capabilities: "pipelining"}), "max-frame-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeAgent(t, func(c net.Conn) {
				frames(c, func(f codec.Frame) bool { c.Write(tt.hello); return false })
			})
			_, err := bench.Run(context.Background(), shortRun(addr, bench.CleanTargets(1, 0, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// An agent that accepts and never answers the HELLO: the handshake is bounded.
func TestRunBoundsTheHandshake(t *testing.T) {
	addr := fakeAgent(t, func(c net.Conn) { frames(c, func(codec.Frame) bool { return true }) })
	cfg := shortRun(addr, bench.CleanTargets(1, 0, 1))
	cfg.DialTimeout = 200 * time.Millisecond
	_, err := bench.Run(context.Background(), cfg)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a timeout", err)
	}
}

func TestConfigIsValidated(t *testing.T) {
	base := shortRun("127.0.0.1:1", bench.CleanTargets(1, 0, 1))
	for name, mod := range map[string]func(*bench.Config){
		"no address":    func(c *bench.Config) { c.Addr = "" },
		"no conns":      func(c *bench.Config) { c.Conns = 0 },
		"no in flight":  func(c *bench.Config) { c.InFlight = 0 },
		"no targets":    func(c *bench.Config) { c.Targets = nil },
		"no duration":   func(c *bench.Config) { c.Duration = 0 },
		"over an hour":  func(c *bench.Config) { c.Duration = 2 * time.Hour },
		"negative warm": func(c *bench.Config) { c.Warmup = -1 },
	} {
		cfg := base
		mod(&cfg)
		if _, err := bench.Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A paced run sends at about the asked rate, far below what the agent could take.
func TestRunPacesToTheRate(t *testing.T) {
	cfg := shortRun(startNullAgent(t), bench.CleanTargets(100, 0, 1))
	cfg.Rate, cfg.Duration = 2000, 500*time.Millisecond
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Generous bounds: the machine is shared, and pacing only ever sends late, never early.
	if rep.ACKsPerSec > 2200 || rep.ACKsPerSec < 1400 {
		t.Errorf("paced at 2000/s, measured %.0f/s", rep.ACKsPerSec)
	}
}

func TestHoldIdleHandshakesEveryConnection(t *testing.T) {
	cfg := shortRun(startNullAgent(t), bench.CleanTargets(1, 0, 1))
	cfg.Conns = 50
	readyCalled := false
	if err := bench.HoldIdle(context.Background(), cfg, 10*time.Millisecond, func() { readyCalled = true }); err != nil || !readyCalled {
		t.Fatalf("HoldIdle: %v (ready called: %v)", err, readyCalled)
	}
}
