package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// client sends requests to HAProxy from one loopback source address. All of 127.0.0.0/8
// is local on Linux, so any 127.x.y.z can be a client; ::1 is the only IPv6 one.
type client struct {
	src  netip.Addr
	http *http.Client
}

// newClient returns a client whose connections leave from src. keepAlive reuses
// connections like a browser; without it every request opens a connection, like many
// independent clients.
func newClient(src string, keepAlive bool) *client {
	addr := netip.MustParseAddr(src)
	dialer := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)), Timeout: 5 * time.Second}
	return &client{src: addr, http: &http.Client{
		Timeout: 10 * time.Second, // a hung request is a failure, not a stuck test
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 4,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// result is what HAProxy answered.
type result struct {
	status int
	list   string // X-Spoaguard-List: the deny list that matched
	err    string // X-Spoaguard-Error: why the check failed (SPOE set-on-error)
}

func (r result) String() string {
	s := fmt.Sprint(r.status)
	if r.list != "" {
		s += " list=" + r.list
	}
	if r.err != "" {
		s += " spoe-error=" + r.err
	}
	return s
}

// get sends GET url, with X-Forwarded-For set when xff is not empty.
func (c *client) get(url, xff string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return result{}, fmt.Errorf("GET %s from %s: %w", url, c.src, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return result{}, fmt.Errorf("GET %s from %s: reading body: %w", url, c.src, err)
	}
	return result{
		status: resp.StatusCode,
		list:   resp.Header.Get("X-Spoaguard-List"),
		err:    resp.Header.Get("X-Spoaguard-Error"),
	}, nil
}

// close drops idle keep-alive connections.
func (c *client) close() { c.http.CloseIdleConnections() }
