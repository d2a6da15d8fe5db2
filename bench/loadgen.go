package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// Config is one load-generator run.
type Config struct {
	Addr     string  // the agent, host:port
	Conns    int     // connections, each with its own handshake
	InFlight int     // NOTIFYs kept in flight per connection (HAProxy: up to 20)
	IDStyle  IDStyle // how stream-ids are numbered
	Targets  []Target

	Message string // NOTIFY message name (default check-client-ip)
	Arg     string // argument carrying the address (default ip)
	Check   Check  // what the ACK must set (default txn blocked/list)

	Warmup   time.Duration // load before measuring: connections, caches and CPU frequency settle
	Duration time.Duration // the measured window (required, at most an hour)
	MaxACKs  uint64        // optional: end the measured window after this many ACKs

	// Rate, when > 0, paces the NOTIFYs to this many per second in total (spread evenly over
	// the connections, still at most InFlight in flight each): latency at a chosen share of
	// peak throughput rather than at saturation.
	Rate float64

	DialTimeout time.Duration // connect + handshake, per connection (default 5s)
	AckTimeout  time.Duration // a NOTIFY un-ACKed this long is missing (default 2s)

	// AgentPID, when not 0, is the agent's process: its CPU time over the measured window is
	// read from /proc/PID/stat, for CPU per ACK.
	AgentPID int
	// AgentMetrics, when not empty, is the agent's Prometheus endpoint: go_memstats_mallocs_total
	// is scraped at both ends of the measured window, for allocations per ACK.
	AgentMetrics string
}

// maxDuration bounds a run's measured window.
const maxDuration = time.Hour

func (c *Config) defaults() error {
	if c.Message == "" {
		c.Message = "check-client-ip"
	}
	if c.Arg == "" {
		c.Arg = "ip"
	}
	if c.Check.VarBlocked == "" {
		c.Check.VarBlocked = "blocked"
	}
	if c.Check.VarList == "" {
		c.Check.VarList = "list"
	}
	if c.Check.Scope == 0 {
		c.Check.Scope = codec.ScopeTxn
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 2 * time.Second
	}
	switch {
	case c.Addr == "":
		return errors.New("bench: no agent address")
	case c.Conns < 1 || c.Conns > 10000:
		return fmt.Errorf("bench: %d connections, want 1..10000", c.Conns)
	case c.InFlight < 1 || c.InFlight > 4096:
		return fmt.Errorf("bench: %d in flight, want 1..4096", c.InFlight)
	case len(c.Targets) == 0:
		return errors.New("bench: no target addresses")
	case c.Duration <= 0 || c.Duration > maxDuration:
		return fmt.Errorf("bench: duration %s, want (0, %s]", c.Duration, maxDuration)
	case c.Rate < 0:
		return fmt.Errorf("bench: rate %.0f/s", c.Rate)
	case c.Warmup < 0 || c.Warmup > maxDuration:
		return fmt.Errorf("bench: warm-up %s, want [0, %s]", c.Warmup, maxDuration)
	}
	return nil
}

// Run phases, read by every connection once per read.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// run is the state shared by the connections of one Run.
type run struct {
	cfg       *Config
	w         *workload
	start     time.Time
	phase     atomic.Int32
	measureAt atomic.Int64 // ns since start when measuring began
	globalSID atomic.Uint64
	measured  atomic.Uint64 // ACKs in the measured window, for MaxACKs
	stopOnce  sync.Once
	stopped   chan struct{}
}

func (r *run) now() time.Duration { return time.Since(r.start) }

func (r *run) stop() {
	r.stopOnce.Do(func() {
		r.phase.Store(phaseStop)
		close(r.stopped)
	})
}

