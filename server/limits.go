package server

import (
	"math"
	"slices"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/spoaguard/spoaguard/codec"
)

// The limits that keep peers from holding the agent's resources (README, Security). The
// event loops record, per read event and without a clock or a lock, what the tick needs:
// when the connection last completed a frame, since when an unfinished frame or
// reassembly has waited, since when output has been queued without draining, and how many
// bytes it holds. The tick, every tickInterval, applies the limits: a connection past one
// either gets an AGENT-DISCONNECT from its own loop (endReason, when HAProxy should learn
// why) or is closed at once (a peer that does not read, or holds too much, would not read
// a DISCONNECT either).

const tickInterval = 100 * time.Millisecond

// endReason is why the tick asks a connection's loop to end it.
type endReason int32

const (
	endNone endReason = iota
	endEvicted
	endIdle
	endFrameTimeout
)

var endFrames = [...]struct {
	status codec.Status
	msg    string
	limit  string // the label of spoaguard_connections_closed_by_limit_total
}{
	endEvicted:      {codec.StatusResourceAllocation, "connection table full: the longest idle connection is closed", "table_full"},
	endIdle:         {codec.StatusTimeout, "idle timeout", "idle_timeout"},
	endFrameTimeout: {codec.StatusTimeout, "frame not finished in time", "frame_timeout"},
}

// track records what the tick's limits need after a read event that consumed consumed bytes
// and left unconsumed bytes of input buffered. Atomics on the connection's own cache line,
// and one on the shared total only when what the connection holds changed.
func (s *Server) track(c *conn, consumed, unconsumed int) {
	now := s.clock.Load()
	if consumed > 0 {
		c.lastInput.Store(now)
	}
	queued := c.c.OutboundBuffered()
	held := int64(unconsumed + queued)
	if f := c.sess.frag; f != nil {
		held += int64(len(*f))
	}
	if old := c.held.Load(); held != old {
		c.held.Store(held)
		s.held.Add(held - old)
	}
	switch {
	case unconsumed == 0:
		if c.partialSince.Load() != 0 {
			c.partialSince.Store(0)
		}
	case consumed > 0 || c.partialSince.Load() == 0: // the frame left over started in this read
		c.partialSince.Store(now)
	}
	switch {
	case c.sess.frag == nil:
		if c.fragSince.Load() != 0 {
			c.fragSince.Store(0)
		}
	case c.fragSince.Load() == 0:
		c.fragSince.Store(now)
	}
	switch {
	case queued == 0:
		if c.queuedSince.Load() != 0 {
			c.queuedSince.Store(0)
		}
	case c.queuedSince.Load() == 0:
		c.queuedSince.Store(now)
	}
}

// end ends a connection on its loop for a reason of the tick's, with an AGENT-DISCONNECT.
func (e *events) end(c *conn, r endReason) gnet.Action {
	bp := outPool.Get().(*[]byte)
	out := (*bp)[:0]
	if c.sess.state == stateReady {
		f := endFrames[r]
		out = c.sess.disconnect(out, f.status, f.msg)
		_, _ = c.c.Write(out)
	}
	*bp = out
	outPool.Put(bp)
	return gnet.Close
}

// endWith asks the connection's loop to end it for r, once.
func (s *Server) endWith(c *conn, r endReason) {
	if c.end.CompareAndSwap(0, int32(r)) {
		s.metrics.closedByLimit(endFrames[r].limit).Inc()
		_ = c.c.Wake(nil)
	}
}

// closeFor closes a connection at once (marked -1: no endReason), for a limit whose peer would not read a DISCONNECT.
func (s *Server) closeFor(c *conn, limit string) {
	if c.end.CompareAndSwap(0, -1) {
		s.metrics.closedByLimit(limit).Inc()
		_ = c.c.Close()
	}
}

// evictMinIdle protects a connection that has sent NOTIFYs from eviction until it has been
// idle this long: in a flood of newcomers, every idle connection may already be ending.
const evictMinIdle = time.Second

