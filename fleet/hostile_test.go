package fleet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
)

// misbehaviour is what the hostile server does in answer to a command it targets.
type misbehaviour struct {
	cmds  string // the commands it answers so, space-separated; "": every command, the handshake's too
	reply func(w io.Writer, stop <-chan struct{})
}

// proxy forwards RESP between go-redis and a real redis-server, and while a misbehaviour is
// set answers the commands it targets itself.
type proxy struct {
	l     net.Listener
	to    string
	mode  atomic.Pointer[misbehaviour]
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, to string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, to: to, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) url() string { return "redis://" + p.l.Addr().String() + "/0?read_timeout=2s" }

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	defer up.Close()
	in, upr := bufio.NewReader(c), bufio.NewReader(up)
	for {
		cmd, raw, err := readCommand(in)
		if err != nil {
			return
		}
		if m := p.mode.Load(); m != nil && (m.cmds == "" || strings.Contains(" "+m.cmds+" ", " "+cmd+" ")) {
			m.reply(c, p.stop)
			return // the connection is spent: what it sent cannot be taken back
		}
		if _, err := up.Write(raw); err != nil {
			return
		}
		var reply bytes.Buffer
		if err := copyReply(&reply, upr); err != nil {
			return
		}
		if _, err := c.Write(reply.Bytes()); err != nil {
			return
		}
	}
}

// readCommand reads one command (an array of bulk strings) and returns its name, lower case.
func readCommand(r *bufio.Reader) (string, []byte, error) {
	var raw bytes.Buffer
	line, err := r.ReadString('\n')
	if err != nil || line[0] != '*' {
		return "", nil, fmt.Errorf("not a command: %q", line)
	}
	raw.WriteString(line)
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	var name string
	for i := range n {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		size, _ := strconv.Atoi(strings.TrimSpace(l[1:]))
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", nil, err
		}
		raw.WriteString(l)
		raw.Write(b)
		if i == 0 {
			name = strings.ToLower(string(b[:size]))
		}
	}
	return name, raw.Bytes(), nil
}

// copyReply copies one reply of a real Redis.
func copyReply(w *bytes.Buffer, r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	w.WriteString(line)
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '$', '=', '!':
		if n >= 0 {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			w.Write(b)
		}
	case '*', '~', '>', '%', '|':
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range max(n, 0) {
			if err := copyReply(w, r); err != nil {
				return err
			}
		}
		if line[0] == '|' {
			return copyReply(w, r)
		}
	}
	return nil
}

// send writes b and then holds the connection, silent, until the test ends.
func send(b string) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, stop <-chan struct{}) {
		_, _ = io.WriteString(w, b)
		<-stop
	}
}

// sendClose writes b and closes.
func sendClose(b string) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, _ <-chan struct{}) { _, _ = io.WriteString(w, b) }
}

// repeat writes head, then body again and again (at most n times) until the peer goes.
func repeat(head, body string, n int) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, stop <-chan struct{}) {
		if _, err := io.WriteString(w, head); err != nil {
			return
		}
		chunk := strings.Repeat(body, 1024)
		for i := 0; i < n; i += 1024 {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		<-stop
	}
}

// drip writes b one byte every 5 ms.
func drip(b string) func(io.Writer, <-chan struct{}) {
	return func(w io.Writer, stop <-chan struct{}) {
		for i := range len(b) {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := w.Write([]byte{b[i]}); err != nil {
				return
			}
		}
		<-stop
	}
}

// xreadReply is an XREAD reply of one log entry with the fields given.
func xreadReply(id string, fields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*1\r\n*2\r\n$%d\r\nspoaguard:log\r\n*1\r\n*2\r\n$%d\r\n%s\r\n*%d\r\n", len("spoaguard:log"), len(id), id, len(fields))
	for _, f := range fields {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(f), f)
	}
	return b.String()
}

// The follower's commands, and its writes'.
const agentCmds = "xread mget hscan evalsha eval hmget"

