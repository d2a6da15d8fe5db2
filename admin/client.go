package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ReadTokenFile reads the API's bearer token from a -api-token-file: the file's first line,
// which must not be empty. The agent serving the API and the tools calling it read it alike.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-api-token-file: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", fmt.Errorf("-api-token-file %s: empty", path)
	}
	return tok, nil
}

// Client calls a running agent's API.
type Client struct {
	addr  string // as given
	base  string // scheme and host
	token string
	http  *http.Client
}

// CheckAddr checks that addr is an API address a client can call: "host:port" or
// "unix:/path" (not a URL).
func CheckAddr(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return fmt.Errorf("%q: unix: needs the socket's path", addr)
		}
		return nil
	}
	if host, port, err := net.SplitHostPort(addr); err != nil || strings.Contains(host, "/") || port == "" {
		return fmt.Errorf("%q: want IP:port or unix:/path", addr)
	}
	return nil
}

// NewClient returns a client of the API at addr ("IP:port" or "unix:/path"), sending token
// when it is not empty.
func NewClient(addr, token string) *Client {
	c := &Client{addr: addr, base: "http://" + addr, token: token, http: &http.Client{Timeout: 2 * time.Minute}}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c.base = "http://unix"
		c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
	}
	return c
}

// Ban adds or updates entries.
func (c *Client) Ban(bans ...Ban) (Changed, error) { return c.BanWith(false, bans...) }

// BanWith is Ban, accepting prefixes wider than the minimum when allowShort is set.
func (c *Client) BanWith(allowShort bool, bans ...Ban) (Changed, error) {
	var out Changed
	body, err := json.Marshal(map[string][]Ban{"bans": bans})
	if err != nil {
		return out, err
	}
	var q url.Values
	if allowShort {
		q = url.Values{"allow-short": {"true"}}
	}
	return out, c.do(http.MethodPost, "/v1/bans", q, body, &out)
}

// Post sends body, a POST /v1/bans body already encoded: for callers that send many, such as
// a benchmark, and do not want to encode them as they go.
func (c *Client) Post(body []byte) (Changed, error) {
	var out Changed
	return out, c.do(http.MethodPost, "/v1/bans", nil, body, &out)
}

// Unban removes the entry for exactly addr.
func (c *Client) Unban(addr string) (Removed, error) {
	var out Removed
	return out, c.do(http.MethodDelete, "/v1/bans", url.Values{"addr": {addr}}, nil, &out)
}

// Bans returns every live entry, following the pages.
func (c *Client) Bans() ([]Listed, error) {
	var all []Listed
	err := c.BanPages(func(page []Listed) error {
		all = append(all, page...)
		return nil
	})
	return all, err
}

// BanPages calls f with each page of the live entries, in address order, as it arrives: a
// caller that writes them out holds one page, not a million entries.
func (c *Client) BanPages(f func([]Listed) error) error {
	after := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(MaxPageSize)}}
		if after != "" {
			q.Set("after", after)
		}
		var page Listing
		if err := c.do(http.MethodGet, "/v1/bans", q, nil, &page); err != nil {
			return err
		}
		if err := f(page.Bans); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}

// Check explains the decision on ip.
func (c *Client) Check(ip string) (Check, error) {
	var out Check
	return out, c.do(http.MethodGet, "/v1/check", url.Values{"ip": {ip}}, nil, &out)
}

func (c *Client) do(method, path string, q url.Values, body []byte, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the URL, whose host is "unix" for a socket
		}
		return fmt.Errorf("%s %s: admin API %s: %v", method, path, c.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{Method: method, Path: path, Status: resp.StatusCode}
		var e errorBody
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			se.Message = e.Error
			if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
				se.Message += " (no token was sent: give -api-token-file, SPOAGUARD_API_TOKEN_FILE or SPOAGUARD_API_TOKEN)"
			}
		}
		return se
	}
	return json.Unmarshal(b, out)
}

// StatusError is an answer of the API other than 200: its status and its error's text.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string // "" when the answer held none
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}
