package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/fleet"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/live"
)

// startFleet follows the shared live set in Redis when -redis is set (nil and a no-op stop
// otherwise). It does not wait for Redis: the agent serves the live set it loaded from the
// state directory until the first full sync swaps in the shared one.
func startFleet(o *options, log *slog.Logger, set *metrics.Set, ls *live.Set) (*fleet.Fleet, func(), error) {
	if o.redisURL == "" {
		return nil, func() {}, nil
	}
	sink := fleet.LiveSink{Set: ls, Logger: log, Dropped: set.GetOrCreateCounter(`spoaguard_redis_entries_dropped_total{reason="full"}`)}
	fl, err := fleet.New(fleet.Options{URL: o.redisURL, Namespace: o.redisNamespace, Logger: log, Metrics: set}, sink)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fl.Run(ctx) }()
	log.Info("following the shared live set", "redis", fleet.Redact(o.redisURL), "redis_namespace", o.redisNamespace)
	return fl, func() { cancel(); <-done; fl.Close() }, nil
}

// fleetApply is the admin API's writer in a fleet: changes go to Redis, and the answer waits
// until this agent has applied them. The counts are what the change does to the set this
// agent holds.
func fleetApply(fl *fleet.Fleet, ls *live.Set) func(context.Context, []live.Change) (live.Counts, error) {
	return func(ctx context.Context, changes []live.Change) (live.Counts, error) {
		counts := ls.Table().Count(changes)
		if err := ls.Room(counts); err != nil {
			return live.Counts{}, err // refused here, before any agent of the fleet takes it
		}
		if err := fl.Write(ctx, fleet.ChangesOf(changes)); err != nil {
			if errors.Is(err, fleet.ErrUnavailable) {
				return live.Counts{}, fmt.Errorf("%w: %v", admin.ErrUnavailable, err)
			}
			return live.Counts{}, err
		}
		if n := leftOut(ls, changes); n > 0 {
			return live.Counts{}, fmt.Errorf("%w: %d of its entries are not in force here yet (limit %d, -live-max-entries); they will be once removals or expiries make room", admin.ErrLeftOut, n, ls.MaxEntries())
		}
		return counts, nil
	}
}

// leftOut counts the entries that changes leaves in the shared set and that ls does not
// hold: those its sink left out for want of room, when writes of other agents filled it
// between Room and the write, or when entries it left out earlier wait ahead of them for the
// room there is (a set that is not full may still leave them out).
func leftOut(ls *live.Set, changes []live.Change) int {
	t, now, n := ls.Table(), ls.Now(), 0
	for _, c := range live.LastChanges(changes) {
		if c.Op != live.Put || c.Entry.Expired(now) {
			continue
		}
		if _, held := t.Get(c.Entry.Addr); !held {
			n++
		}
	}
	return n
}

// fleetReadiness reports Redis: degraded while it is away (the agent enforces the live set it
// has, and API writes answer 503), never "not ready", since requests are still decided.
func fleetReadiness(fl *fleet.Fleet) health.Check {
	return func() []health.Condition {
		c := health.Condition{Name: "redis", Level: health.Ready, Detail: "following the shared live set"}
		switch {
		case !fl.Synced():
			c.Level, c.Detail = health.Degraded, "not synced yet: enforcing the live set from the state directory; API writes answer 503"
		case !fl.Up():
			c.Level, c.Detail = health.Degraded, "unavailable: enforcing the last known live set; API writes answer 503"
		}
		return []health.Condition{c}
	}
}
