package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// testdataFeeds are real feeds loaded next to the test's own lists: a large list (ipsum,
// 120k addresses) and a mixed IPv4/IPv6 one. Neither covers loopback, unlike FireHOL level 1
// or the bogon lists, so loopback sources are listed only by the test's own files.
func testdataFeeds(t *testing.T) []string {
	t.Helper()
	feeds, err := filepath.Abs(filepath.Join(repoRoot, "testdata", "feeds"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"ipsum=" + filepath.Join(feeds, "stamparm_ipsum.txt"),
		"tor=" + filepath.Join(feeds, "tor_exit_nodes_mixed_v4v6_2022-03.txt"),
	}
}

// agentOptions are the lists and timings of one agent; the rest is the agent's defaults
// (message check-client-ip, argument ip, txn scope, variables blocked and list), which the
// configs in scripts/haproxy/ rely on.
type agentOptions struct {
	deny           []string // NAME=PATH[,options], after testdataFeeds
	reloadInterval time.Duration
	args           []string // more flags
	noFeeds        bool     // without testdataFeeds
}

// agent is a running spoaguard.
type agent struct {
	t           *testing.T
	opts        agentOptions
	addr        string // SPOP listener, kept across restarts
	metricsAddr string
	proc        *process
}

// startAgent starts spoaguard on free loopback ports and waits for its health endpoint.
func startAgent(t *testing.T, opts agentOptions) *agent {
	t.Helper()
	a := &agent{t: t, opts: opts, addr: loopback(freePort(t)), metricsAddr: loopback(freePort(t))}
	a.start()
	return a
}

// start (re)starts the agent process on the same ports.
func (a *agent) start() {
	a.t.Helper()
	args := []string{"-listen", a.addr, "-metrics", a.metricsAddr, "-log-level", "info"}
	deny := a.opts.deny
	if !a.opts.noFeeds {
		deny = append(testdataFeeds(a.t), deny...)
	}
	for _, d := range deny {
		args = append(args, "-deny", d)
	}
	if a.opts.reloadInterval > 0 {
		args = append(args, "-reload-interval", a.opts.reloadInterval.String())
	}
	args = append(args, a.opts.args...)
	a.proc = startProcess(a.t, "spoaguard", exec.Command(agentBin, args...))
	a.t.Cleanup(func() {
		// The agent is built with -race when the tests run with it; a race report does
		// not stop the process, so look for one.
		if out := a.proc.output.String(); strings.Contains(out, "WARNING: DATA RACE") || strings.Contains(out, "panic:") {
			a.t.Errorf("spoaguard reported a data race or panic:\n%s", out)
		}
	})
	testutil.Eventually(a.t, 60*time.Second, "spoaguard's /healthz", func() bool {
		if a.proc.exited() {
			a.t.Fatalf("spoaguard exited at start: %v\n%s", a.proc.err, a.proc.output.String())
		}
		resp, err := httpClient.Get("http://" + a.metricsAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop stops the agent with SIGTERM and waits for it to exit.
func (a *agent) stop() { a.t.Helper(); a.proc.stop(a.t) }

// httpClient talks to the agent's metrics endpoint.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// metrics scrapes /metrics into "name{labels}" → value, the series written as the agent
// prints them.
func (a *agent) metrics() map[string]float64 {
	a.t.Helper()
	m, err := a.scrape()
	if err != nil {
		a.t.Fatal(err)
	}
	return m
}

// scrape is metrics for a poll that may outlast a slow answer: it returns the error.
func (a *agent) scrape() (map[string]float64, error) {
	resp, err := httpClient.Get("http://" + a.metricsAddr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %v", err)
	}
	return m, nil
}

// metric returns one series, failing the test if the agent does not export it.
func (a *agent) metric(series string) float64 {
	a.t.Helper()
	m := a.metrics()
	v, ok := m[series]
	if !ok {
		a.t.Fatalf("the agent exports no %s", series)
	}
	return v
}

// The series the tests assert on.
const (
	mNotify      = `spoaguard_frames_received_total{type="notify"}`
	mAcks        = `spoaguard_acks_total`
	mBlocked     = `spoaguard_decisions_total{decision="blocked"}`
	mAllowed     = `spoaguard_decisions_total{decision="allowed"}`
	mConnsOpen   = `spoaguard_connections_open`
	mConnsTotal  = `spoaguard_connections_total`
	mReloadsDone = `spoaguard_reloads_total`
)

// listEntries is the series counting the entries of one list.
func listEntries(name string) string { return fmt.Sprintf(`spoaguard_list_entries{list=%q}`, name) }
