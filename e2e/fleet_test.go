package e2e

import (
	"path/filepath"
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
		eventually(t, 30*time.Second, "the agent's first sync with Redis", func() bool {
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
	eventually(t, 10*time.Second, "A's ban to be enforced through HAProxy B", reached(hb, 403))
	t.Logf("a ban through agent A answered 403 through HAProxy B %v after the command started", time.Since(start).Round(time.Millisecond))
	hb.expect(t, []request{{name: "through B", src: otherV4, want: banned}, {name: "another address, through B", src: unlistedV4, want: allowed}})

	// B restarts: it serves its persisted copy at once, then syncs again.
	b.stop()
	b.start()
	hb.waitAgent(true)
	hb.expect(t, []request{{name: "through B after B restarted", src: otherV4, want: banned}})

	start = time.Now()
	spoaguardCommand(t, apiA, "unban", otherV4)
	eventually(t, 10*time.Second, "A's unban to be enforced through HAProxy B", reached(hb, 200))
	t.Logf("an unban through agent A answered 200 through HAProxy B %v after the command started", time.Since(start).Round(time.Millisecond))
}