// conn is one load-generator connection.
type conn struct {
	r      *run
	id     int
	nc     net.Conn
	s      *session
	hist   histogram
	in     []byte
	filled int
	out    []byte
	// timeline counts the ACKs of each second of the measured window.
	timeline []uint64
	// disconnect records how the connection ended, when it ended on the agent's side.
	disconnect string
	early      bool // the agent ended the connection before the run stopped
	err        error
	// With a rate: the interval between two NOTIFYs of this connection, and when the next
	// one is due.
	interval time.Duration
	nextDue  time.Duration
}

// due returns how many NOTIFYs the connection may send at now, at most n: all of them
// without a rate, else those whose time has come. Sends that came due while the connection
// slept or waited for a read go out together (a sleep of tens of microseconds overshoots to a
// millisecond), but the backlog is capped (at maxPacingLag, or InFlight intervals if longer)
// so that a connection that could not keep up does not burst afterwards.
// maxPacingLag is the most a paced connection catches up on: longer than the overshoot of a
// short sleep (about a millisecond, more on a busy machine), short next to a run.
const maxPacingLag = 10 * time.Millisecond

func (c *conn) due(n int, now time.Duration) int {
	if c.interval == 0 || n <= 0 {
		return n
	}
	if now < c.nextDue {
		return 0
	}
	k := min(n, int((now-c.nextDue)/c.interval)+1)
	c.nextDue += time.Duration(k) * c.interval
	if maxLag := max(time.Duration(c.r.cfg.InFlight)*c.interval, maxPacingLag); now-c.nextDue > maxLag {
		c.nextDue = now - maxLag
	}
	return k
}

// Run connects, drives the load and returns the report. The error is non-nil when the run
// could not start (bad config, an agent that does not answer the handshake) or when it
// failed (wrong, missing or unexpected ACKs; a connection lost during the run): the report
// then says what went wrong. Cancelling ctx ends the run early.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &run{
		cfg:     &cfg,
		w:       newWorkload(cfg.Targets, cfg.Message, cfg.Arg, cfg.Check),
		start:   time.Now(),
		stopped: make(chan struct{}),
	}
	conns := make([]*conn, cfg.Conns)
	seconds := int(cfg.Duration/time.Second) + 2
	// Connect and handshake every connection before any load, in parallel (an agent may
	// accept slowly), each bounded by DialTimeout.
	var wg sync.WaitGroup
	for i := range conns {
		c := &conn{r: r, id: i, timeline: make([]uint64, seconds)}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.err = c.connect(ctx)
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c.err != nil {
			for _, c := range conns {
				if c.nc != nil {
					c.nc.Close()
				}
			}
			return nil, fmt.Errorf("bench: connection %d: %w", c.id, c.err)
		}
	}

	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop()
		}()
	}

	rep := &Report{
		Agent: cfg.Addr, Conns: cfg.Conns, InFlight: cfg.InFlight, IDStyle: cfg.IDStyle.String(),
		Targets: len(cfg.Targets), Warmup: cfg.Warmup,
	}
	var before, after usage
	phaseTimer := time.NewTimer(cfg.Warmup)
	select {
	case <-phaseTimer.C:
	case <-ctx.Done():
		r.stop()
	case <-r.stopped:
	}
	if r.phase.Load() == phaseWarmup {
		before = readUsage(&cfg, false)
		r.measureAt.Store(int64(r.now()))
		r.phase.Store(phaseMeasure)
		phaseTimer.Reset(cfg.Duration)
		select {
		case <-phaseTimer.C:
		case <-ctx.Done():
		case <-r.stopped:
		}
		end := r.now()
		after = readUsage(&cfg, true)
		rep.Duration = end - time.Duration(r.measureAt.Load())
	}
	phaseTimer.Stop()
	r.stop()
	wg.Wait()

	rep.fill(conns, before, after)
	if rep.Failed() {
		return rep, fmt.Errorf("bench: run failed: %s", rep.FirstError)
	}
	return rep, nil
}

