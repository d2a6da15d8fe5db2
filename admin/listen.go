package admin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spoaguard/spoaguard/internal/httpserve"
)

// Limits are the API listener's: those of the agent's other HTTP endpoints, with time to
// read a 100,000-entry body from a slow client and to answer a full listing.
var Limits = httpserve.Limits{ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second}

// SocketMode is the mode of the API's unix socket: its owner and group may connect.
const SocketMode = 0o660

// Listen binds the API's address for h: "IP:port" for TCP, "unix:/path" for a unix socket (a
// stale socket file left by a stopped agent is replaced; one an agent still answers on is an
// error). unix reports which it is.
func Listen(addr string, h http.Handler) (ep *httpserve.Endpoint, unix bool, err error) {
	path, unix := strings.CutPrefix(addr, "unix:")
	if !unix {
		ep, err = httpserve.Listen(addr, h, Limits)
		return ep, false, err
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
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, true, err
	}
	if err := os.Chmod(path, SocketMode); err != nil {
		ln.Close()
		return nil, true, err
	}
	return httpserve.New(ln, h, Limits), true, nil
}
