package e2e

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// TestFleet: two HAProxy 2.6 nodes, each in front of its own agent, both agents on one
// Redis. A ban through agent A's API is enforced through HAProxy B, an unban lifts it there,
// and both survive agent B restarting.
func TestFleet(t *testing.T) {
	g := generations[0]
	g.require(t)
	r := testutil.StartRedis(t, false)
	node := func() (*agent, *haproxy, string) {
		api := "unix:" + filepath.Join(t.TempDir(), "api.sock")
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)},
			args: []string{"-api", api, "-state-dir", t.TempDir(), "-redis", r.URL()}})
		testutil.Eventually(t, 30*time.Second, "the agent's first sync with Redis", func() bool {
			return a.metrics()["spoaguard_redis_up"] == 1
		})
		return a, startHAProxy(t, g, haproxyOptions{agentAddr: a.addr}), api
	}
	_, ha, apiA := node()
	b, hb, _ := node()
	banned := result{status: 403, list: "api"}

	hb.expect(t, []request{{name: "before the ban, through B", src: otherV4, want: allowed}})
	start := time.Now()
	spoaguardCommand(t, apiA, "ban", otherV4, "-comment", "fleet e2e")
	ha.expect(t, []request{{name: "through A, as soon as its API answered", src: otherV4, want: banned}})
	reached := func(h *haproxy, want int) func() bool {
		return func() bool {
			c := newClient(otherV4, false)
			defer c.close()
			res, err := c.get(h.url("127.0.0.1"), "")
			return err == nil && res.status == want
		}
	}
	testutil.Eventually(t, 10*time.Second, "A's ban to be enforced through HAProxy B", reached(hb, 403))
	t.Logf("a ban through agent A answered 403 through HAProxy B %v after the command started", time.Since(start).Round(time.Millisecond))
	hb.expect(t, []request{{name: "through B", src: otherV4, want: banned}, {name: "another address, through B", src: unlistedV4, want: allowed}})

	// B restarts: it serves its persisted copy at once, then syncs again.
	b.stop()
	b.start()
	hb.waitAgent(true)
	hb.expect(t, []request{{name: "through B after B restarted", src: otherV4, want: banned}})

	start = time.Now()
	spoaguardCommand(t, apiA, "unban", otherV4)
	testutil.Eventually(t, 10*time.Second, "A's unban to be enforced through HAProxy B", reached(hb, 200))
	t.Logf("an unban through agent A answered 200 through HAProxy B %v after the command started", time.Since(start).Round(time.Millisecond))

	// Redis goes away: B keeps enforcing what it has, A refuses writes with one error line
	// (503), and readiness says degraded.
	spoaguardCommand(t, apiA, "ban", unlistedV4)
	testutil.Eventually(t, 10*time.Second, "the second ban through HAProxy B", func() bool {
		c := newClient(unlistedV4, false)
		defer c.close()
		res, err := c.get(hb.url("127.0.0.1"), "")
		return err == nil && res.status == 403
	})
	r.Stop()
	out, err := exec.Command(agentBin, "ban", otherV4, "-api", apiA).CombinedOutput()
	if err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "503") {
		t.Errorf("spoaguard ban with Redis down: %v, output %q; want a failure with one line naming 503", err, out)
	}
	hb.expect(t, []request{{name: "through B with Redis down", src: unlistedV4, want: banned}, {name: "the refused ban, through B", src: otherV4, want: allowed}})
	testutil.Eventually(t, 10*time.Second, "B's readiness to report Redis", func() bool {
		resp, err := httpClient.Get("http://" + b.metricsAddr + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "redis") && strings.Contains(string(body), "unavailable")
	})

	// B restarts while Redis is still away: it enforces the copy it persisted in its state
	// directory from the start.
	b.stop()
	b.start()
	hb.waitAgent(true)
	hb.expect(t, []request{{name: "through B, restarted with Redis down", src: unlistedV4, want: banned}})
}
