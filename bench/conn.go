package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// syscallECONNRESET is the error of a read or write on a connection the agent reset.
var syscallECONNRESET = syscall.ECONNRESET

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
	pace       pacer
}

// result is what the connection hands the report once its loop has returned.
func (c *conn) result() connResult {
	return connResult{
		hist: &c.hist, counters: c.s.c, timeline: c.timeline,
		disconnect: c.disconnect, early: c.early, firstErr: c.s.firstErr,
	}
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
	c.pace = newPacer(cfg.Rate, cfg.Conns, c.id, cfg.InFlight, now)
	c.out = s.appendNotifies(c.out[:0], c.pace.due(cfg.InFlight, now), now)
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
		if s.waiting == 0 && phase != phaseStop && c.pace.paced() {
			// Paced and nothing in flight: no ACK will wake a read, so never read now; sleep
			// until the next NOTIFY is due, if it is not yet (time.Sleep does not allocate).
			if d := c.pace.nextDue - r.now(); d > 0 {
				time.Sleep(d)
			}
			now = r.now()
			c.out = s.appendNotifies(c.out[:0], c.pace.due(cfg.InFlight, now), now)
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
			c.out = s.appendNotifies(c.out[:0], c.pace.due(cfg.InFlight-s.waiting, now), now)
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
