package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// rateLimiter logs at most perSecond messages a second and counts the rest, so that a
// misbehaving peer (or a reconnect storm) cannot flood the log. Logging is the cold path.
type rateLimiter struct {
	log       *slog.Logger
	perSecond int

	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

func (r *rateLimiter) warn(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.window) >= time.Second {
		if r.suppressed > 0 {
			r.log.Warn("log messages suppressed by the rate limit", "count", r.suppressed)
		}
		r.window, r.n, r.suppressed = now, 0, 0
	}
	if r.n >= r.perSecond {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.n++
	r.mu.Unlock()
	r.log.Warn(msg, args...)
}

// gnetLogger routes gnet's own logging into slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet")
	}
}

// Infof is debug: gnet's lifecycle lines name its internal socket (listen.go), not a listener.
func (g gnetLogger) Infof(f string, a ...any)  { g.Debugf(f, a...) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
