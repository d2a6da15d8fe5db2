package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// TestFleetBenchmark measures a fleet on one Redis, with separate agent processes on
// loopback: how long a ban through one agent's API takes to be enforced by every agent, one
// ban at a time; whether every agent keeps up with 10k bans/s through one API; and a full
// sync of a large set at start. It is a benchmark, not a test: it runs only when
// SPOAGUARD_FLEET_BENCH is set, as "agents,bans,rate-seconds,sync-entries" (scripts/bench-fleet.sh;
// default 20,1000,5,1000000), and prints its figures.
func TestFleetBenchmark(t *testing.T) {
	spec := os.Getenv("SPOAGUARD_FLEET_BENCH")
	if spec == "" {
		t.Skip("a benchmark: set SPOAGUARD_FLEET_BENCH (scripts/bench-fleet.sh runs it)")
	}
	p := []int{20, 1000, 5, 1_000_000}
	for i, f := range strings.Split(spec, ",") {
		if n, err := strconv.Atoi(f); err == nil && i < len(p) && f != "" {
			p[i] = n
		}
	}
	nAgents, nBans, rateSeconds, syncEntries := p[0], p[1], p[2], p[3]
	r := testutil.StartRedis(t, false)
	type node struct {
		a   *agent
		api string
		c   *testutil.Client
	}
	nodes := make([]*node, nAgents)
	for i := range nodes {
		api := "unix:" + filepath.Join(t.TempDir(), "api.sock")
		a := startAgent(t, agentOptions{noFeeds: true, deny: []string{e2eDeny(t)}, args: []string{"-api", api, "-redis", r.URL(), "-log-level", "warn"}})
		c, err := testutil.DialSPOP("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Conn.SetDeadline(time.Now().Add(time.Hour))
		if err := c.Hello(testutil.V26(t, "01_")); err != nil {
			t.Fatal(err)
		}
		nodes[i] = &node{a: a, api: api, c: c}
	}
	for _, n := range nodes {
		testutil.Eventually(t, 60*time.Second, "every agent's first sync", func() bool { return n.a.metrics()["spoaguard_redis_up"] == 1 })
	}
	api := admin.NewClient(nodes[0].api, "")

	// 1. Propagation, one ban at a time: each agent is asked through SPOP, as HAProxy would,
	// until it answers blocked.
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}) }
	lat := make([][]time.Duration, nAgents)
	var apiLat []time.Duration
	for i := 0; i < nBans; i++ {
		addr := ip(i)
		start := time.Now()
		if _, err := api.Ban(admin.Ban{Addr: addr.String()}); err != nil {
			t.Fatal(err)
		}
		apiLat = append(apiLat, time.Since(start))
		var wg sync.WaitGroup
		for j, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := pollBlocked(n.c, addr, uint64(i), start, 10*time.Second)
				if err != nil {
					t.Errorf("agent %d, ban %d: %v", j, i, err)
				}
				lat[j] = append(lat[j], d)
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	t.Logf("propagation, %d agents x %d bans one at a time through agent 0's API: %s", nAgents, nBans, quantiles(all))
	t.Logf("  agent 0's API answering (Redis accepted and agent 0 applied): %s", quantiles(apiLat))

	// 2. 10k bans/s through one API for rateSeconds: 1,000 bans per POST, one POST at a
	// time, on a schedule of one every 100 ms. A POST that answers late is followed at once by
	// the next, so the rate is what the API sustains, not what a fixed tick allows.
	base := 1 << 16
	total := 0
	maxLag := 0.0
	var postLat []time.Duration
	begin := time.Now()
	deadline := begin.Add(time.Duration(rateSeconds) * time.Second)
	nextSample := time.Now()
	for sent := 0; time.Now().Before(deadline); sent++ {
		time.Sleep(time.Until(begin.Add(time.Duration(sent) * 100 * time.Millisecond)))
		bans := make([]admin.Ban, 1000)
		for k := range bans {
			i := base + total + k
			bans[k] = admin.Ban{Addr: netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}).String(), TTL: admin.TTL(time.Hour)}
		}
		posted := time.Now()
		if _, err := api.Ban(bans...); err != nil {
			t.Fatal(err)
		}
		postLat = append(postLat, time.Since(posted))
		total += len(bans)
		if time.Now().After(nextSample) {
			nextSample = time.Now().Add(time.Second)
			for _, n := range nodes {
				maxLag = max(maxLag, n.a.metrics()["spoaguard_redis_lag_seconds"])
			}
		}
	}
	elapsed := time.Since(begin)
	want := float64(nBans + total)
	start := time.Now()
	for j, n := range nodes {
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("agent %d to hold all %v entries", j, want), func() bool {
			return liveEntries(n.a.metrics()) == want
		})
	}
	t.Logf("sustained: %d bans in %v through agent 0's API (%.0f/s); every agent held all of them %v after the last; largest lag sampled %.3f s",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), time.Since(start).Round(time.Millisecond), maxLag)
	t.Logf("  each POST of 1,000 answered in: %s", quantiles(postLat))

	// 3. A full sync at start of a large set, written by agent 0 alone: the others stop.
	if syncEntries > 0 {
		for _, n := range nodes[1:] {
			n.a.stop()
		}
		for done := nBans + total; done < syncEntries; {
			bans := make([]admin.Ban, min(20_000, syncEntries-done))
			for k := range bans {
				i := done + k
				bans[k] = admin.Ban{Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()}
			}
			if _, err := api.Ban(bans...); err != nil {
				t.Fatal(err)
			}
			done += len(bans)
		}
		start := time.Now()
		a := startAgent(t, agentOptions{noFeeds: true, deny: []string{e2eDeny(t)}, args: []string{"-redis", r.URL(), "-log-level", "warn"}})
		// The agent is busy with the sync, on a machine shared with Redis and agent 0: a scrape
		// that times out is a poll that found it not done yet.
		testutil.Eventually(t, 5*time.Minute, "the new agent's full sync", func() bool {
			m, err := a.scrape()
			return err == nil && liveEntries(m) >= float64(syncEntries)
		})
		t.Logf("full sync of %d live entries at start: %v (from the process starting); agent RSS %s",
			syncEntries, time.Since(start).Round(time.Millisecond), rss(a.proc.cmd.Process.Pid))
	}
}

// pollBlocked asks the agent about addr until it answers blocked, and returns the time since
// start.
func pollBlocked(c *testutil.Client, addr netip.Addr, sid uint64, start time.Time, limit time.Duration) (time.Duration, error) {
	a4 := addr.As4()
	msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&a4))
	frame := codec.AppendNotify(nil, sid+1, 1, msg)
	for time.Since(start) < limit {
		if _, err := c.Conn.Write(frame); err != nil {
			return 0, err
		}
		f, err := c.Read()
		if err != nil {
			return 0, err
		}
		if b, ok := f.Blocked(); ok && b {
			return time.Since(start), nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s not blocked after %v", addr, limit)
}

// liveEntries sums the spoaguard_live_entries series.
func liveEntries(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "spoaguard_live_entries{") {
			n += v
		}
	}
	return n
}

// quantiles formats the median, p99 and max of ds.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(f float64) time.Duration {
		return s[min(len(s)-1, int(f*float64(len(s))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("n=%d median %v, p99 %v, max %v", len(s), q(0.5), q(0.99), s[len(s)-1].Round(10*time.Microsecond))
}

// rss is a process's resident memory, from /proc.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return "unknown"
}
