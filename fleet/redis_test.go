package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// redisServer is a real redis-server with a client for the test's own commands.
type redisServer struct{ *testutil.Redis }

func startRedis(t testing.TB, persist bool) *redisServer {
	return &redisServer{testutil.StartRedis(t, persist)}
}

func (s *redisServer) stop()  { s.Stop() }
func (s *redisServer) start() { s.Start() }

func (s *redisServer) client(t *testing.T) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
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
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, cond)
}

func waitSynced(t *testing.T, a *agent) {
	t.Helper()
	eventually(t, "the first full sync", a.f.Synced)
}
