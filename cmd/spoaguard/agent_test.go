package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
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

// reload sends the agent SIGHUP and polls ok for up to 5 s, failing t with what and the
// agent's logs if it never holds.
func (a *testAgent) reload(t *testing.T, what string, ok func() bool) {
	t.Helper()
	a.hup <- syscall.SIGHUP
	a.waitFor(t, what, ok)
}

// waitFor polls ok for up to 5 s, failing t with what and the agent's logs if it never holds.
func (a *testAgent) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	if !testutil.Poll(5*time.Second, ok) {
		t.Fatalf("%s\n%s", what, a.logs)
	}
}

// agentConn is one SPOP connection to the agent, past the handshake.
type agentConn struct{ *testutil.Client }

func (a *testAgent) dial(t *testing.T) *agentConn {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", a.listen)
	if err != nil {
		t.Fatal(err)
	}
	c := testutil.Dial(t, addr)
	c.Send(codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 16380, Capabilities: []byte("pipelining")}))
	c.Expect(codec.FrameAgentHello)
	return &agentConn{c}
}

// next reads one frame.
func (ac *agentConn) next() testutil.Frame {
	ac.T.Helper()
	f, ok := ac.Next()
	if !ok {
		ac.T.Fatal("connection closed")
	}
	return f
}

// decide sends a check-client-ip NOTIFY for ip and returns the ACK's blocked and list.
func (ac *agentConn) decide(ip netip.Addr) (blocked bool, list string) {
	ac.T.Helper()
	msg := codec.AppendMessage(nil, "check-client-ip", 1)
	if ip.Is4() {
		a4 := ip.As4()
		msg = codec.AppendArg(msg, "ip", codec.IPv4Value(&a4))
	} else {
		a16 := ip.As16()
		msg = codec.AppendArg(msg, "ip", codec.IPv6Value(&a16))
	}
	ac.Send(codec.AppendNotify(nil, 7, 1, msg))
	f := ac.Expect(codec.FrameAck)
	if f.StreamID != 7 {
		ac.T.Fatalf("got ACK %d, want ACK 7", f.StreamID)
	}
	return f.BlockedVar(ac.T), f.ListVar()
}

// get returns the status and body of one of the agent's HTTP endpoints.
func (a *testAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.metrics + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// scrape returns the agent's /metrics.
func (a *testAgent) scrape(t *testing.T) string {
	t.Helper()
	_, body := a.get(t, "/metrics")
	return body
}

// checkExposition fails t unless every series of a /metrics body belongs to a family with
// exactly one TYPE line before it, and spoaguard's counters are named _total and its gauges
// are not (the Go and process series are the library's and keep its names).
func checkExposition(t *testing.T, body string) {
	t.Helper()
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if _, dup := types[name]; dup {
				t.Errorf("two TYPE lines for %s", name)
			}
			types[name] = typ
			switch {
			case !strings.HasPrefix(name, "spoaguard_"):
			case typ == "counter" && !strings.HasSuffix(name, "_total"):
				t.Errorf("counter %s is not named _total", name)
			case typ == "gauge" && strings.HasSuffix(name, "_total"):
				t.Errorf("gauge %s is named _total", name)
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		family := name
		if _, ok := types[family]; !ok { // summaries and histograms: name_sum, name_count, name_bucket
			for _, suffix := range []string{"_sum", "_count", "_bucket"} {
				family = strings.TrimSuffix(family, suffix)
			}
		}
		if _, ok := types[family]; !ok {
			t.Errorf("series without a TYPE line: %s", line)
		}
	}
}