// connect dials and does the HELLO handshake, as HAProxy does before any NOTIFY.
func (c *conn) connect(ctx context.Context) error {
	cfg := c.r.cfg
	d := net.Dialer{Timeout: cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	c.nc = nc
	// The read buffer holds several maximum-size frames, so one read drains what the agent
	// wrote for many NOTIFYs; ACKs are tiny, so in practice one read takes every ACK queued.
	c.in = make([]byte, 4*codec.DefaultMaxFrameSize)
	c.out = make([]byte, 0, max(4096, 64*cfg.InFlight))
	if err := nc.SetDeadline(time.Now().Add(cfg.DialTimeout)); err != nil {
		return err
	}
	engineID := "spoaguard-bench-" + strconv.Itoa(os.Getpid())
	if cfg.IDStyle == IDs26 {
		engineID += "-" + strconv.Itoa(c.id) // 2.6: one engine-id per thread
	}
	hello := codec.AppendHAProxyHello(nil, codec.Hello{
		SupportedVersions: []byte("2.0"),
		MaxFrameSize:      codec.DefaultMaxFrameSize,
		Capabilities:      []byte("pipelining"),
		EngineID:          []byte(engineID),
	})
	if _, err := nc.Write(hello); err != nil {
		return err
	}
	var f codec.Frame
	for {
		n, err := codec.ReadFrameInto(&f, c.in[:c.filled], codec.DefaultMaxFrameSize)
		if err != nil {
			return err
		}
		if n > 0 {
			if f.Type == codec.FrameAgentDisconnect {
				d, _ := codec.ParseDisconnect(f.Payload)
				return fmt.Errorf("agent refused the handshake: status %d (%s) %q", d.Status, d.Status, d.Message)
			}
			if f.Type != codec.FrameAgentHello {
				return fmt.Errorf("expected AGENT-HELLO, got %s", f.Type)
			}
			mfs, err := checkAgentHello(f.Payload, cfg.InFlight > 1)
			if err != nil {
				return err
			}
			copy(c.in, c.in[n:c.filled])
			c.filled -= n
			c.s = newSession(c.r.w, cfg.IDStyle, &c.r.globalSID, cfg.InFlight,
				c.id*len(cfg.Targets)/cfg.Conns, cfg.AckTimeout, &c.hist)
			c.s.mfs = mfs
			return nil
		}
		if c.filled == len(c.in) {
			return errors.New("AGENT-HELLO larger than the read buffer")
		}
		m, err := nc.Read(c.in[c.filled:])
		if err != nil {
			return fmt.Errorf("reading AGENT-HELLO: %w", err)
		}
		c.filled += m
	}
}

// checkAgentHello validates an AGENT-HELLO the way HAProxy does (docs/PROTOCOL.md#hello) and
// returns the max-frame-size the agent announced.
func checkAgentHello(payload []byte, needPipelining bool) (uint32, error) {
	var version, caps []byte
	var mfs uint64
	it := codec.NewKVIterator(payload)
	for it.Next() {
		v := it.Value()
		switch string(it.Key()) {
		case "version":
			version = v.Bytes
		case "max-frame-size":
			if v.Type.IsInt() {
				mfs = v.Uint
			}
		case "capabilities":
			caps = v.Bytes
		}
	}
	switch {
	case it.Err() != nil:
		return 0, it.Err()
	case string(version) != "2.0":
		return 0, fmt.Errorf("AGENT-HELLO version %q, want 2.0", version)
	case mfs < codec.MinMaxFrameSize || mfs > codec.DefaultMaxFrameSize:
		return 0, fmt.Errorf("AGENT-HELLO max-frame-size %d, want %d..%d", mfs, codec.MinMaxFrameSize, codec.DefaultMaxFrameSize)
	case needPipelining && !codec.HasCapability(caps, "pipelining"):
		return 0, fmt.Errorf("agent does not announce pipelining (capabilities %q): HAProxy would keep 1 NOTIFY in flight", caps)
	}
	return uint32(mfs), nil
}

// loop is the hot loop of one connection: fill the pipeline, then per read: match and check
// every ACK in it, and send all the replacement NOTIFYs in one write. Nothing in it
// allocates: the buffers are sized in connect and the session reuses its ring.
func (c *conn) loop() {
	r, s := c.r, c.s
	cfg := r.cfg
	now := r.now()
	if cfg.Rate > 0 {
		c.interval = time.Duration(float64(cfg.Conns) / cfg.Rate * float64(time.Second))
		c.interval = max(c.interval, 1)
		// Stagger the connections over one interval so their sends do not coincide.
		c.nextDue = now + c.interval*time.Duration(c.id)/time.Duration(cfg.Conns)
	}
	c.out = s.appendNotifies(c.out[:0], c.due(cfg.InFlight, now), now)
	var deadlineSet time.Duration
	refresh := cfg.AckTimeout / 4
	if err := c.nc.SetDeadline(r.start.Add(now + cfg.AckTimeout)); err != nil {
		c.end(err)
		return
	}
	deadlineSet = now
	if _, err := c.nc.Write(c.out); err != nil {
		c.end(err)
		return
	}
	for {
		phase := r.phase.Load()
		if phase == phaseStop && s.waiting == 0 {
			c.disconnect = c.close()
			return
		}
		if s.waiting == 0 && phase != phaseStop && c.interval > 0 {
			// Paced and nothing in flight: no ACK will wake a read, so never read now; sleep
			// until the next NOTIFY is due, if it is not yet (time.Sleep does not allocate).
			if d := c.nextDue - r.now(); d > 0 {
				time.Sleep(d)
			}
			now = r.now()
			c.out = s.appendNotifies(c.out[:0], c.due(cfg.InFlight, now), now)
			if _, err := c.nc.Write(c.out); err != nil {
				c.end(err)
				return
			}
			continue
		}
		if c.filled == len(c.in) { // cannot happen with frames ≤ mfs; never spin on it
			c.end(errors.New("read buffer full of an incomplete frame"))
			return
		}
		n, err := c.nc.Read(c.in[c.filled:])
		now = r.now()
		if err != nil && !isTimeout(err) {
			c.end(err)
			return
		}
		c.filled += n
		measuring := phase == phaseMeasure
		consumed, acked, ferr := s.handleFrames(c.in[:c.filled], now, measuring)
		copy(c.in, c.in[consumed:c.filled])
		c.filled -= consumed
		if ferr != nil {
			c.end(ferr)
			return
		}
		s.expire(now)
		if measuring && acked > 0 {
			sec := int((now - time.Duration(r.measureAt.Load())) / time.Second)
			if sec < len(c.timeline) {
				c.timeline[sec] += uint64(acked)
			}
			if cfg.MaxACKs > 0 && r.measured.Add(uint64(acked)) >= cfg.MaxACKs {
				r.stop()
			}
		}
		if now-deadlineSet >= refresh {
			if err := c.nc.SetDeadline(r.start.Add(now + cfg.AckTimeout)); err != nil {
				c.end(err)
				return
			}
			deadlineSet = now
		}
		if phase != phaseStop {
			c.out = s.appendNotifies(c.out[:0], c.due(cfg.InFlight-s.waiting, now), now)
			if len(c.out) > 0 {
				if _, err := c.nc.Write(c.out); err != nil {
					c.end(err)
					return
				}
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// end records a connection lost before the run stopped (or a read error while draining) and
// counts what was in flight as missing.
func (c *conn) end(err error) {
	var ad *agentDisconnectError
	if errors.Is(err, syscallECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) {
		// An agent that ends a connection sends AGENT-DISCONNECT and closes; with NOTIFYs
		// still unread on its side the close is a reset, which a write can run into before
		// a read has seen the frame. The agent's own reason is what to report.
		if derr := c.drain(); derr != nil {
			err = derr
		}
	}
	switch {
	case errors.As(err, &ad):
		c.disconnect = fmt.Sprintf("agent-disconnect status %d (%s)", ad.d.Status, ad.d.Status)
	case errors.Is(err, io.EOF):
		c.disconnect = "eof"
	case errors.Is(err, syscallECONNRESET):
		c.disconnect = "reset"
	default:
		c.disconnect = "error"
	}
	c.early = true
	c.s.fail("connection %d lost during the run: %v", c.id, err)
	if n := c.s.waiting; n > 0 {
		c.s.c.Missing += uint64(n)
		c.s.waiting = 0
	}
	c.nc.Close()
}

// drain reads and handles what the agent sent before the connection failed, for at most
// 100 ms. It returns the agent's AGENT-DISCONNECT if one was among it, nil otherwise.
func (c *conn) drain() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	for c.filled < len(c.in) {
		n, rerr := c.nc.Read(c.in[c.filled:])
		c.filled += n
		consumed, _, ferr := c.s.handleFrames(c.in[:c.filled], c.r.now(), false)
		copy(c.in, c.in[consumed:c.filled])
		c.filled -= consumed
		var ad *agentDisconnectError
		if errors.As(ferr, &ad) {
			return ferr
		}
		if ferr != nil || rerr != nil {
			return nil
		}
	}
	return nil
}

// close ends a drained connection the way HAProxy does on a soft stop: HAPROXY-DISCONNECT
// with status 0, then wait (bounded) for the agent's AGENT-DISCONNECT. It returns how the
// agent answered.
func (c *conn) close() string {
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(c.r.cfg.DialTimeout))
	if _, err := c.nc.Write(codec.AppendHAProxyDisconnect(c.out[:0], codec.StatusNormal, "normal")); err != nil {
		return "error"
	}
	var f codec.Frame
	for {
		n, err := codec.ReadFrameInto(&f, c.in[:c.filled], c.s.mfs)
		if err != nil {
			return "error"
		}
		if n > 0 {
			copy(c.in, c.in[n:c.filled])
			c.filled -= n
			switch f.Type {
			case codec.FrameAgentDisconnect:
				d, _ := codec.ParseDisconnect(f.Payload)
				return fmt.Sprintf("agent-disconnect status %d (%s)", d.Status, d.Status)
			case codec.FrameAck:
				c.s.c.Unexpected++ // every NOTIFY was ACKed or declared missing already
				c.s.fail("ACK for stream-id %d after the run drained", f.StreamID)
				continue
			}
			return "unexpected " + f.Type.String()
		}
		if c.filled == len(c.in) {
			return "error"
		}
		m, err := c.nc.Read(c.in[c.filled:])
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "eof"
			}
			if errors.Is(err, syscallECONNRESET) {
				return "reset"
			}
			return "error"
		}
		c.filled += m
	}
}

// usage is what is sampled at both ends of the measured window.
type usage struct {
	agentCPU    time.Duration
	agentOK     bool
	agentMalloc uint64
	mallocOK    bool
	scrapeCost  uint64 // allocations one scrape costs the agent (measured at the end only)
	selfMalloc  uint64
	selfCPU     time.Duration
	loadAvg     float64
	when        time.Time
}

// readUsage samples the agent and this process. With scrapeCost, the agent's metrics are
// scraped a second time right away: the difference is what one scrape itself allocates in
// the agent (a few hundred allocations, which would otherwise be charged to the ACKs).
func readUsage(cfg *Config, scrapeCost bool) usage {
	u := usage{when: time.Now()}
	if cfg.AgentPID != 0 {
		if d, err := processCPU(cfg.AgentPID); err == nil {
			u.agentCPU, u.agentOK = d, true
		}
	}
	if cfg.AgentMetrics != "" {
		if m, err := scrapeMallocs(cfg.AgentMetrics); err == nil {
			u.agentMalloc, u.mallocOK = m, true
			if m2, err := scrapeMallocs(cfg.AgentMetrics); err == nil && scrapeCost && m2 >= m {
				u.scrapeCost = m2 - m
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.selfMalloc = ms.Mallocs
	u.selfCPU = selfCPU()
	u.loadAvg = loadAverage()
	return u
}
