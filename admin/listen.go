package admin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Limits of the API's listener: every direction a client can stall in has a timeout, and the
// connections open at once are capped, as on the metrics listener. The read timeout leaves
// time for a 100,000-entry body on a slow link.
const (
	MaxConns          = 32
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
	// SocketMode is the mode of the unix socket: owner and group may connect.
	SocketMode = 0o660
)

// Listen binds the API's address: "IP:port" for TCP, "unix:/path" for a unix socket (a
// stale socket file left by a stopped agent is replaced; one an agent still answers on is an
// error). unix reports which it is.
func Listen(addr string) (ln net.Listener, unix bool, err error) {
	path, unix := strings.CutPrefix(addr, "unix:")
	if !unix {
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, false, err
		}
		return netutil.LimitListener(ln, MaxConns), false, nil
	}
	if path == "" {
		return nil, true, errors.New("unix: needs a path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, true, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, true, fmt.Errorf("%s: another process answers on this socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, true, err
		}
	}
	ln, err = net.Listen("unix", path)
	if err != nil {
		return nil, true, err
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, true, err
	}
	return netutil.LimitListener(ln, MaxConns), true, nil
}

// NewServer returns the HTTP server for the API's handler, with the listener's limits.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
