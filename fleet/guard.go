package fleet

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// Bounds of one reply from Redis, checked before go-redis reads it: go-redis allocates what a
// header declares (a bulk string of 2^31-1 bytes, an array of 2^31-1 elements) before the
// bytes arrive, so a server that is not Redis, or is broken, could make it allocate without
// bound with a few bytes. The largest replies this agent reads are an HSCAN page (40,000
// strings), an XREAD of 1,000 batches and an HMGET of 1,000 records; a batch of 100,000
// changes with 256-byte comments is about 40 MB.
const (
	maxReplyBulk     = 64 << 20 // bytes of one bulk string
	maxReplyElements = 4 << 20  // elements of all the aggregates of one reply
	maxReplyDepth    = 16       // nesting of aggregates (XREAD's reply has 5)
	maxReplyLine     = 64 << 10 // bytes of a header or simple line
)

// guardedDialer wraps dial so that each connection refuses a reply past the bounds above,
// or one that is not RESP, before go-redis parses it: the read fails, go-redis drops the
// connection, and the command fails with an error that says what was wrong. refused counts
// the replies refused.
func guardedDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), refused *metrics.Counter) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &guardedConn{Conn: c, refused: refused}, nil
	}
}

// guardedConn checks the RESP stream it reads as it passes to go-redis's buffer. A chunk
// that holds a refused header is not passed on at all: go-redis's buffer would otherwise
// hand it the complete header line before the error. Once refused, every read fails.
type guardedConn struct {
	net.Conn
	refused *metrics.Counter

	err  error  // go-redis reads a connection from one goroutine at a time
	line []byte // the header line read so far
	skip int64  // bytes of a bulk string and its CRLF still to pass
	// left holds, for each open aggregate, the elements it still expects.
	left  []int64
	elems int64 // elements declared in the current top-level reply
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if gerr := c.check(p[:n]); gerr != nil {
			c.err = fmt.Errorf("redis: refused a reply from %s: %v", c.RemoteAddr(), gerr)
			if c.refused != nil {
				c.refused.Inc()
			}
			return 0, c.err
		}
	}
	return n, err
}

// check advances the state over b, and says what is wrong with the stream if anything is.
func (c *guardedConn) check(b []byte) error {
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(int64(len(b)), c.skip)
			c.skip -= k
			b = b[k:]
			if c.skip == 0 {
				c.done()
			}
			continue
		}
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if len(c.line)+i > maxReplyLine {
			return fmt.Errorf("a line of more than %d bytes without its end: %q…", maxReplyLine, head(c.line, b))
		}
		if i == len(b) {
			c.line = append(c.line, b...)
			return nil
		}
		c.line = append(c.line, b[:i+1]...)
		b = b[i+1:]
		err := c.header(c.line)
		c.line = c.line[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

// head is the start of a line that is too long, for the error.
func head(line, b []byte) []byte {
	return append(append([]byte(nil), line[:min(len(line), 32)]...), b[:min(len(b), 32-min(len(line), 32))]...)
}

// header reads one complete line: a simple reply, or the header of a bulk string or an
// aggregate.
func (c *guardedConn) header(line []byte) error {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("not a RESP line: %q", line[:min(len(line), 64)])
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		c.done()
		return nil
	case '$', '!', '=':
		n, err := c.length(line, body)
		if err != nil {
			return err
		}
		if n > maxReplyBulk {
			return fmt.Errorf("a bulk string of %d bytes, over the %d MiB this agent reads", n, maxReplyBulk>>20)
		}
		if n < 0 {
			c.done()
			return nil
		}
		c.skip = n + 2
		return nil
	case '*', '~', '>', '%', '|':
		n, err := c.length(line, body)
		if err != nil {
			return err
		}
		switch line[0] {
		case '%':
			n *= 2
		case '|':
			n = 2*n + 1 // the attributes, then the reply they describe
		}
		if n <= 0 {
			c.done()
			return nil
		}
		if c.elems += n; c.elems > maxReplyElements {
			return fmt.Errorf("a reply of more than %d elements", maxReplyElements)
		}
		if len(c.left) >= maxReplyDepth {
			return fmt.Errorf("aggregates nested more than %d deep", maxReplyDepth)
		}
		c.left = append(c.left, n)
		return nil
	}
	return fmt.Errorf("not a RESP reply (it starts %q): is this Redis?", line[:min(len(line), 64)])
}

// length is the length a header declares: a number, -1 for a null.
func (c *guardedConn) length(line, body []byte) (int64, error) {
	n, err := strconv.ParseInt(string(body), 10, 64)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("a bad length in %q", line[:min(len(line), 64)])
	}
	return n, nil
}

// done ends one element: it completes the aggregates it ends, and the top-level reply.
func (c *guardedConn) done() {
	for len(c.left) > 0 {
		top := len(c.left) - 1
		if c.left[top]--; c.left[top] > 0 {
			return
		}
		c.left = c.left[:top]
	}
	c.elems = 0
}