// evictIdlest picks the connection that has completed no frame for the longest (one
// still in its HELLO counts from its opening) and asks its loop to end it, so that a full
// table takes a newcomer: HAProxy's connections carry traffic, idle ones held by someone
// else are the ones that go. The clock is coarse, so among connections idle as long it
// picks one that never sent a NOTIFY, then the oldest. A connection that sent NOTIFYs
// within evictMinIdle is never picked. It reports false when no connection can go.
func (s *Server) evictIdlest() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var victim *conn
	oldest := int64(math.MaxInt64)
	busySince := s.clock.Load() - int64(evictMinIdle)
	for c := range s.conns {
		if c.end.Load() != 0 {
			continue
		}
		t := c.lastInput.Load()
		if t > busySince && c.notified.Load() {
			continue // carrying NOTIFYs now: a newcomer is refused rather than this evicted
		}
		if victim == nil || t < oldest || t == oldest && evictFirst(c, victim) {
			victim, oldest = c, t
		}
	}
	if victim == nil {
		return false
	}
	s.errLog.warn("connection table full: closing the longest idle connection",
		"peer", victim.peer, "idle", time.Duration(s.clock.Load()-oldest).Round(time.Millisecond), "max_conns", s.cfg.MaxConns)
	s.endWith(victim, endEvicted)
	return true
}

// evictFirst breaks a tie of idleness between a and b: one that never sent a NOTIFY goes
// before one that did, then the older before the newer (a HAProxy connection just opened
// sends its first NOTIFY within moments; a flood's oldest have been silent longest).
func evictFirst(a, b *conn) bool {
	if an, bn := a.notified.Load(), b.notified.Load(); an != bn {
		return !an
	}
	return a.seq < b.seq
}

// OnTick runs on its own goroutine: it advances the coarse clock and applies the limits
// (see the top of this file); it also wakes paused connections so that they resume once
// their output has drained, and connections with queued output so that their loop sees
// whether it drained.
func (e *events) OnTick() (time.Duration, gnet.Action) {
	s := e.s
	// gnet starts the ticker once every loop is registered, which OnBoot precedes.
	s.bootOnce.Do(func() { close(s.booted) })
	now := time.Now()
	n := now.UnixNano()
	s.clock.Store(n)
	s.metrics.buffered.Set(float64(s.held.Load()))
	over := s.held.Load() - s.cfg.MaxBuffered
	var holders []*conn
	since := func(t int64) time.Duration {
		if t == 0 {
			return 0
		}
		return time.Duration(n - t)
	}
	s.mu.Lock()
	for c := range s.conns {
		if c.end.Load() != 0 {
			continue
		}
		queued := since(c.queuedSince.Load())
		if c.paused.Load() || queued > 0 {
			_ = c.c.Wake(nil)
		}
		switch {
		case !c.ready.Load() && now.After(c.deadline):
			_ = c.c.Close()
		case queued > s.cfg.WriteTimeout:
			s.errLog.warn("closing a peer that does not read: output not drained within the write timeout",
				"peer", c.peer, "write_timeout", s.cfg.WriteTimeout)
			s.closeFor(c, "write_timeout")
		case since(c.partialSince.Load()) > s.cfg.FrameTimeout || since(c.fragSince.Load()) > s.cfg.FrameTimeout:
			s.errLog.warn("closing a connection whose frame is not finished within the frame timeout",
				"peer", c.peer, "frame_timeout", s.cfg.FrameTimeout)
			s.endWith(c, endFrameTimeout)
		case c.ready.Load() && since(c.lastInput.Load()) > s.cfg.IdleTimeout:
			s.endWith(c, endIdle)
		default:
			if over > 0 && c.held.Load() > 0 {
				holders = append(holders, c)
			}
		}
	}
	s.mu.Unlock()
	if over > 0 {
		s.enforceBudget(holders, over)
	}
	return tickInterval, gnet.None
}

// enforceBudget closes the connections holding the most until over bytes are freed.
func (s *Server) enforceBudget(holders []*conn, over int64) {
	slices.SortFunc(holders, func(a, b *conn) int { return int(b.held.Load() - a.held.Load()) })
	for _, c := range holders {
		if over <= 0 {
			return
		}
		h := c.held.Load()
		s.errLog.warn("closing the connection holding the most buffered bytes: over the buffer budget",
			"peer", c.peer, "held", h, "max_buffered", s.cfg.MaxBuffered)
		s.closeFor(c, "buffer_budget")
		over -= h
	}
}
