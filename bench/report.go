package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Latency summarises the ACK latencies of the measured window: from the write of a NOTIFY's
// batch to the read that returned its ACK, so it includes both kernels' loopback path.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Report is the outcome of a Run. Counts cover the whole run (warm-up and drain included);
// rates, latencies, CPU and allocations cover the measured window only.
type Report struct {
	Agent string `json:"agent"`
	// AgentName and Cell are set by the caller to tie runs together: the same cell (a load
	// shape) run against several agents makes one row of a Table.
	AgentName string        `json:"agent_name,omitempty"`
	Cell      string        `json:"cell,omitempty"`
	Label     string        `json:"label,omitempty"`
	Conns     int           `json:"conns"`
	InFlight  int           `json:"in_flight"`
	IDStyle   string        `json:"id_style"`
	Targets   int           `json:"targets"`
	Warmup    time.Duration `json:"warmup_ns"`
	Duration  time.Duration `json:"duration_ns"` // the measured window

	ACKs       uint64   `json:"acks"` // in the measured window
	ACKsPerSec float64  `json:"acks_per_sec"`
	Latency    Latency  `json:"latency"`
	Timeline   []uint64 `json:"acks_per_second_timeline"` // ACKs in each second of the window

	Sent       uint64 `json:"notifies_sent"`
	Acked      uint64 `json:"acks_matched"`
	Blocked    uint64 `json:"acks_blocked"`
	Wrong      uint64 `json:"acks_wrong"`
	Unexpected uint64 `json:"acks_unexpected"`
	Missing    uint64 `json:"acks_missing"`
	Protocol   uint64 `json:"protocol_errors"`
	// DisconnectsDuringRun counts connections the agent ended before the run stopped (a
	// failure); DisconnectsAtEnd how the agent answered the final HAPROXY-DISCONNECT.
	DisconnectsDuringRun map[string]int `json:"disconnects_during_run"`
	DisconnectsAtEnd     map[string]int `json:"disconnects_at_end"`
	FirstError           string         `json:"first_error,omitempty"`

	// AgentCPU is the agent's CPU time over the measured window (from /proc/PID/stat; 10 ms
	// resolution), AgentCPUPerACK that divided by the window's ACKs.
	AgentCPU       time.Duration `json:"agent_cpu_ns,omitempty"`
	AgentCPUPerACK time.Duration `json:"agent_cpu_per_ack_ns,omitempty"`
	// AgentAllocsPerACK is the agent's heap allocations over the window divided by its ACKs,
	// when the agent's metrics were scraped (less what one scrape itself allocates); -1 when
	// not measured.
	AgentAllocsPerACK float64 `json:"agent_allocs_per_ack"`
	// LoadgenCPU is this process's CPU time over the window: well below the window's length
	// means the load generator was waiting for the agent, not the other way round.
	LoadgenCPU          time.Duration `json:"loadgen_cpu_ns"`
	LoadgenAllocsPerACK float64       `json:"loadgen_allocs_per_ack"`
	// LoadAverage is the machine's 1-minute load average (/proc/loadavg) at the start and the
	// end of the window: above the core count, other processes competed for the cores and
	// the run's rates and latencies are disturbed.
	LoadAverage [2]float64 `json:"load_average"`
}

// Failed reports whether the run saw any wrong, unexpected or missing ACK, a protocol error
// or a connection lost during the run.
func (r *Report) Failed() bool {
	return r.Wrong+r.Unexpected+r.Missing+r.Protocol > 0 || len(r.DisconnectsDuringRun) > 0
}

// connResult is one connection's outcome, what the report is made of.
type connResult struct {
	hist       *histogram // latencies of the measured window's ACKs
	counters   counters   // over the whole run
	timeline   []uint64   // ACKs in each second of the measured window
	disconnect string     // how the connection ended, when the agent ended it
	early      bool       // the agent ended it before the run stopped
	firstErr   string     // the connection's first failure
}

