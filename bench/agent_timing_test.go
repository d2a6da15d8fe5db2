package bench_test

import (
	"flag"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/internal/agenttest"
)

var agentDuration = flag.Duration("agent-duration", 10*time.Second, "BenchmarkAgentUnderLoad: measured window")

// BenchmarkAgentUnderLoad runs spoaguard's server and decision handler in this process,
// loaded with the synthetic list, and drives it with the load generator over loopback
// (8 connections × 20 in flight, 5% of targets listed) for -agent-duration. It exists for
// two figures a separate process cannot give without pprof and runtime metrics on its
// metrics listener:
//   - allocs/ack: every heap allocation in the process over the measured window (runtime
//     MemStats) divided by the ACKs — the agent's and the load generator's together, so an
//     upper bound for the agent (the load generator's own hot loop allocates nothing);
//   - a CPU profile of the agent under load: run with -cpuprofile and read it with
//     pprof -focus 'server|blocklist|codec'.
//
// Its ACK/s is not a throughput figure: agent and load generator share the process and the
// cores here; scripts/bench.sh measures throughput with each pinned to its own core.
//
//	go test -run '^$' -bench AgentUnderLoad -benchtime 1x -cpuprofile cpu.out ./bench/
func BenchmarkAgentUnderLoad(b *testing.B) {
	mgr, targets := agenttest.SyntheticList(b, *agenttest.Entries)
	h, err := decision.New(mgr, decision.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := agenttest.Serve(b, h)
	b.ResetTimer()
	for b.Loop() {
		rep := agenttest.Load(b, srv, targets, *agentDuration)
		b.ReportMetric(rep.ACKsPerSec, "acks/s")
		b.ReportMetric(rep.LoadgenAllocsPerACK, "allocs/ack")
		b.ReportMetric(float64(rep.ACKs), "acks")
		b.ReportMetric(float64(rep.Latency.P99.Nanoseconds()), "p99-ns")
	}
}
