package bench

import (
	"errors"
	"fmt"
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// Config is one load-generator run.
type Config struct {
	Addr     string  // the agent, host:port
	Conns    int     // connections, each with its own handshake
	InFlight int     // NOTIFYs kept in flight per connection (HAProxy: up to 20)
	IDStyle  IDStyle // how stream-ids are numbered
	Targets  []Target

	Message string // NOTIFY message name (default check-client-ip)
	Arg     string // argument carrying the address (default ip)
	Check   Check  // what the ACK must set (default txn blocked/list)

	Warmup   time.Duration // load before measuring: connections, caches and CPU frequency settle
	Duration time.Duration // the measured window (required, at most an hour)
	MaxACKs  uint64        // optional: end the measured window after this many ACKs

	// Rate, when > 0, paces the NOTIFYs to this many per second in total (spread evenly over
	// the connections, still at most InFlight in flight each): latency at a chosen share of
	// peak throughput rather than at saturation.
	Rate float64

	DialTimeout time.Duration // connect + handshake, per connection (default 5s)
	AckTimeout  time.Duration // a NOTIFY un-ACKed this long is missing (default 2s)

	// AgentPID, when not 0, is the agent's process: its CPU time over the measured window is
	// read from /proc/PID/stat, for CPU per ACK.
	AgentPID int
	// AgentMetrics, when not empty, is the agent's Prometheus endpoint: go_memstats_mallocs_total
	// is scraped at both ends of the measured window, for allocations per ACK.
	AgentMetrics string
}

// maxDuration bounds a run's measured window.
const maxDuration = time.Hour

func (c *Config) defaults() error {
	if c.Message == "" {
		c.Message = "check-client-ip"
	}
	if c.Arg == "" {
		c.Arg = "ip"
	}
	if c.Check.VarBlocked == "" {
		c.Check.VarBlocked = "blocked"
	}
	if c.Check.VarList == "" {
		c.Check.VarList = "list"
	}
	if c.Check.Scope == 0 {
		c.Check.Scope = codec.ScopeTxn
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 2 * time.Second
	}
	switch {
	case c.Addr == "":
		return errors.New("bench: no agent address")
	case c.Conns < 1 || c.Conns > 10000:
		return fmt.Errorf("bench: %d connections, want 1..10000", c.Conns)
	case c.InFlight < 1 || c.InFlight > 4096:
		return fmt.Errorf("bench: %d in flight, want 1..4096", c.InFlight)
	case len(c.Targets) == 0:
		return errors.New("bench: no target addresses")
	case c.Duration <= 0 || c.Duration > maxDuration:
		return fmt.Errorf("bench: duration %s, want (0, %s]", c.Duration, maxDuration)
	case c.Rate < 0:
		return fmt.Errorf("bench: rate %.0f/s", c.Rate)
	case c.Warmup < 0 || c.Warmup > maxDuration:
		return fmt.Errorf("bench: warm-up %s, want [0, %s]", c.Warmup, maxDuration)
	}
	return nil
}