// A Redis that misbehaves, or a server that is not Redis: the agent neither panics nor hangs
// past its timeouts nor grows its heap, keeps enforcing the live set it has, refuses writes
// through the API as unavailable, logs what is wrong, and follows the shared set again once a
// good Redis answers.
func TestHostileRedis(t *testing.T) {
	future := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + "-0"
	for _, tc := range []struct {
		name string
		m    misbehaviour
		log  string // in the agent's log
	}{
		{"wrong reply types", misbehaviour{agentCmds, sendClose(":42\r\n")}, "redis"},
		{"a bulk string of 2^31-1 bytes, then silence", misbehaviour{agentCmds, send("$2147483647\r\n")}, "bulk string of 2147483647 bytes"},
		{"an endless array", misbehaviour{agentCmds, repeat("*2147483647\r\n", ":1\r\n", 1<<20)}, "more than"},
		{"an array of a million arrays", misbehaviour{agentCmds, repeat("*1000000\r\n", "*1000000\r\n", 1<<20)}, "more than"},
		{"deep nesting", misbehaviour{agentCmds, repeat("", "*1\r\n", 1<<20)}, "nested more than"},
		{"a reply dripped a byte per 5 ms", misbehaviour{"mget evalsha", drip("*2\r\n$100000\r\n" + strings.Repeat("x", 100000))}, "i/o timeout"},
		{"closed mid-reply", misbehaviour{agentCmds, sendClose("*2\r\n$5\r\nab")}, "redis unavailable"},
		{"a line without its end", misbehaviour{agentCmds, repeat("+", "x", 1<<20)}, "without its end"},
		{"HTTP", misbehaviour{"", sendClose("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")}, "is this Redis?"},
		{"SSH", misbehaviour{"", send("SSH-2.0-OpenSSH_9.6\r\n")}, "is this Redis?"},
		{"a log entry without fields", misbehaviour{"xread mget", sendClose(xreadReply(future))}, "redis"},
		{"a log entry with garbage fields", misbehaviour{"xread mget", sendClose(xreadReply(future, "epoch", "\x00\xff", "prev", "?", "changes"))}, "redis"},
		{"a log entry with a huge value", misbehaviour{"xread mget", sendClose(xreadReply(future, "epoch", "x", "prev", "0-0", "changes", strings.Repeat("[", 20<<20)))}, "redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRedis(t, false)
			p := startProxy(t, r.Addr())
			writer, _ := liveAgent(t, r.URL())
			var logs testutil.Buffer
			logs.Limit = 1 << 20
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the agent's log:\n%s", logs.String())
				}
			})
			ms := metrics.NewSet()
			a, set := hostileAgent(t, p.url(), &logs, ms)
			ctx := context.Background()
			if err := writer.Write(ctx, bans(t, 0, "192.0.2.1")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the agent to enforce the first ban", func() bool { return blocks(set, "192.0.2.1") })

			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			p.mode.Store(&tc.m)
			p.dropAll() // every connection, idle ones too, meets the misbehaviour
			if err := writer.Write(ctx, bans(t, 0, "192.0.2.2")); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := a.Write(ctx, bans(t, 0, "192.0.2.3"))
			took := time.Since(start)
			t.Logf("a write answered in %v: %v", took, err)
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("a write: %v, want ErrUnavailable", err)
			}
			// WriteTimeout is 300 ms; a write that waits for the socket takes at least its
			// read timeout, 2 s (url).
			if took >= 2*time.Second {
				t.Errorf("a write took %v: the socket's timeout, not its own", took)
			}
			time.Sleep(time.Second) // the follower meets it again and again
			if !blocks(set, "192.0.2.1") {
				t.Error("the agent stopped enforcing the set it had")
			}
			eventually(t, "the log to say what is wrong", func() bool { return strings.Contains(logs.String(), tc.log) })
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
				t.Errorf("the heap grew by %d MiB", grew>>20)
			}

			p.mode.Store(nil)
			p.dropAll()
			eventually(t, "the agent to follow the shared set again", func() bool { return blocks(set, "192.0.2.2") })
			eventually(t, "the agent's writes to work again", func() bool { return a.Write(ctx, bans(t, 0, "192.0.2.4")) == nil })
			if !blocks(set, "192.0.2.4") {
				t.Error("the agent's own write is not in force")
			}
			t.Logf("refused replies: %v; errors: %v", metric(t, ms, "spoaguard_redis_replies_refused_total"), metric(t, ms, "spoaguard_redis_errors_total"))
		})
	}
}

// dropAll closes every connection the proxy holds.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// hostileAgent is a follower at url that logs into logs, with a short WriteTimeout.
func hostileAgent(t *testing.T, url string, logs io.Writer, ms *metrics.Set) (*Fleet, *live.Set) {
	t.Helper()
	set, err := live.Open(live.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, nil))
	f, err := New(Options{URL: url, Poll: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, Metrics: ms, Logger: log}, LiveSink{Set: set, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runFleet(t, f, set)
	return f, set
}
