package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// testAgent is the agent run in-process by run, with its logs.
type testAgent struct {
	listen, metrics string
	logs            *testutil.Buffer
	hup             chan os.Signal
	stop            context.CancelFunc
	err             chan error
}

// startAgent runs the agent with args plus its own -listen and -metrics, and waits until
// /healthz answers 200.
func startAgent(t *testing.T, args ...string) *testAgent {
	t.Helper()
	a := &testAgent{listen: freeAddr(t), metrics: freeAddr(t), logs: &testutil.Buffer{},
		hup: make(chan os.Signal, 1), err: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	args = append([]string{"-listen", a.listen, "-metrics", a.metrics}, args...)
	go func() { a.err <- run(ctx, args, io.Discard, a.logs, a.hup) }()
	t.Cleanup(func() {
		cancel()
		<-a.err
	})
	for i := 0; i < 500; i++ {
		if resp, err := http.Get("http://" + a.metrics + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		select {
		case err := <-a.err:
			a.err <- err
			t.Fatalf("agent exited: %v\n%s", err, a.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("agent not healthy\n%s", a.logs)
	return nil
}

// agentConn is one SPOP connection to the agent, past the handshake.
type agentConn struct {
	t   *testing.T
	c   net.Conn
	buf []byte
}

func (a *testAgent) dial(t *testing.T) *agentConn {
	t.Helper()
	c, err := net.Dial("tcp", a.listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	ac := &agentConn{t: t, c: c}
	hello := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 16380, Capabilities: []byte("pipelining")})
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	if f := ac.next(); f.Type != codec.FrameAgentHello {
		t.Fatalf("got %s, want AGENT-HELLO", f.Type)
	}
	return ac
}

// next reads one frame; its payload is a copy.
func (ac *agentConn) next() codec.Frame {
	ac.t.Helper()
	for {
		var f codec.Frame
		n, err := codec.ReadFrameInto(&f, ac.buf, 1<<20)
		if err != nil {
			ac.t.Fatal(err)
		}
		if n > 0 {
			f.Payload = append([]byte(nil), f.Payload...)
			ac.buf = ac.buf[n:]
			return f
		}
		tmp := make([]byte, 4096)
		m, err := ac.c.Read(tmp)
		if err != nil {
			ac.t.Fatalf("read: %v", err)
		}
		ac.buf = append(ac.buf, tmp[:m]...)
	}
}

// decide sends a check-client-ip NOTIFY for ip and returns the ACK's blocked and list.
func (ac *agentConn) decide(ip netip.Addr) (blocked bool, list string) {
	ac.t.Helper()
	msg := codec.AppendMessage(nil, "check-client-ip", 1)
	if ip.Is4() {
		a4 := ip.As4()
		msg = codec.AppendArg(msg, "ip", codec.IPv4Value(&a4))
	} else {
		a16 := ip.As16()
		msg = codec.AppendArg(msg, "ip", codec.IPv6Value(&a16))
	}
	if _, err := ac.c.Write(codec.AppendNotify(nil, 7, 1, msg)); err != nil {
		ac.t.Fatal(err)
	}
	f := ac.next()
	if f.Type != codec.FrameAck || f.StreamID != 7 {
		ac.t.Fatalf("got %s %d, want ACK 7", f.Type, f.StreamID)
	}
	it := codec.NewActionIterator(f.Payload)
	for it.Next() {
		switch a := it.Action(); string(a.Name) {
		case "blocked":
			blocked = a.Value.Bool
		case "list":
			list = string(a.Value.Bytes)
		}
	}
	return blocked, list
}

// scrape returns the agent's /metrics.
func (a *testAgent) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
