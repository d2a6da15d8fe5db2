package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// Loopback sources: the test's own deny list "e2e" holds listedV4 and listedV6 (::1, the
// only IPv6 loopback address, so every IPv6 request is from a listed client).
const (
	listedV4   = "127.0.0.66"
	unlistedV4 = "127.0.0.1"
	otherV4    = "127.0.0.9"
	listedV6   = "::1"
	e2eList    = "e2e"
)

// anyError in a wanted result accepts any SPOE error code.
const anyError = "any"

var (
	allowed = result{status: 200}
	denied  = result{status: 403, list: e2eList}
)

// forEachGeneration runs test once per HAProxy generation. A generation that is not
// installed fails its subtest with the install command; the other still runs.
func forEachGeneration(t *testing.T, test func(t *testing.T, g *generation)) {
	for _, g := range generations {
		t.Run("haproxy-"+g.name, func(t *testing.T) {
			g.require(t)
			t.Logf("HAProxy %s", g.version)
			test(t, g)
		})
	}
}

// writeList writes a deny list file into dir and returns the agent's -deny value for it.
func writeList(t *testing.T, dir, name, content string) (spec, path string) {
	t.Helper()
	path = filepath.Join(dir, name+".txt")
	testutil.WriteFile(t, path, content)
	return name + "=" + path, path
}

// e2eDeny is the test's own deny list: one IPv4 and one IPv6 loopback address.
func e2eDeny(t *testing.T) string {
	spec, _ := writeList(t, t.TempDir(), e2eList, "# spoaguard e2e\n"+listedV4+"\n"+listedV6+" # the only IPv6 loopback\n")
	return spec
}

// request is one request and the answer HAProxy must give.
type request struct {
	name string
	src  string // source address; "::1" also selects the frontend's IPv6 listener
	xff  string // X-Forwarded-For, if set
	want result
}

func (h *haproxy) expect(t *testing.T, cases []request) {
	t.Helper()
	for _, c := range cases {
		host := "127.0.0.1"
		if c.src == listedV6 {
			host = "::1"
		}
		got, err := newClient(c.src, false).get(h.url(host), c.xff)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.want.err == anyError && got.err != "" {
			got.err = anyError // 2.6 says 2 (no agent UP), 3.2 says 257 (I/O error)
		}
		if got != c.want {
			t.Errorf("%s: from %s (X-Forwarded-For %q): got %v, want %v", c.name, c.src, c.xff, got, c.want)
		}
	}
}

// TestDecisions: the source address decides, for IPv4 and IPv6, and the list variable
// reaches HAProxy.
func TestDecisions(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr})
		before := a.metrics()

		h.expect(t, []request{
			{name: "listed IPv4 source is denied", src: listedV4, want: denied},
			{name: "unlisted IPv4 source passes", src: unlistedV4, want: allowed},
			{name: "another unlisted IPv4 source passes", src: otherV4, want: allowed},
			{name: "listed IPv6 source over [::1] is denied", src: listedV6, want: denied},
			{name: "X-Forwarded-For is ignored by the default config", src: unlistedV4, xff: listedV4, want: allowed},
		})

		// Counters may trail the ACK HAProxy already used by a moment: poll (bounded).
		var after map[string]float64
		testutil.Eventually(t, 5*time.Second, "the agent's counters to count 5 NOTIFYs", func() bool {
			after = a.metrics()
			return after[mNotify]-before[mNotify] >= 5
		})
		if d := after[mBlocked] - before[mBlocked]; d != 2 {
			t.Errorf("%s grew by %v, want 2", mBlocked, d)
		}
		if d := after[mAllowed] - before[mAllowed]; d != 3 {
			t.Errorf("%s grew by %v, want 3", mAllowed, d)
		}
		if d := after[mNotify] - before[mNotify]; d != 5 {
			t.Errorf("%s grew by %v, want 5 (one per request)", mNotify, d)
		}
		if got := after[listEntries(e2eList)]; got != 2 {
			t.Errorf("%s = %v, want 2", listEntries(e2eList), got)
		}
		if got := after[listEntries("ipsum")]; got < 100000 {
			t.Errorf("%s = %v, want the 120,430 addresses of testdata's ipsum feed", listEntries("ipsum"), got)
		}
	})
}

