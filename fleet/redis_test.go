package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server (Debian's package) on a free loopback port, with its own
// directory, stopped by PID when the test ends.
type redisServer struct {
	t       *testing.T
	port    int
	dir     string
	persist bool
	cmd     *exec.Cmd
}

func startRedis(t *testing.T, persist bool) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: apt-get install redis-server (scripts/test.sh installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &redisServer{t: t, port: port, dir: t.TempDir(), persist: persist}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log")}
	if s.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.t.Fatalf("redis-server on port %d did not answer within 5 s:\n%s", s.port, log)
}

// stop kills the server by PID and reaps it.
func (s *redisServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *redisServer) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	t.Cleanup(func() { c.Close() })
	return c
}

// memSink is a Sink in memory.
type memSink struct {
	mu       sync.Mutex
	m        map[string]Record
	replaces int
}

func newMemSink() *memSink { return &memSink{m: map[string]Record{}} }

func (s *memSink) Replace(rs []Record) error {
	m := make(map[string]Record, len(rs))
	for _, r := range rs {
		m[r.Addr] = r
	}
	s.mu.Lock()
	s.m = m
	s.replaces++
	s.mu.Unlock()
	return nil
}

func (s *memSink) Apply(cs []Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if c.Op == Put {
			s.m[c.Key] = *c.Record
		} else {
			delete(s.m, c.Key)
		}
	}
	return nil
}

func (s *memSink) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}
func (s *memSink) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.m) }

// agent is one Fleet with its sink, running until the test ends.
type agent struct {
	f      *Fleet
	sink   *memSink
	cancel context.CancelFunc
	done   chan struct{}
}

func startAgent(t *testing.T, url string, opt Options) *agent {
	t.Helper()
	opt.URL = url
	if opt.Poll == 0 {
		opt.Poll = 100 * time.Millisecond
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 200 * time.Millisecond
	}
	a := &agent{sink: newMemSink()}
	f, err := New(opt, a.sink)
	if err != nil {
		t.Fatal(err)
	}
	a.f = f
	a.run()
	t.Cleanup(func() { a.stop(); f.Close() })
	return a
}

func (a *agent) run() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	go func() { defer close(a.done); a.f.Run(ctx) }()
}

func (a *agent) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

func put(addr string, ttl time.Duration) Change {
	r := &Record{Addr: addr, Action: "deny", List: "api", Created: time.Now().UnixMilli()}
	if ttl > 0 {
		r.Expires = time.Now().Add(ttl).UnixMilli()
	}
	return Change{Op: Put, Key: addr, Record: r}
}

func del(addr string) Change { return Change{Op: Delete, Key: addr} }

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func waitSynced(t *testing.T, a *agent) {
	t.Helper()
	eventually(t, "the first full sync", a.f.Synced)
}
