package server

import "github.com/panjf2000/gnet/v2"

// OnTraffic is the hot path: see the package documentation.
func (e *events) OnTraffic(gc gnet.Conn) gnet.Action {
	s := e.s
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	sess := c.sess
	if r := c.end.Load(); r > 0 { // a limit of the tick's (limits.go)
		return e.end(c, endReason(r))
	}
	if queued := gc.OutboundBuffered(); queued > s.cfg.MaxQueuedOutput {
		if s.draining.Load() {
			// Shutting down, and the peer does not read: an AGENT-DISCONNECT would only
			// queue behind the ACKs it ignores, and waiting for it would hold Shutdown.
			return gnet.Close
		}
		return e.backlog(c, queued)
	}
	c.paused.Store(false)

	in, _ := gc.Peek(-1) // all buffered input; aliases gnet's read buffer in the common case
	bp := outPool.Get().(*[]byte)
	consumed, out, closeAfter := sess.handle(in, (*bp)[:0])
	if s.draining.Load() && !closeAfter {
		out = sess.shutdown(out)
		consumed, closeAfter = len(in), true
	}
	if len(out) > 0 {
		_, _ = gc.Write(out) // copies what the socket does not take at once
	}
	*bp = out
	outPool.Put(bp)
	if consumed > 0 {
		_, _ = gc.Discard(consumed) // never Discard(0): gnet reads it as "everything"
	}
	s.track(c, consumed, len(in)-consumed)
	if !c.ready.Load() && sess.state == stateReady {
		c.ready.Store(true)
	}
	if sess.stats.notify > 0 && !c.notified.Load() {
		c.notified.Store(true)
	}
	s.metrics.flush(&sess.stats)
	if closeAfter {
		return gnet.Close
	}
	return gnet.None
}

// backlog handles a read event on a connection whose peer does not read: see Server.
func (e *events) backlog(c *conn, queued int) gnet.Action {
	s := e.s
	c.paused.Store(true)
	in := c.c.InboundBuffered()
	s.track(c, 0, in)
	if in > s.maxPausedI {
		s.metrics.backlogClosures.Inc()
		s.errLog.warn("closing a peer that does not read its ACKs",
			"peer", c.peer, "queued_output", queued, "unprocessed_input", in)
		return gnet.Close
	}
	return gnet.None
}
