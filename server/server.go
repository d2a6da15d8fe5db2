package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/eventloop"
)

// Server is the SPOP agent on gnet event loops. Create it with New, run it with Start, stop
// it with Shutdown.
//
// Back-pressure: gnet/v2 offers no way to stop reading a connection (its poller registration
// is internal, and after every read event it keeps unconsumed input in a growing ring
// buffer). So a peer that does not read its ACKs is handled in two steps: once more than
// MaxQueuedOutput bytes wait in the connection's outbound buffer, the server stops
// processing that connection's input (so no more ACKs are queued) and re-checks it on the
// server's tick; if the peer keeps sending meanwhile and its unprocessed input passes
// maxPausedInput, the connection is closed and the reason logged. Memory per connection is
// thus bounded by MaxQueuedOutput plus one batch of ACKs, plus maxPausedInput.
type Server struct {
	cfg     Config
	scfg    sessionConfig
	log     *slog.Logger
	metrics *serverMetrics
	errLog  rateLimiter
	// acceptLog has its own budget, so that a flood's per-connection warnings never hide
	// that accepting is paused.
	acceptLog rateLimiter

	maxPausedI int    // maxPausedInput
	refusal    []byte // the AGENT-DISCONNECT sent to connections over MaxConns; read-only

	eng      gnet.Engine
	booted   chan struct{} // closed by the first OnTick: the loops are up (OnBoot runs before)
	bootOnce sync.Once
	done     chan struct{} // closed when the engine has stopped
	runErr   error         // why the server stopped, valid after done
	failErr  error         // set by fail before it stops the engine
	failOnce sync.Once
	bound    []net.Addr
	started  atomic.Bool
	draining atomic.Bool

	lns        []*listener
	lnOnce     sync.Once
	stopAccept chan struct{} // closed when the listeners close
	acceptors  sync.WaitGroup
	pausedMu   sync.Mutex
	pausedLns  map[*listener]bool // listeners pausing for want of descriptors

	open   atomic.Int64  // connections open
	opened atomic.Uint64 // connections ever opened: conn.seq
	held   atomic.Int64  // bytes of input buffered and output queued, over all connections
	clock  atomic.Int64  // coarse time (UnixNano), set by the tick: the hot path reads no clock

	mu    sync.Mutex
	conns map[*conn]struct{} // every open connection, for the tick and Shutdown
}

// conn is the gnet context of one connection. Only its event loop touches sess; the fields
// the tick goroutine reads are atomic or set before the conn is published.
type conn struct {
	c        gnet.Conn
	sess     *session
	peer     string
	deadline time.Time   // for the HELLO; read-only after OnOpen
	ready    atomic.Bool // the HELLO was accepted
	paused   atomic.Bool // output backlog: input is not being processed

	// Coarse times (Server.clock) for the tick's limits; 0 when not running.
	lastInput    atomic.Int64 // the last read event that brought input (or the open)
	partialSince atomic.Int64 // an unfinished frame has been waiting since
	fragSince    atomic.Int64 // a fragmented NOTIFY has been in reassembly since
	queuedSince  atomic.Int64 // output has been queued, not drained, since
	held         atomic.Int64 // bytes this connection holds, as added to Server.held
	end          atomic.Int32 // an endReason the tick asks the loop to end the connection for
	notified     atomic.Bool  // a NOTIFY has been received: the peer is doing HAProxy's work
	seq          uint64       // order of opening; read-only after OnOpen
}

