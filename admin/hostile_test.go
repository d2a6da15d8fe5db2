package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/live"
)

// safety bounds a test that would otherwise hang; it is never what a test asserts on.
const safety = 20 * time.Second

// Hostile requests get the right status and a clear JSON error, and change nothing.
func TestHostileRequests(t *testing.T) {
	srv, ls, _ := newAPI(t, 1<<20)
	if status, body := call(t, srv, "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.1"}, {"addr": "203.0.113.2"}, {"addr": "203.0.113.3"}]}`); status != 200 {
		t.Fatal(status, body)
	}
	many := make([]string, 2000)
	for i := range many {
		many[i] = fmt.Sprintf("p%d=", i)
	}
	tests := []struct {
		name         string
		method, path string
		body         string
		status       int
		want         string // in the body
	}{
		{"an address given twice", "DELETE", "/v1/bans?addr=203.0.113.1&addr=203.0.113.2", "", 400, "addr given 2 times"},
		{"a parameter the route does not take", "DELETE", "/v1/bans?addr=203.0.113.1&list=api", "", 400, `\"list\": this route takes addr`},
		{"a malformed query", "DELETE", "/v1/bans?addr=%zz", "", 400, "invalid URL escape"},
		{"a limit given twice", "GET", "/v1/bans?limit=1&limit=100000", "", 400, "limit given 2 times"},
		{"an ip given twice", "GET", "/v1/check?ip=192.0.2.1&ip=8.8.8.8", "", 400, "ip given 2 times"},
		{"thousands of parameters", "GET", "/v1/check?ip=192.0.2.1&" + strings.Join(many, "&"), "", 400, "this route takes ip"},
		{"allow-short given twice", "POST", "/v1/bans?allow-short=true&allow-short=false", `{"addr": "10.0.0.0/7"}`, 400, "given 2 times"},
		{"a NUL in a comment", "POST", "/v1/bans", `{"bans": [{"addr": "203.0.113.9"}, {"addr": "203.0.113.10", "comment": "a\u0000b"}]}`, 400, "bans[1]: comment: control character U+0000 at byte 1"},
		{"an escape sequence in a comment", "POST", "/v1/bans", `{"addr": "203.0.113.9", "comment": "\u001b[2J"}`, 400, "U+001B"},
		{"a newline in a comment", "POST", "/v1/bans", `{"addr": "203.0.113.9", "comment": "ssh\n203.0.113.66 allow"}`, 400, "U+000A"},
		{"a C1 control in a comment", "POST", "/v1/bans", `{"addr": "203.0.113.9", "comment": "\u009b2J"}`, 400, "U+009B"},
		{"invalid UTF-8 in a comment", "POST", "/v1/bans", "{\"addr\": \"203.0.113.9\", \"comment\": \"a\xffb\"}", 400, "not UTF-8 (at byte 37)"},
		{"invalid UTF-8 in a list", "POST", "/v1/bans", "{\"addr\": \"203.0.113.9\", \"list\": \"\xc3\"}", 400, "not UTF-8"},
		{"a NUL in a list", "POST", "/v1/bans", `{"addr": "203.0.113.9", "list": "a\u0000"}`, 400, "list"},
		{"a ttl of 10^1000", "POST", "/v1/bans", `{"addr": "203.0.113.9", "ttl": 1` + strings.Repeat("0", 1000) + `}`, 400, "ttl"},
		{"a ttl of 10^1000 as an exponent", "POST", "/v1/bans", `{"addr": "203.0.113.9", "ttl": 1e1000}`, 400, "ttl 1e1000"},
		{"deeply nested JSON", "POST", "/v1/bans", `{"bans": ` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, 400, "exceeded max depth"},
		{"deeply nested objects", "POST", "/v1/bans", strings.Repeat(`{"bans": [`, 30_000) + strings.Repeat("]}", 30_000), 400, "exceeded max depth"},
		{"a token of which the right one is a prefix", "GET", "/v1/bans", "", 200, ""},
		{"an after not in the set", "GET", "/v1/bans?after=203.0.113.1-203.0.113.1&limit=1", "", 200, `"addr":"203.0.113.2"`},
		{"an after past every entry", "GET", "/v1/bans?after=ffff::", "", 200, `{"bans":[]}`},
		{"an after that is no address", "GET", "/v1/bans?after=203.0.113.1/99", "", 400, "after"},
	}
	for _, tt := range tests {
		before := ls.Table().Len()
		status, body := call(t, srv, tt.method, tt.path, tt.body)
		if status != tt.status || !strings.Contains(body, tt.want) || !strings.HasPrefix(body, "{") {
			t.Errorf("%s: %s %.80s: %d %.300s, want %d with %q", tt.name, tt.method, tt.path, status, body, tt.status, tt.want)
		}
		if ls.Table().Len() != before && tt.method != "GET" {
			t.Errorf("%s: a refused request changed the live set (%d entries, %d before)", tt.name, ls.Table().Len(), before)
		}
	}
	if status, _ := callAs(t, srv, "Bearer "+token+"x", "GET", "/v1/bans", ""); status != 401 {
		t.Errorf("a token with the right one as its prefix: %d, want 401", status)
	}
}

