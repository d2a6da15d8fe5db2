package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Run phases, read by every connection once per read.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// run is the state shared by the connections of one Run.
type run struct {
	cfg       *Config
	w         *workload
	start     time.Time
	phase     atomic.Int32
	measureAt atomic.Int64 // ns since start when measuring began
	globalSID atomic.Uint64
	measured  atomic.Uint64 // ACKs in the measured window, for MaxACKs
	stopOnce  sync.Once
	stopped   chan struct{}
}

func (r *run) now() time.Duration { return time.Since(r.start) }

func (r *run) stop() {
	r.stopOnce.Do(func() {
		r.phase.Store(phaseStop)
		close(r.stopped)
	})
}

// Run connects, drives the load and returns the report. The error is non-nil when the run
// could not start (bad config, an agent that does not answer the handshake) or when it
// failed (wrong, missing or unexpected ACKs; a connection lost during the run): the report
// then says what went wrong. Cancelling ctx ends the run early.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &run{
		cfg:     &cfg,
		w:       newWorkload(cfg.Targets, cfg.Message, cfg.Arg, cfg.Check),
		start:   time.Now(),
		stopped: make(chan struct{}),
	}
	conns := make([]*conn, cfg.Conns)
	seconds := int(cfg.Duration/time.Second) + 2
	// Connect and handshake every connection before any load, in parallel (an agent may
	// accept slowly), each bounded by DialTimeout.
	var wg sync.WaitGroup
	for i := range conns {
		c := &conn{r: r, id: i, timeline: make([]uint64, seconds)}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.err = c.connect(ctx)
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c.err != nil {
			for _, c := range conns {
				if c.nc != nil {
					c.nc.Close()
				}
			}
			return nil, fmt.Errorf("bench: connection %d: %w", c.id, c.err)
		}
	}

	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop()
		}()
	}

	rep := &Report{
		Agent: cfg.Addr, Conns: cfg.Conns, InFlight: cfg.InFlight, IDStyle: cfg.IDStyle.String(),
		Targets: len(cfg.Targets), Warmup: cfg.Warmup,
	}
	var before, after usage
	phaseTimer := time.NewTimer(cfg.Warmup)
	select {
	case <-phaseTimer.C:
	case <-ctx.Done():
		r.stop()
	case <-r.stopped:
	}
	if r.phase.Load() == phaseWarmup {
		before = readUsage(&cfg, false)
		r.measureAt.Store(int64(r.now()))
		r.phase.Store(phaseMeasure)
		phaseTimer.Reset(cfg.Duration)
		select {
		case <-phaseTimer.C:
		case <-ctx.Done():
		case <-r.stopped:
		}
		end := r.now()
		after = readUsage(&cfg, true)
		rep.Duration = end - time.Duration(r.measureAt.Load())
	}
	phaseTimer.Stop()
	r.stop()
	wg.Wait()

	results := make([]connResult, len(conns))
	for i, c := range conns {
		results[i] = c.result()
	}
	rep.fill(results, before, after)
	if rep.Failed() {
		return rep, fmt.Errorf("bench: run failed: %s", rep.FirstError)
	}
	return rep, nil
}