// outPool holds the output buffers: one is borrowed per read event for all the frames it
// produces, then returned, so idle connections hold none.
var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// New checks cfg and returns a Server that answers NOTIFYs with h.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("server: nil handler")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: newServerMetrics(cfg.Metrics),
		booted:  make(chan struct{}),
		done:    make(chan struct{}),
		conns:   make(map[*conn]struct{}),

		stopAccept: make(chan struct{}),
		pausedLns:  make(map[*listener]bool),
	}
	s.clock.Store(time.Now().UnixNano())
	s.errLog = rateLimiter{log: cfg.Logger, perSecond: 10}
	s.acceptLog = rateLimiter{log: cfg.Logger, perSecond: 1}
	s.scfg = sessionConfig{
		maxFrameSize:  cfg.MaxFrameSize,
		capabilities:  cfg.capabilities(),
		fragmentation: !cfg.DisableFragmentation,
		maxReassembly: cfg.MaxReassembly,
		handler:       h,
		metrics:       s.metrics,
	}
	s.maxPausedI = max(4*(int(cfg.MaxFrameSize)+codec.LengthSize), 256<<10)
	s.refusal = codec.AppendAgentDisconnect(nil, codec.StatusResourceAllocation, "too many connections")
	return s, nil
}

// Start binds the listeners and starts the event loops. It returns once the server accepts
// connections, or with the error that prevented it (an address in use, a bad socket path).
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("server: already started")
	}
	if err := s.bind(); err != nil {
		close(s.done)
		return fmt.Errorf("server: %w", err)
	}
	loops := s.cfg.Loops
	if procs, raised := eventloop.ReserveIdleP(loops); raised {
		s.log.Info("GOMAXPROCS raised to one more than the event loops, so that sysmon leaves waiting loops alone",
			"loops", loops, "gomaxprocs", procs)
	}
	go func() {
		defer close(s.done)
		err := gnet.Rotate(&events{s: s}, []string{gnetAddr},
			gnet.WithNumEventLoop(loops),
			// Register (listen.go) picks the loop: round robin would race.
			gnet.WithLoadBalancing(gnet.LeastConnections),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true),
			gnet.WithLogger(gnetLogger{s.log}),
		)
		s.closeListeners()
		s.acceptors.Wait()
		if s.failErr != nil {
			err = s.failErr
		} else if err == nil && !s.draining.Load() {
			err = errors.New("server: the event loops stopped")
		}
		s.runErr = err
	}()
	select {
	case <-s.booted:
		if err := sealGnetListener(s.eng); err != nil {
			s.log.Warn("gnet's own listener not sealed: connections to it are closed at open", "error", err)
		}
		for _, l := range s.lns {
			s.acceptors.Add(1)
			go s.acceptLoop(l)
		}
		return nil
	case <-s.done:
		return fmt.Errorf("server: starting the event loops: %w", s.runErr)
	}
}

// fail stops the server on an error it cannot recover from; Serve and Err report it.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		s.log.Error("SPOP server stopping", "error", err)
		s.failErr = err
		go s.stopEngine()
	})
}

// Done is closed when the server has stopped, by Shutdown or by an error (see Err).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped: nil after Shutdown, the error otherwise. Valid after Done
// is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.runErr
	default:
		return nil
	}
}

// Addrs returns the bound address of each listener, in the order of Config.Listen (with the
// actual port when it was 0). Valid after Start.
func (s *Server) Addrs() []net.Addr { return s.bound }

// Addr returns the first listener's bound address.
func (s *Server) Addr() net.Addr {
	if len(s.bound) == 0 {
		return nil
	}
	return s.bound[0]
}

// Loops is the number of event loops the server runs (Config.Loops, or its default).
func (s *Server) Loops() int { return s.cfg.Loops }

// OpenConns is the number of connections open now.
func (s *Server) OpenConns() int { return int(s.open.Load()) }

