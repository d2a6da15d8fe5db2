package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
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
)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if len(c.Listen) == 0 {
		return c, errors.New("server: no listen address")
	}
	for _, a := range c.Listen {
		if _, err := gnetAddr(a); err != nil {
			return c, err
		}
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = codec.DefaultMaxFrameSize
	}
	if c.MaxFrameSize < codec.MinMaxFrameSize {
		return c, fmt.Errorf("server: max frame size %d is below the protocol minimum %d", c.MaxFrameSize, codec.MinMaxFrameSize)
	}
	if c.MaxFrameSize > 1<<24 {
		return c, fmt.Errorf("server: max frame size %d is above 16 MiB", c.MaxFrameSize)
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
	if c.HelloTimeout == 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.HelloTimeout < 0 {
		return c, fmt.Errorf("server: negative hello timeout %s", c.HelloTimeout)
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

// gnetAddr turns a listen address of Config.Listen into gnet's "proto://addr" form.
func gnetAddr(a string) (string, error) {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if path == "" {
			return "", fmt.Errorf("server: listen address %q: empty socket path", a)
		}
		return "unix://" + path, nil
	}
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return "", fmt.Errorf("server: listen address %q: want IP:port, [IPv6]:port or unix:/path: %w", a, err)
	}
	if ap.Addr().Zone() != "" {
		return "", fmt.Errorf("server: listen address %q: zones are not supported", a)
	}
	if ap.Addr().Is4() {
		return "tcp4://" + ap.String(), nil
	}
	return "tcp6://" + ap.String(), nil
}
