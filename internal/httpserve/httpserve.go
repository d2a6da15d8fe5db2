// Package httpserve serves the agent's own HTTP endpoints (metrics and health, the admin
// API) with the limits a listener needs when whoever reaches it may hold connections open:
// timeouts for every direction a client can stall, a cap on header size, and a cap on the
// connections open at once, so that a flood of keep-alive connections costs a bounded
// number of goroutines and descriptors and cannot starve the SPOP listener of either.
package httpserve

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits are an endpoint's limits. The zero value of a field selects its default.
type Limits struct {
	// MaxConns is the most connections open at once; more wait in the kernel's accept
	// queue until one closes. Default 64.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers. Default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Default 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this long. Default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers. Default 16 KiB.
	MaxHeaderBytes int
}

// Defaults of the Limits fields.
const (
	DefaultMaxConns          = 64
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	return l
}

// Endpoint is a bound HTTP listener and the server that will serve it.
type Endpoint struct {
	*http.Server
	ln net.Listener
}

// Listen binds addr (TCP) for h with limits l. Serve it with Serve, stop it with Shutdown.
func Listen(addr string, h http.Handler, l Limits) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ln, h, l), nil
}

// New is Listen for a listener bound by the caller (a unix socket, say).
func New(ln net.Listener, h http.Handler, l Limits) *Endpoint {
	l = l.withDefaults()
	return &Endpoint{
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: l.ReadHeaderTimeout,
			ReadTimeout:       l.ReadTimeout,
			WriteTimeout:      l.WriteTimeout,
			IdleTimeout:       l.IdleTimeout,
			MaxHeaderBytes:    l.MaxHeaderBytes,
		},
		ln: netutil.LimitListener(ln, l.MaxConns),
	}
}

// Addr is the bound address.
func (e *Endpoint) Addr() net.Addr { return e.ln.Addr() }

// Serve serves until Shutdown or Close; it returns http.ErrServerClosed then.
func (e *Endpoint) Serve() error { return e.Server.Serve(e.ln) }

// Close closes the listener of an endpoint that was never served.
func (e *Endpoint) Close() error { return e.ln.Close() }
