package main

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/server"
)

// newReadiness gathers what /readyz reports: every list's state, then whether NOTIFYs are
// being decided. Other parts (the engine) add their checks to it. spoaguard_readiness is its
// level, for alerting: 0 ready, 1 degraded, 2 not ready.
func newReadiness(set *metrics.Set, lists *liveLists, h *decision.Handler) *health.Readiness {
	r := &health.Readiness{}
	r.Add(func() []health.Condition {
		sts := lists.mgr.Load().Status()
		conds := make([]health.Condition, len(sts))
		for i, st := range sts {
			conds[i] = listCondition(st)
		}
		return conds
	})
	r.Add(h.Readiness)
	set.NewGauge(`spoaguard_readiness`, func() float64 { return float64(r.Report().Level) })
	return r
}

// listCondition is a list's state: loaded (ready); stale, serving the contents of its last
// good load after a failed one (degraded: still enforced, but not what the file says); never
// loaded (not ready: the list is not enforced at all). A list downloaded by URL is stale only
// once its downloads have failed for longer than its stale-after age.
func listCondition(st blocklist.SourceStatus) health.Condition {
	c := health.Condition{Name: "list " + st.Name}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case st.LastGood.IsZero():
		c.Level, c.Detail = health.NotReady, "never loaded: "+st.LastError
	case st.Feed != nil && st.LastError != "" && !st.Stale:
		// A downloaded list rides out failed downloads until its stale-after age.
		c.Level = health.Ready
		c.Detail = fmt.Sprintf("loaded: %d entries at %s; downloads failing since %s: %s",
			st.Entries, stamp(st.LastGood), stamp(st.Feed.FailingSince), st.LastError)
	case st.Feed != nil && st.Stale:
		c.Level = health.Degraded
		c.Detail = fmt.Sprintf("stale: serving %d entries loaded at %s; downloads failing since %s, longer than stale-after: %s",
			st.Entries, stamp(st.LastGood), stamp(st.Feed.FailingSince), st.LastError)
	case st.LastError != "":
		c.Level = health.Degraded
		c.Detail = fmt.Sprintf("stale: serving %d entries loaded at %s; the load at %s failed: %s",
			st.Entries, stamp(st.LastGood), stamp(st.LastErrorTime), st.LastError)
	default:
		c.Level, c.Detail = health.Ready, fmt.Sprintf("loaded: %d entries at %s", st.Entries, stamp(st.LastGood))
	}
	return c
}

// serverReadiness is the SPOP server's condition: serving; accepting paused for want of file
// descriptors (degraded: connections open still served, new ones wait); stopped (not ready;
// the process exits).
func serverReadiness(srv *server.Server) health.Check {
	return func() []health.Condition {
		c := health.Condition{Name: "engine", Level: health.Ready, Detail: "serving"}
		select {
		case <-srv.Done():
			c.Level, c.Detail = health.NotReady, fmt.Sprintf("stopped: %v", srv.Err())
		default:
			if srv.AcceptPaused() {
				c.Level, c.Detail = health.Degraded, "accepting paused: out of file descriptors"
			}
		}
		return []health.Condition{c}
	}
}
