package bench

import (
	"testing"
	"time"
)

// The report is made of the connections' results: latencies and counts merged, per-second
// timelines summed, disconnects sorted into during the run and at its end, the first error
// kept.
func TestReportSumsTheConnectionsResults(t *testing.T) {
	var h1, h2 histogram
	for range 3 {
		h1.Record(10 * time.Microsecond)
	}
	h2.Record(20 * time.Microsecond)
	results := []connResult{
		{hist: &h1, counters: counters{Sent: 5, Acked: 3, Blocked: 1}, timeline: []uint64{2, 1, 0},
			disconnect: "agent-disconnect status 0 (normal)"},
		{hist: &h2, counters: counters{Sent: 4, Acked: 1, Missing: 2}, timeline: []uint64{1},
			disconnect: "reset", early: true, firstErr: "connection 1 lost during the run"},
		{hist: new(histogram), disconnect: "reset", early: true, firstErr: "a later failure"},
	}
	r := &Report{Duration: 2 * time.Second}
	r.fill(results, usage{}, usage{})
	if r.ACKs != 4 || r.ACKsPerSec != 2 || r.Sent != 9 || r.Acked != 4 || r.Blocked != 1 || r.Missing != 2 {
		t.Errorf("counts: %+v", r)
	}
	if r.Latency.Min != 10*time.Microsecond || r.Latency.Max != 20*time.Microsecond {
		t.Errorf("latency %+v", r.Latency)
	}
	if len(r.Timeline) != 2 || r.Timeline[0] != 3 || r.Timeline[1] != 1 {
		t.Errorf("timeline %v, want [3 1] (the empty partial last second dropped)", r.Timeline)
	}
	if r.DisconnectsDuringRun["reset"] != 2 || r.DisconnectsAtEnd["agent-disconnect status 0 (normal)"] != 1 {
		t.Errorf("disconnects during %v, at end %v", r.DisconnectsDuringRun, r.DisconnectsAtEnd)
	}
	if r.FirstError != "connection 1 lost during the run" || !r.Failed() {
		t.Errorf("first error %q, failed %v", r.FirstError, r.Failed())
	}
	if r.AgentAllocsPerACK != -1 || r.AgentCPU != 0 {
		t.Errorf("agent usage reported without samples: %v allocs, %s CPU", r.AgentAllocsPerACK, r.AgentCPU)
	}
}

// Scripts read a report's fields through Field, by their JSON names.
func TestReportFieldsByJSONPath(t *testing.T) {
	r := &Report{ACKsPerSec: 1234567.5, ACKs: 12345678901, Agent: "127.0.0.1:1", Timeline: []uint64{3, 1},
		Latency: Latency{P99: 42 * time.Microsecond}, LoadAverage: [2]float64{0.5, 1}}
	for _, tc := range []struct{ path, want string }{
		{"acks_per_sec", "1234567.5"},
		{"acks", "12345678901"},
		{"agent", "127.0.0.1:1"},
		{"latency.p99_ns", "42000"},
		{"acks_per_second_timeline", "3 1"},
		{"load_average", "0.5 1"},
	} {
		if got, err := r.Field(tc.path); err != nil || got != tc.want {
			t.Errorf("Field(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	for _, bad := range []string{"no_such_field", "latency", "acks.x", "latency.p42_ns"} {
		if got, err := r.Field(bad); err == nil {
			t.Errorf("Field(%q) = %q, want an error", bad, got)
		}
	}
}