// fill sets what the connections' results and the usage samples taken at both ends of the
// measured window (r.Duration) say.
func (r *Report) fill(results []connResult, before, after usage) {
	var hist histogram
	var c counters
	r.DisconnectsDuringRun = map[string]int{}
	r.DisconnectsAtEnd = map[string]int{}
	r.Timeline = make([]uint64, int(r.Duration/time.Second)+1)
	for _, res := range results {
		hist.Merge(res.hist)
		c.add(&res.counters)
		for i := range r.Timeline {
			if i < len(res.timeline) {
				r.Timeline[i] += res.timeline[i]
			}
		}
		if res.early {
			r.DisconnectsDuringRun[res.disconnect]++
		} else if res.disconnect != "" {
			r.DisconnectsAtEnd[res.disconnect]++
		}
		if r.FirstError == "" && res.firstErr != "" {
			r.FirstError = res.firstErr
		}
	}
	// The last second is partial; drop it when empty.
	if n := len(r.Timeline); n > 0 && r.Timeline[n-1] == 0 {
		r.Timeline = r.Timeline[:n-1]
	}
	r.ACKs = hist.Count()
	if r.Duration > 0 {
		r.ACKsPerSec = float64(r.ACKs) / r.Duration.Seconds()
	}
	r.Latency = Latency{
		Min: hist.Min(), Mean: hist.Mean(), Max: hist.Max(),
		P50: hist.Quantile(0.50), P90: hist.Quantile(0.90),
		P99: hist.Quantile(0.99), P999: hist.Quantile(0.999),
	}
	r.Sent, r.Acked, r.Blocked = c.Sent, c.Acked, c.Blocked
	r.Wrong, r.Unexpected, r.Missing, r.Protocol = c.Wrong, c.Unexpected, c.Missing, c.Protocol
	r.AgentAllocsPerACK = -1
	if r.ACKs > 0 {
		if before.agentOK && after.agentOK {
			r.AgentCPU = after.agentCPU - before.agentCPU
			r.AgentCPUPerACK = r.AgentCPU / time.Duration(r.ACKs)
		}
		if before.mallocOK && after.mallocOK {
			// One scrape's own allocations fall inside the window (after the first scrape
			// read the counter, before the second did); they are the scrape's, not the ACKs'.
			n := after.agentMalloc - before.agentMalloc
			n -= min(n, after.scrapeCost)
			r.AgentAllocsPerACK = float64(n) / float64(r.ACKs)
		}
		r.LoadgenAllocsPerACK = float64(after.selfMalloc-before.selfMalloc) / float64(r.ACKs)
	}
	r.LoadgenCPU = after.selfCPU - before.selfCPU
	r.LoadAverage = [2]float64{before.loadAvg, after.loadAvg}
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Field returns the report's field named by its JSON path ("acks_per_sec", "latency.p99_ns"),
// as text a shell reads: a number in full (no exponent), a string as it is, an array's
// elements separated by spaces. It is how scripts read a report without parsing JSON.
func (r *Report) Field(path string) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("report field %q: %q is not an object", path, key)
		}
		if v, ok = obj[key]; !ok {
			return "", fmt.Errorf("report has no field %q", path)
		}
	}
	return fieldText(v, path)
}

func fieldText(v any, path string) (string, error) {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := fieldText(e, path)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("report field %q is an object, not a value", path)
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }

// WriteText writes the report for a human.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	status := "OK"
	if r.Failed() {
		status = "FAILED"
	}
	label := r.Label
	if label != "" {
		label += " "
	}
	fmt.Fprintf(&b, "%s%s: %d conns × %d in flight, ids %s, %d targets, warm-up %s, measured %s\n",
		label, r.Agent, r.Conns, r.InFlight, r.IDStyle, r.Targets, r.Warmup, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  ACK/s      %.0f (%d ACKs)\n", r.ACKsPerSec, r.ACKs)
	l := r.Latency
	fmt.Fprintf(&b, "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), us(l.Mean))
	fmt.Fprintf(&b, "  checked    %d sent, %d matched (%d blocked), %d wrong, %d unexpected, %d missing, %d protocol errors\n",
		r.Sent, r.Acked, r.Blocked, r.Wrong, r.Unexpected, r.Missing, r.Protocol)
	if r.AgentCPU > 0 {
		fmt.Fprintf(&b, "  agent CPU  %.2fs over the window, %dns per ACK\n", r.AgentCPU.Seconds(), r.AgentCPUPerACK.Nanoseconds())
	}
	if r.AgentAllocsPerACK >= 0 {
		fmt.Fprintf(&b, "  agent      %.5f allocations per ACK\n", r.AgentAllocsPerACK)
	}
	fmt.Fprintf(&b, "  loadgen    %.2fs CPU over the window, %.5f allocations per ACK\n", r.LoadgenCPU.Seconds(), r.LoadgenAllocsPerACK)
	fmt.Fprintf(&b, "  machine    load average %.2f → %.2f\n", r.LoadAverage[0], r.LoadAverage[1])
	fmt.Fprintf(&b, "  disconnects at end %s; during run %s\n", formatCounts(r.DisconnectsAtEnd), formatCounts(r.DisconnectsDuringRun))
	if r.FirstError != "" {
		fmt.Fprintf(&b, "  first error: %s\n", r.FirstError)
	}
	fmt.Fprintf(&b, "  %s\n", status)
	_, err := io.WriteString(w, b.String())
	return err
}

func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d× %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