// Shutdown stops the server gracefully: new connections are refused, every open connection
// has its complete buffered NOTIFYs answered, then gets AGENT-DISCONNECT status 0 and is
// closed; then the event loops stop. It returns when all is done or ctx expires, whichever
// comes first; on expiry the engine is stopped anyway (closing what is left without an
// AGENT-DISCONNECT), so no listener outlives Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	select {
	case <-s.done: // already stopped (or failed to start)
		return nil
	default:
	}
	select {
	case <-s.booted:
	case <-s.done:
		return nil
	}
	s.draining.Store(true)
	s.closeListeners()
	// Wake runs OnTraffic on each connection's loop, which sees draining, answers what is
	// buffered and disconnects. Waking is repeated until all are gone, for connections that
	// were being opened while draining began. The engine stop below would close whatever is
	// left too, but without the AGENT-DISCONNECT.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.open.Load() > 0 {
		for _, c := range s.snapshotConns() {
			_ = c.c.Wake(nil)
		}
		select {
		case <-ctx.Done():
			s.stopEngine()
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := s.eng.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopEngine stops the event loops without waiting for connections to drain.
func (s *Server) stopEngine() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.eng.Stop(ctx)
}

func (s *Server) snapshotConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// events implements gnet.EventHandler; it is a separate type so that Server's exported API
// does not show the callbacks.
type events struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (e *events) OnBoot(eng gnet.Engine) gnet.Action {
	e.s.eng = eng
	return gnet.None
}

func (e *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := e.s
	if _, ok := gc.Context().(enrolled); !ok || s.draining.Load() {
		return nil, gnet.Close // accepted by gnet on its own socket (listen.go), or shutting down
	}
	if !s.reserveConn() {
		// The table is full: the connection idle the longest makes room (see evictIdlest),
		// and its slot passes to this one when it closes.
		if !s.evictIdlest() {
			// A refusal HAProxy can log (docs/PROTOCOL.md#hello: an agent refuses a HELLO
			// with AGENT-DISCONNECT) rather than a bare close it would see as an I/O
			// error. gnet writes it before closing; the slice is shared and never written.
			s.metrics.connsRefused.Inc()
			s.errLog.warn("connection refused: too many connections", "peer", peerString(gc), "max_conns", s.cfg.MaxConns)
			return s.refusal, gnet.Close
		}
		s.open.Add(1)
	}
	c := &conn{
		c:        gc,
		sess:     newSession(&s.scfg),
		peer:     peerString(gc),
		deadline: time.Now().Add(s.cfg.HelloTimeout),
	}
	c.lastInput.Store(s.clock.Load())
	c.seq = s.opened.Add(1)
	gc.SetContext(c)
	s.metrics.connsOpen.Inc()
	s.metrics.connsTotal.Inc()
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return nil, gnet.None
}

// reserveConn counts a new connection unless MaxConns are open. Loops accept concurrently,
// so a load then an add would let each of them take the last slot.
func (s *Server) reserveConn() bool {
	for {
		n := s.open.Load()
		if n >= int64(s.cfg.MaxConns) {
			return false
		}
		if s.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (e *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	s := e.s
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None // refused in OnOpen
	}
	gc.SetContext(nil)
	sess := c.sess
	// Release what the session holds (fragments in reassembly) and count its ending before
	// the connection stops counting as open (at the end): whoever sees the open count drop
	// sees its resources released and its metrics updated.
	sess.close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if h := c.held.Swap(0); h != 0 {
		s.held.Add(-h)
	}
	defer s.open.Add(-1)
	s.metrics.connsOpen.Dec()
	if sess.gotDisc {
		s.metrics.disconnect("haproxy", sess.peerStatus)
	}
	if sess.sentDisc {
		s.metrics.disconnect("agent", sess.status)
	}
	if sess.err != nil {
		s.errLog.warn("protocol error", "peer", c.peer, "status", int(sess.status), "error", sess.err)
	} else if err != nil && !isNormalClose(err) {
		s.errLog.warn("connection error", "peer", c.peer, "error", err)
	}
	return gnet.None
}

// isNormalClose reports whether err is how peers end connections every day: EOF, and the
// resets HAProxy 3.1+ uses to drop idle connections (docs/PROTOCOL.md#closing).
func isNormalClose(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed)
}

func peerString(gc gnet.Conn) string {
	if a := gc.RemoteAddr(); a != nil {
		if s := a.String(); s != "" && s != "@" {
			return s
		}
	}
	return "unix"
}
