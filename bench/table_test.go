package bench

import (
	"strings"
	"testing"
	"time"
)

func TestTableQuotesAgentsAgainstTheCeiling(t *testing.T) {
	reps := []*Report{
		{AgentName: "null", Cell: "c8-d20-v4", Conns: 8, InFlight: 20, IDStyle: "3.x", ACKsPerSec: 2e6,
			AgentCPUPerACK: 400, AgentAllocsPerACK: -1, Latency: Latency{P50: 50 * time.Microsecond, P99: 90 * time.Microsecond}},
		{AgentName: "spoaguard", Cell: "c8-d20-v4", Conns: 8, InFlight: 20, IDStyle: "3.x", ACKsPerSec: 1.8e6,
			AgentCPUPerACK: 480, AgentAllocsPerACK: 0.0001, Latency: Latency{P50: 60 * time.Microsecond, P99: 120 * time.Microsecond}},
		{AgentName: "null", Cell: "c8-d20-v4", Conns: 8, InFlight: 20, IDStyle: "3.x", ACKsPerSec: 1e6,
			AgentCPUPerACK: 900, AgentAllocsPerACK: -1}, // a slower repetition: not the one quoted
		{AgentName: "spoaguard", Cell: "c1-d1-v4", Conns: 1, InFlight: 1, IDStyle: "2.6", ACKsPerSec: 30e3, Missing: 3,
			FirstError: "3 NOTIFYs not ACKed"},
	}
	var b strings.Builder
	if err := WriteTable(&b, reps, "null"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| c8-d20-v4 | 8 × 20 | 3.x | 2.00M | 50µs / 90µs | 400ns | 1.80M | 60µs / 120µs | 480ns | 90% | 1.20× | 0.00010 | 0.0 | ok |",
		"| c1-d1-v4 | 1 × 1 | 2.6 | – | – | – | 30k |",
		"**spoaguard FAILED**: 3 NOTIFYs not ACKed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
