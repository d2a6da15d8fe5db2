package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/eventloop"
)

// Config configures a Server. The zero value of every field but Listen selects the default
// documented on it.
type Config struct {
	// Listen holds the addresses to accept HAProxy on: "host:port" for TCP (IPv4 or IPv6,
	// e.g. "127.0.0.1:12345", "[::1]:12345"; port 0 picks a free port, see Server.Addrs)
	// and "unix:/path" for a Unix socket.
	Listen []string
	// MaxFrameSize is the largest frame the agent accepts and announces; the handshake
	// answers min(HAProxy's value, MaxFrameSize). Default codec.DefaultMaxFrameSize (16380,
	// what HAProxy announces by default, so that it is echoed: docs/PROTOCOL.md#max-frame-size).
	MaxFrameSize uint32
	// DisablePipelining stops announcing the `pipelining` capability: HAProxy then sends
	// one NOTIFY at a time per connection and opens more connections.
	DisablePipelining bool
	// DisableFragmentation stops announcing `fragmentation`. While it is announced,
	// HAProxy 2.6 fragments NOTIFYs larger than the frame size, and they are reassembled.
	DisableFragmentation bool
	// MaxReassembly caps the payload of one reassembled (fragmented) NOTIFY; beyond it the
	// connection is ended with status 3. Default 64 KiB.
	MaxReassembly int
	// MaxQueuedOutput bounds the bytes queued for a peer that does not read its ACKs. Past
	// it, NOTIFYs are no longer processed until the queue drains; a peer that keeps sending
	// meanwhile is closed (see Server). Default 1 MiB.
	MaxQueuedOutput int
	// Loops is the number of event loops. Default (0): GOMAXPROCS as the process started.
	// Start raises GOMAXPROCS to Loops+1 if it is lower, so that a P stays idle while every
	// loop waits in epoll_wait (see package internal/eventloop).
	Loops int
	// MaxConns is the most connections open at once; one more is refused on accept with
	// AGENT-DISCONNECT status 13 (resource allocation error) and closed. Default 10000.
	MaxConns int
	// HelloTimeout closes a connection that has not completed its HELLO in time. Default 5s.
	HelloTimeout time.Duration
	// IdleTimeout ends (AGENT-DISCONNECT status 2) a handshaken connection that has
	// completed no frame for this long. Default 10m: above HAProxy's own idle timeouts
	// (2.6's SPOE `timeout idle`, 3.x's backend `timeout server`), so that HAProxy's pooled
	// connections are not churned.
	IdleTimeout time.Duration
	// FrameTimeout ends a connection whose frame, or fragmented NOTIFY, has started but not
	// finished for this long: HAProxy gave up on that NOTIFY after its `timeout processing`.
	// Default 5s.
	FrameTimeout time.Duration
	// WriteTimeout closes a connection whose queued output has not drained for this long:
	// a peer that does not read. Default 30s.
	WriteTimeout time.Duration
	// MaxBuffered is the budget, over all connections, of buffered input plus queued
	// output plus reassembly; past it, the connections holding the most are closed until
	// the total is back under it. Default 256 MiB.
	MaxBuffered int64
	// AllowPeers, when not empty, accepts TCP connections only from these networks (Unix
	// socket peers are governed by the socket's mode and group).
	AllowPeers []netip.Prefix
	// SocketMode is the permission of the Unix sockets of Listen. Default 0660.
	SocketMode os.FileMode
	// SocketGroup, when set, is the group (name or numeric id) the Unix sockets are given,
	// e.g. HAProxy's.
	SocketGroup string
	// Logger receives protocol errors (rate-limited) and lifecycle messages. Default
	// slog.Default().
	Logger *slog.Logger
	// Metrics is the set the server registers its counters in. Default: a private set.
	Metrics *metrics.Set
}

// Defaults of the Config fields.
const (
	DefaultMaxReassembly   = 64 << 10
	DefaultMaxQueuedOutput = 1 << 20
	DefaultMaxConns        = 10000
	DefaultHelloTimeout    = 5 * time.Second
	DefaultIdleTimeout     = 10 * time.Minute
	DefaultFrameTimeout    = 5 * time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultMaxBuffered     = 256 << 20
	DefaultSocketMode      = 0o660

	// MaxMaxFrameSize bounds MaxFrameSize: HAProxy's frames are at most its tune.bufsize
	// (16 KiB by default), and every connection may buffer a few frames.
	MaxMaxFrameSize = 1 << 20
)

// Validate reports what New would refuse in c, without binding anything.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if len(c.Listen) == 0 {
		return c, errors.New("server: no listen address")
	}
	for _, a := range c.Listen {
		if err := validateListen(a); err != nil {
			return c, err
		}
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = codec.DefaultMaxFrameSize
	}
	if c.MaxFrameSize < codec.MinMaxFrameSize {
		return c, fmt.Errorf("server: max frame size %d is below the protocol minimum %d", c.MaxFrameSize, codec.MinMaxFrameSize)
	}
	if c.MaxFrameSize > MaxMaxFrameSize {
		return c, fmt.Errorf("server: max frame size %d is above %d", c.MaxFrameSize, MaxMaxFrameSize)
	}
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.MaxReassembly, DefaultMaxReassembly, "max reassembly"},
		{&c.MaxQueuedOutput, DefaultMaxQueuedOutput, "max queued output"},
		{&c.Loops, eventloop.DefaultLoops(), "number of event loops"},
		{&c.MaxConns, DefaultMaxConns, "max connections"},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("server: negative %s %d", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.HelloTimeout, DefaultHelloTimeout, "hello timeout"},
		{&c.IdleTimeout, DefaultIdleTimeout, "idle timeout"},
		{&c.FrameTimeout, DefaultFrameTimeout, "frame timeout"},
		{&c.WriteTimeout, DefaultWriteTimeout, "write timeout"},
	} {
		if *d.v < 0 {
			return c, fmt.Errorf("server: negative %s %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxBuffered < 0 {
		return c, fmt.Errorf("server: negative buffer budget %d", c.MaxBuffered)
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.SocketMode == 0 {
		c.SocketMode = DefaultSocketMode
	}
	if c.SocketMode&^os.ModePerm != 0 {
		return c, fmt.Errorf("server: socket mode %v: permission bits only", c.SocketMode)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	return c, nil
}

// capabilities is the capability list announced in AGENT-HELLO. `async` is never announced:
// with it, a request whose connection drops waits the whole processing timeout
// (docs/PROTOCOL.md#capabilities).
func (c *Config) capabilities() string {
	var caps []string
	if !c.DisablePipelining {
		caps = append(caps, "pipelining")
	}
	if !c.DisableFragmentation {
		caps = append(caps, "fragmentation")
	}
	return strings.Join(caps, ",")
}

// unixPath returns the path of a "unix:PATH" listen address.
func unixPath(a string) (string, bool) { return strings.CutPrefix(a, "unix:") }

// validateListen checks a listen address of Config.Listen.
func validateListen(a string) error {
	if path, ok := unixPath(a); ok {
		if path == "" {
			return fmt.Errorf("server: listen address %q: empty socket path", a)
		}
		return nil
	}
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return fmt.Errorf("server: listen address %q: want IP:port, [IPv6]:port or unix:/path: %w", a, err)
	}
	if ap.Addr().Zone() != "" {
		return fmt.Errorf("server: listen address %q: zones are not supported", a)
	}
	return nil
}
