// Package nullagent is a do-nothing SPOP agent, built only for benchmarks: it does the HELLO
// handshake and answers every NOTIFY with a canned ACK (set-var txn.blocked = false, with the
// NOTIFY's ids), without decoding the NOTIFY's payload. It is the ceiling spoaguard's
// throughput is quoted against: the same gnet/v2 event loops, the same framing, batching
// every ACK of one read into one write, and nothing else.
package nullagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/eventloop"
)

// Config is how the agent listens and answers.
type Config struct {
	Addr       string      // host:port to listen on (port 0 picks one)
	Loops      int         // gnet event loops (default 1)
	Scope      codec.Scope // of the canned set-var (default txn)
	VarBlocked string      // its name (default "blocked")
}

// Agent is a running do-nothing agent.
type Agent struct {
	cfg     Config
	ack     []byte // the canned actions: set-var scope.VarBlocked = BOOL false
	addr    net.Addr
	eng     gnet.Engine
	booted  chan struct{}
	done    chan struct{}
	runErr  error
	stopped sync.Once
}

// connState is one connection's protocol state and output buffer.
type connState struct {
	helloDone bool
	mfs       uint32
	out       []byte
}

// maxFrameSize is what the agent accepts and announces at most, as HAProxy's default.
const maxFrameSize = codec.DefaultMaxFrameSize

// Start listens and serves in the background until Stop. It returns once the listener is up.
func Start(cfg Config) (*Agent, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = 1
	}
	if cfg.Scope == 0 {
		cfg.Scope = codec.ScopeTxn
	}
	if cfg.VarBlocked == "" {
		cfg.VarBlocked = "blocked"
	}
	a := &Agent{
		cfg:    cfg,
		ack:    codec.AppendSetVar(nil, cfg.Scope, cfg.VarBlocked, codec.BoolValue(false)),
		booted: make(chan struct{}),
		done:   make(chan struct{}),
	}
	// The same spare P as spoaguard's loops get, so that the ceiling does not pay the
	// sysmon hand-offs spoaguard avoids (see package internal/eventloop).
	eventloop.ReserveIdleP(cfg.Loops)
	go func() {
		defer close(a.done)
		a.runErr = gnet.Run(&handler{a: a}, "tcp://"+cfg.Addr,
			gnet.WithMulticore(cfg.Loops > 1),
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogLevel(logging.ErrorLevel),
		)
	}()
	select {
	case <-a.booted:
		return a, nil
	case <-a.done:
		return nil, fmt.Errorf("nullagent: %w", a.runErr)
	case <-time.After(10 * time.Second):
		return nil, errors.New("nullagent: event loops did not start within 10s")
	}
}

// Addr returns the address the agent listens on.
func (a *Agent) Addr() net.Addr { return a.addr }

// Stop closes the listener and every connection and waits for the loops to end.
func (a *Agent) Stop(ctx context.Context) error {
	var err error
	a.stopped.Do(func() { err = a.eng.Stop(ctx) })
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// Wait blocks until the agent has stopped and returns why.
func (a *Agent) Wait() error {
	<-a.done
	return a.runErr
}

type handler struct {
	gnet.BuiltinEventEngine
	a *Agent
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.a.eng = eng
	addr, err := listenAddr(eng)
	if err != nil {
		return gnet.Shutdown
	}
	h.a.addr = addr
	close(h.a.booted)
	return gnet.None
}

// listenAddr asks the kernel which address the listener got (the port may have been 0).
func listenAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}, nil
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}, nil
	}
	return nil, fmt.Errorf("listener address of type %T", sa)
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&connState{mfs: maxFrameSize, out: make([]byte, 0, 4096)})
	return nil, gnet.None
}

// OnTraffic answers every complete frame buffered on c with one write. The inbound bytes are
// peeked, not copied, and the ACKs are appended to the connection's reused output buffer.
func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*connState)
	buf, _ := c.Peek(-1)
	out := st.out[:0]
	consumed := 0
	action := gnet.None
	var f codec.Frame
	for action == gnet.None {
		n, err := codec.ReadFrameInto(&f, buf[consumed:], st.mfs)
		if err != nil {
			var ce *codec.Error
			status := codec.StatusInvalidFrame
			if errors.As(err, &ce) {
				status = ce.Status
			}
			out = codec.AppendAgentDisconnect(out, status, "")
			action = gnet.Close
			break
		}
		if n == 0 {
			break
		}
		consumed += n
		out, action = h.frame(st, &f, out)
	}
	st.out = out
	_, _ = c.Discard(consumed)
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	return action
}

// frame appends the answer to one frame.
func (h *handler) frame(st *connState, f *codec.Frame, out []byte) ([]byte, gnet.Action) {
	switch {
	case f.Type == codec.FrameNotify && st.helloDone:
		// The common case: a canned ACK with the NOTIFY's ids, payload never decoded.
		out, start := codec.BeginAck(out, f.StreamID, f.FrameID)
		return codec.FinishFrame(append(out, h.a.ack...), start), gnet.None
	case f.Type == codec.FrameHAProxyHello && !st.helloDone:
		hello, err := codec.ParseHello(f.Payload)
		switch {
		case err != nil:
			return codec.AppendAgentDisconnect(out, codec.StatusInvalidFrame, ""), gnet.Close
		case !hello.SupportsVersion("2.0"):
			return codec.AppendAgentDisconnect(out, codec.StatusUnsupportedVersion, ""), gnet.Close
		}
		mfs := uint32(maxFrameSize)
		if hello.MaxFrameSize != 0 && hello.MaxFrameSize < mfs {
			mfs = max(hello.MaxFrameSize, codec.MinMaxFrameSize)
		}
		st.mfs, st.helloDone = mfs, true
		out = codec.AppendAgentHello(out, codec.AgentHello{Version: "2.0", MaxFrameSize: mfs, Capabilities: "pipelining"})
		if hello.Healthcheck {
			return out, gnet.Close
		}
		return out, gnet.None
	case f.Type == codec.FrameHAProxyDisconnect:
		return codec.AppendAgentDisconnect(out, codec.StatusNormal, ""), gnet.Close
	}
	return codec.AppendAgentDisconnect(out, codec.StatusInvalidFrame, "unexpected "+f.Type.String()+" frame"), gnet.Close
}
