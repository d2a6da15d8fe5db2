// Package health answers the two questions an operator asks of the agent: is the process
// alive (liveness: it answers at all), and is it doing its job (readiness: every list loaded
// and enforced, NOTIFYs decided, the engine serving). Liveness needs no package; readiness is
// a Readiness that the parts of the agent register their conditions with.
//
// A part registers a Check, a function that reports the part's conditions when asked:
//
//	ready.Add(func() []health.Condition {
//		return []health.Condition{{Name: "engine", Level: health.NotReady, Detail: "stopped: …"}}
//	})
//
// The report's level is the worst of its conditions. A check is called on every request of
// the readiness endpoint and every metrics scrape, from their goroutines: it must be cheap
// and must not block on the hot path's locks.
package health

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Level is how well a condition, or the agent, is.
type Level int

const (
	// Ready: doing its job.
	Ready Level = iota
	// Degraded: doing its job with a fault an operator must see (a list serving stale
	// contents after a failed reload, NOTIFYs that carry no usable address).
	Degraded
	// NotReady: not doing its job (a list never loaded, no NOTIFY decided).
	NotReady
)

var levelNames = [...]string{"ready", "degraded", "not ready"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// Condition is one thing readiness depends on, and its state.
type Condition struct {
	Name   string // e.g. "list drop", "notifies", "engine"
	Level  Level
	Detail string // what is wrong, or what is right, in a line
}

// Check reports the conditions of one part of the agent.
type Check func() []Condition

// Readiness gathers the checks of the agent's parts. The zero value has no checks and is
// ready. It is safe for concurrent use.
type Readiness struct {
	mu     sync.Mutex
	checks []Check
}

// Add registers a check; its conditions appear in every report after the ones of the checks
// added before it.
func (r *Readiness) Add(c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c)
}

// Report is the agent's readiness: the worst level of its conditions, and all of them.
type Report struct {
	Level      Level
	Conditions []Condition
}

// Report runs every check.
func (r *Readiness) Report() Report {
	r.mu.Lock()
	checks := slices.Clone(r.checks)
	r.mu.Unlock()
	var rep Report
	for _, c := range checks {
		for _, cond := range c() {
			rep.Level = max(rep.Level, cond.Level)
			rep.Conditions = append(rep.Conditions, cond)
		}
	}
	return rep
}

// String renders the report as the readiness endpoint serves it: the level on the first line,
// then a line per condition, "name: level: detail".
func (rep Report) String() string {
	var b strings.Builder
	b.WriteString(rep.Level.String())
	b.WriteByte('\n')
	for _, c := range rep.Conditions {
		fmt.Fprintf(&b, "%s: %s: %s\n", c.Name, c.Level, strings.ReplaceAll(c.Detail, "\n", " "))
	}
	return b.String()
}

// ServeHTTP serves the report as text: 200 when ready or degraded, 503 when not ready.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	rep := r.Report()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Level == NotReady {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(rep.String()))
}
