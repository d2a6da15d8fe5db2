package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// HoldIdle opens cfg.Conns connections, does the HELLO handshake on each and keeps them open
// and idle for hold (or until ctx ends), then closes them: what HAProxy's idle pool looks
// like to an agent, for measuring its memory per idle connection. ready, when not nil, is
// called once every connection has completed its handshake.
func HoldIdle(ctx context.Context, cfg Config, hold time.Duration, ready func()) error {
	if cfg.Duration == 0 {
		cfg.Duration = hold // only to pass validation: no load is sent
	}
	if err := cfg.defaults(); err != nil {
		return err
	}
	r := &run{cfg: &cfg, w: newWorkload(cfg.Targets, cfg.Message, cfg.Arg, cfg.Check), start: time.Now()}
	conns := make([]*conn, cfg.Conns)
	var wg sync.WaitGroup
	// Handshake in bounded parallel batches: thousands of simultaneous connects overflow a
	// default listen backlog.
	sem := make(chan struct{}, 64)
	for i := range conns {
		conns[i] = &conn{r: r, id: i}
		wg.Add(1)
		sem <- struct{}{}
		go func(c *conn) {
			defer wg.Done()
			defer func() { <-sem }()
			c.err = c.connect(ctx)
		}(conns[i])
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c.nc != nil {
				c.nc.Close()
			}
		}
	}()
	for _, c := range conns {
		if c.err != nil {
			return fmt.Errorf("bench: idle connection %d: %w", c.id, c.err)
		}
		// connect armed a deadline for the handshake; idle connections must not hit it.
		c.nc.SetDeadline(time.Time{})
	}
	if ready != nil {
		ready()
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