// TestXForwardedFor: with the XFF SPOE file, the last X-Forwarded-For address decides,
// and src is the fallback when the header is missing or not an address.
func TestXForwardedFor(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr, xff: true})
		h.expect(t, []request{
			{name: "listed XFF", src: unlistedV4, xff: listedV4, want: denied},
			{name: "listed last XFF hop", src: unlistedV4, xff: "10.0.0.1, " + listedV4, want: denied},
			{name: "unlisted last XFF hop", src: unlistedV4, xff: listedV4 + ", 10.0.0.1", want: allowed},
			{name: "unlisted XFF from a listed source", src: listedV4, xff: "10.0.0.1", want: allowed},
			{name: "listed IPv6 XFF", src: unlistedV4, xff: listedV6, want: denied},
			{name: "IPv4-mapped IPv6 XFF is the IPv4 address", src: unlistedV4, xff: "::ffff:" + listedV4, want: denied},
			{name: "XFF in the ipsum feed", src: unlistedV4, xff: "77.90.185.20", want: result{status: 403, list: "ipsum"}},
			{name: "XFF in the tor feed", src: unlistedV4, xff: "3.26.51.68", want: result{status: 403, list: "tor"}},
			{name: "IPv6 XFF in the tor feed", src: unlistedV4, xff: "2a0a:4cc0:0:f97::7", want: result{status: 403, list: "tor"}},
			{name: "XFF in two feeds names the first", src: unlistedV4, xff: "5.2.67.226", want: result{status: 403, list: "ipsum"}},
			{name: "XFF not an address: src decides (unlisted)", src: unlistedV4, xff: "garbage", want: allowed},
			{name: "XFF not an address: src decides (listed)", src: listedV4, xff: "garbage", want: denied},
			{name: "no XFF: src decides", src: listedV4, want: denied},
		})
	})
}

// load sends requests from several clients until stop is closed (and at most max each),
// checking every answer against want. It is the "requests keep flowing" part of the tests
// that change something under HAProxy's feet.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	requests atomic.Int64
	mu       sync.Mutex
	failures []string
}

func startLoad(h *haproxy, clients []request, max int) *load {
	l := &load{stop: make(chan struct{})}
	for _, c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			cl := newClient(c.src, false)
			for range max {
				select {
				case <-l.stop:
					return
				default:
				}
				got, err := cl.get(h.url("127.0.0.1"), c.xff)
				l.requests.Add(1)
				if err != nil || got != c.want {
					l.mu.Lock()
					if len(l.failures) < 20 {
						l.failures = append(l.failures, fmt.Sprintf("%s: got %v, err %v, want %v", c.name, got, err, c.want))
					}
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

// finish stops the load and reports every failed or wrong request.
func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	for _, f := range l.failures {
		t.Error(f)
	}
	t.Logf("%d requests during the change", l.requests.Load())
}

// steadyClients are the clients whose decision never changes.
var steadyClients = []request{
	{name: "listed", src: listedV4, want: denied},
	{name: "unlisted", src: unlistedV4, want: allowed},
}

// TestListReload: a list file rewritten while requests flow switches decisions within the
// reload interval, both when written in place (an editor) and when renamed over (rsync,
// atomic deploys); no request fails or hangs meanwhile.
func TestListReload(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		const interval = time.Second
		const dynamic = "127.0.0.70"
		dir := t.TempDir()
		dynSpec, dynPath := writeList(t, dir, "dynamic", "192.0.2.1\n")
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t), dynSpec}, reloadInterval: interval})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr})
		reloads := a.metric(mReloadsDone)

		l := startLoad(h, steadyClients, 100000)
		defer l.finish(t)
		probe := newClient(dynamic, false)
		waitFor := func(want result, what string) {
			t.Helper()
			testutil.Eventually(t, 10*interval, what, func() bool {
				got, err := probe.get(h.url("127.0.0.1"), "")
				if err != nil {
					t.Fatalf("request from %s: %v", dynamic, err)
				}
				return got == want
			})
		}

		waitFor(allowed, dynamic+" allowed before the change")
		testutil.WriteFile(t, dynPath, "192.0.2.1\n"+dynamic+"\n") // in place
		waitFor(result{status: 403, list: "dynamic"}, dynamic+" denied after the list was rewritten in place")

		tmp := filepath.Join(dir, ".dynamic.tmp")
		testutil.WriteFile(t, tmp, "192.0.2.1\n192.0.2.2\n# "+dynamic+" removed\n")
		if err := os.Rename(tmp, dynPath); err != nil {
			t.Fatal(err)
		}
		waitFor(allowed, dynamic+" allowed after a new list was renamed over the old one")

		// The counter moves once a reload is complete, which may be just after its snapshot
		// answers.
		testutil.Eventually(t, 10*interval, fmt.Sprintf("%s to count both reloads", mReloadsDone), func() bool {
			return a.metric(mReloadsDone) >= reloads+2
		})
	})
}

