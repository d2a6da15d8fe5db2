package httpserve

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
)

// safety bounds a test that would otherwise hang; it is never what a test asserts on.
const safety = 20 * time.Second

func serve(t *testing.T, l Limits) *Endpoint {
	t.Helper()
	e, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}), l)
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

func get(c net.Conn) (string, error) {
	_ = c.SetDeadline(time.Now().Add(safety))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// Connections past MaxConns wait for one to close; they are not served alongside.
func TestListenCapsOpenConnections(t *testing.T) {
	const max = 3
	e := serve(t, Limits{MaxConns: max})
	var held []net.Conn
	for i := 0; i < max; i++ {
		c, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if line, err := get(c); err != nil || !strings.Contains(line, "200") {
			t.Fatalf("connection %d: %q %v", i, line, err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_, _ = io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := extra.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Fatalf("a connection past the cap was served while %d were open", max)
	}
	held[0].Close()
	_ = extra.SetReadDeadline(time.Now().Add(safety))
	if line, err := bufio.NewReader(extra).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("after a slot freed: %q %v", line, err)
	}
}

func TestListenSetsEveryTimeoutAndTheHeaderCap(t *testing.T) {
	e := serve(t, Limits{})
	s := e.Server
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s unset", name)
		}
	}
	if s.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes = %d, want %d", s.MaxHeaderBytes, DefaultMaxHeaderBytes)
	}
}

// A keep-alive connection left idle is closed by the server.
func TestListenClosesIdleKeepAlive(t *testing.T) {
	e := serve(t, Limits{IdleTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(safety))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %v, want EOF", err)
	}
}
