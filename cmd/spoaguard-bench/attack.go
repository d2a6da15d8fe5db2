package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// attackKinds are the peers attackCmd plays: what each one does with its connection.
var attackKinds = map[string]string{
	"connect": "connects and sends nothing (descriptors, HELLO timeout)",
	"idle":    "completes the HELLO and stays idle (connection slots)",
	"partial": "completes the HELLO, sends the first half of a 16000-byte NOTIFY and stops (buffers, frame timeout)",
	"noread":  "completes the HELLO, sends 2 MB of NOTIFYs and never reads an ACK (queued output, write timeout)",
	"http":    "sends one keep-alive request to the HTTP listener and stays idle (metrics listener)",
}

func attackCmd(args []string) error {
	fs := newFlagSet("attack", `Plays hostile peers against an agent, in waves until -duration: each wave opens -conns
connections of -kind, holds them for -hold, then closes them. Bounded by -conns and
-duration; for the soak (scripts/soak.sh) and for trying the agent's limits by hand. Kinds:
  connect  `+attackKinds["connect"]+`
  idle     `+attackKinds["idle"]+`
  partial  `+attackKinds["partial"]+`
  noread   `+attackKinds["noread"]+`
  http     `+attackKinds["http"])
	addr := fs.String("addr", "127.0.0.1:12345", "agent (or, for http, metrics listener) address `host:port`")
	kind := fs.String("kind", "idle", "what each peer does: connect, idle, partial, noread or http")
	conns := fs.Int("conns", 500, "connections per wave (at most 20000)")
	hold := fs.Duration("hold", 5*time.Second, "how long a wave holds its connections")
	duration := fs.Duration("duration", 30*time.Second, "how long to attack (at most 1h)")
	fs.Parse(args)
	if _, ok := attackKinds[*kind]; !ok {
		return fmt.Errorf("-kind %q: want connect, idle, partial, noread or http", *kind)
	}
	if *conns <= 0 || *conns > 20000 || *hold <= 0 || *duration <= 0 || *duration > time.Hour {
		return fmt.Errorf("-conns must be 1..20000, -hold positive, -duration at most 1h")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, *duration)
	defer cancelRun()
	var total attackStats
	for waves := 0; ctx.Err() == nil; waves++ {
		st := attackWave(ctx, *addr, *kind, *conns, *hold)
		total.add(st)
		fmt.Printf("wave %d: %s\n", waves+1, st)
	}
	fmt.Printf("total: %s\n", total)
	return nil
}

// attackStats counts what a wave's connections met.
type attackStats struct {
	opened, failed, closedByAgent int
}

func (s *attackStats) add(o attackStats) {
	s.opened += o.opened
	s.failed += o.failed
	s.closedByAgent += o.closedByAgent
}

func (s attackStats) String() string {
	return fmt.Sprintf("%d opened, %d failed to connect or hand-shake, %d closed by the agent while held", s.opened, s.failed, s.closedByAgent)
}

func attackWave(ctx context.Context, addr, kind string, n int, hold time.Duration) attackStats {
	hello := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: codec.DefaultMaxFrameSize, Capabilities: []byte("pipelining")})
	var st attackStats
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // connects in flight: thousands at once overflow the accept queue
	for i := 0; i < n && ctx.Err() == nil; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := attackOne(addr, kind, hello)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				st.failed++
				return
			}
			st.opened++
			held = append(held, c)
		}()
	}
	wg.Wait()
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	for _, c := range held {
		// Closed by the agent: a read returns at once (EOF, a reset, or the frames it sent
		// before closing); a connection still open times out.
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := io.Copy(io.Discard, c); err == nil || !isTimeout(err) {
			st.closedByAgent++
		}
		c.Close()
	}
	return st
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// attackOne opens one connection and plays kind on it.
func attackOne(addr, kind string, hello []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	switch kind {
	case "connect":
		return c, nil
	case "http":
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: spoaguard\r\n\r\n"); err != nil {
			return fail(err)
		}
		if _, err := c.Read(make([]byte, 512)); err != nil {
			return fail(err)
		}
		return c, nil
	}
	if _, err := c.Write(hello); err != nil {
		return fail(err)
	}
	var l [4]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return fail(err)
	}
	body := make([]byte, int(l[0])<<24|int(l[1])<<16|int(l[2])<<8|int(l[3]))
	if len(body) > 1<<16 {
		return fail(fmt.Errorf("agent frame of %d bytes", len(body)))
	}
	if _, err := io.ReadFull(c, body); err != nil {
		return fail(err)
	}
	if len(body) == 0 || codec.FrameType(body[0]) != codec.FrameAgentHello {
		return fail(fmt.Errorf("no AGENT-HELLO"))
	}
	switch kind {
	case "partial":
		half := []byte{0, 0, 0x3e, 0x80, byte(codec.FrameNotify), 0, 0, 0, 0, 1, 1}
		if _, err := c.Write(append(half, make([]byte, 8000)...)); err != nil {
			return fail(err)
		}
	case "noread":
		ip := [4]byte{192, 0, 2, 1}
		msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
		var chunk []byte
		for sid := uint64(1); len(chunk) < 64<<10; sid += 2 {
			chunk = codec.AppendNotify(chunk, sid, 1, msg)
		}
		_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
		for sent := 0; sent < 2<<20; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				break // the agent stopped reading, or closed: both are what is tested
			}
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