// TestAgentDownAndBack: a stopped agent is marked DOWN by option spop-check and requests
// follow the configured policy; a restarted one is marked UP and blocking resumes.
func TestAgentDownAndBack(t *testing.T) {
	policies := []struct {
		name       string
		failClosed bool
		whileDown  result // the answer to every client while the agent is down
	}{
		{name: "fail-open", whileDown: result{status: 200, err: anyError}},
		{name: "fail-closed", failClosed: true, whileDown: result{status: 503, err: anyError}},
	}
	forEachGeneration(t, func(t *testing.T, g *generation) {
		for _, p := range policies {
			t.Run(p.name, func(t *testing.T) {
				a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
				h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr, failClosed: p.failClosed})
				h.expect(t, []request{
					{name: "agent up, listed", src: listedV4, want: denied},
					{name: "agent up, unlisted", src: unlistedV4, want: allowed},
				})

				a.stop()
				h.waitAgent(false)
				h.expect(t, []request{
					{name: "agent down, listed", src: listedV4, want: p.whileDown},
					{name: "agent down, unlisted", src: unlistedV4, want: p.whileDown},
				})

				a.start()
				h.waitAgent(true)
				h.expect(t, []request{
					{name: "agent back, listed", src: listedV4, want: denied},
					{name: "agent back, unlisted", src: unlistedV4, want: allowed},
					{name: "agent back, listed IPv6", src: listedV6, want: denied},
				})
			})
		}
	})
}

// TestHAProxyReload: a master-worker reload (SIGUSR2) while requests flow brings a burst
// of new agent connections from the new worker and the old worker's disconnects (2.6:
// HAPROXY-DISCONNECT; 3.x: close or reset); no request fails.
func TestHAProxyReload(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr})
		h.expect(t, steadyClients)
		before := a.metrics()

		clients := append(append([]request{}, steadyClients...), steadyClients...)
		l := startLoad(h, clients, 100000)
		for range 2 {
			time.Sleep(300 * time.Millisecond) // let requests flow before and after each reload
			h.reload()
		}
		time.Sleep(300 * time.Millisecond)
		l.finish(t)
		h.expect(t, steadyClients)

		after := a.metrics()
		t.Logf("agent connections: %v opened during the reloads, %v open now",
			after[mConnsTotal]-before[mConnsTotal], after[mConnsOpen])
		if after[mConnsTotal] <= before[mConnsTotal] {
			t.Errorf("%s did not grow across two reloads: the new workers did not connect", mConnsTotal)
		}
		if after[mAcks]-before[mAcks] < float64(l.requests.Load()) {
			t.Errorf("%s grew by %v for %d requests", mAcks, after[mAcks]-before[mAcks], l.requests.Load())
		}
	})
}

// TestBurst: 50 concurrent keep-alive clients for a few seconds get no error and the right
// answers, and HAProxy pipelines NOTIFYs: far more NOTIFYs than connections.
func TestBurst(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		const clients, perClient = 50, 200
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr})
		before := a.metrics()

		var wg sync.WaitGroup
		var errors, wrong, sent atomic.Int64
		var firstErr atomic.Value
		deadline := time.Now().Add(5 * time.Second)
		for i := range clients {
			src, want := fmt.Sprintf("127.0.1.%d", i+1), allowed
			if i%5 == 0 {
				src, want = listedV4, denied
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newClient(src, true)
				defer c.close()
				for n := 0; n < perClient && time.Now().Before(deadline); n++ {
					got, err := c.get(h.url("127.0.0.1"), "")
					sent.Add(1)
					switch {
					case err != nil:
						errors.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					case got != want:
						wrong.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("from %s got %v, want %v", src, got, want))
					}
				}
			}()
		}
		wg.Wait()

		// The agent counts a read's NOTIFYs once the read is answered, so the last ACKs can
		// reach the clients a moment before the count.
		var after map[string]float64
		testutil.Eventually(t, 5*time.Second, "the agent to count every request's NOTIFY", func() bool {
			after = a.metrics()
			return after[mNotify]-before[mNotify] >= float64(sent.Load())
		})
		notifies := after[mNotify] - before[mNotify]
		conns := after[mConnsTotal] - before[mConnsTotal] + before[mConnsOpen]
		t.Logf("%d requests, %v NOTIFYs over at most %v agent connections", sent.Load(), notifies, conns)
		if errors.Load() != 0 || wrong.Load() != 0 {
			t.Errorf("%d errors and %d wrong answers out of %d requests; first: %v", errors.Load(), wrong.Load(), sent.Load(), firstErr.Load())
		}
		if notifies < float64(sent.Load()) {
			t.Errorf("%v NOTIFYs for %d requests", notifies, sent.Load())
		}
		if notifies <= 2*conns {
			t.Errorf("%v NOTIFYs over %v connections: HAProxy did not reuse or pipeline connections", notifies, conns)
		}
	})
}