// A wrong method is 405 with the methods the route serves in Allow.
func TestWrongMethodsSayWhatIsAllowed(t *testing.T) {
	srv, _, _ := newAPI(t, 0)
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/bans", "GET, POST, DELETE"},
		{"PATCH", "/v1/bans", "GET, POST, DELETE"},
		{"OPTIONS", "/v1/check", "GET"},
		{"DELETE", "/v1/check", "GET"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow || !strings.Contains(string(b), "use "+tc.allow) {
			t.Errorf("%s %s: %d, Allow %q, %s; want 405 and Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), b, tc.allow)
		}
	}
}

// An error quoting a huge value quotes its start only.
func TestErrorsQuoteAHugeValueInPart(t *testing.T) {
	srv, _, _ := newAPI(t, 0)
	for _, body := range []string{
		`{"addr": "` + strings.Repeat("1", 1<<20) + `"}`,
		`{"addr": "203.0.113.9", "ttl": "` + strings.Repeat("9", 1<<20) + `h"}`,
	} {
		status, got := call(t, srv, "POST", "/v1/bans", body)
		if status != 400 || len(got) > 1024 || !strings.Contains(got, "(cut)") {
			t.Errorf("%d, an error of %d bytes: %.200s", status, len(got), got)
		}
	}
}

// rawRequest writes head (and body, if any) on a new connection to addr and returns the
// status line of the answer, or the error that ended the wait.
func rawRequest(t *testing.T, addr, head string, body func(net.Conn)) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c, head); err != nil {
		return "", err
	}
	if body != nil {
		go body(c)
	}
	return bufio.NewReader(c).ReadString('\n')
}

// A body past the cap is 413: at once when its Content-Length says so, and after the cap's
// worth when it is chunked, however much more the client would send.
func TestBodiesPastTheCapAreNotRead(t *testing.T) {
	srv, _, _ := newAPI(t, 4096)
	addr := strings.TrimPrefix(srv.URL, "http://")
	auth := "Authorization: Bearer " + token + "\r\n"
	line, err := rawRequest(t, addr, "POST /v1/bans HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 10000000000\r\n\r\n", nil)
	if err != nil || !strings.Contains(line, "413") {
		t.Errorf("a Content-Length past the cap, no body sent: %q %v, want 413 at once", line, err)
	}
	sent := make(chan int, 1)
	line, err = rawRequest(t, addr, "POST /v1/bans HTTP/1.1\r\nHost: x\r\n"+auth+"Transfer-Encoding: chunked\r\n\r\n", func(c net.Conn) {
		chunk := []byte(fmt.Sprintf("1000\r\n%s\r\n", strings.Repeat(" ", 0x1000)))
		n := 0
		for ; n < 256<<20; n += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				break
			}
		}
		sent <- n
	})
	if err != nil || !strings.Contains(line, "413") {
		t.Errorf("an endless chunked body: %q %v, want 413", line, err)
	}
	if n := <-sent; n >= 256<<20 {
		t.Errorf("the server read all of %d bytes of an endless body", n)
	}
}

// On the API's listener, a client that stalls is cut off: headers that never end, and a body
// that does not arrive within the read timeout (408).
func TestStalledClientsAreCutOff(t *testing.T) {
	saved := Limits
	Limits.ReadHeaderTimeout, Limits.ReadTimeout = 100*time.Millisecond, 200*time.Millisecond
	defer func() { Limits = saved }()
	h, _ := newHandler(t, live.Options{}, nil, Config{Token: token})
	ep, _, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	go ep.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		_ = ep.Shutdown(ctx)
	}()
	addr := ep.Addr().String()
	if line, err := rawRequest(t, addr, "GET /v1/bans HTTP/1.1\r\nHost: x\r\nX-Slow: ", nil); line != "" || err != io.EOF {
		t.Errorf("headers that never end: %q %v, want the connection closed", line, err)
	}
	line, err := rawRequest(t, addr, "POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+"\r\nContent-Length: 100\r\n\r\n{\"addr\":", nil)
	if err != nil || !strings.Contains(line, "408") {
		t.Errorf("a body that stalls: %q %v, want 408", line, err)
	}
	big := "X-Big: " + strings.Repeat("x", 64<<10) + "\r\n"
	if line, err := rawRequest(t, addr, "GET /v1/bans HTTP/1.1\r\nHost: x\r\n"+big+"\r\n", nil); err != nil || !strings.Contains(line, "431") {
		t.Errorf("headers past the cap: %q %v, want 431", line, err)
	}
}
