package e2e

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// The names the configs in scripts/haproxy/ use; the tests query HAProxy about them.
const (
	agentBackend = "spoe-spoaguard-agents"
	agentServer  = "agent1"
)

// haproxyOptions choose the config variant.
type haproxyOptions struct {
	agentAddr  string // where the agent listens, "127.0.0.1:port"
	xff        bool   // the X-Forwarded-For SPOE file
	failClosed bool   // uncomment the FAIL-CLOSED rule
	// asShipped leaves the debug response header X-Spoaguard-List commented out, as the
	// configs ship; otherwise the tests read the verdict from it (and X-Spoaguard-Error).
	asShipped bool
	scoped    bool          // the SPOE file's commented "event ... if" example, applied
	tarpit    time.Duration // replaces "timeout tarpit 10s"
}

// haproxy is a running HAProxy master-worker (-W) process.
type haproxy struct {
	t    *testing.T
	gen  *generation
	proc *process
	port int    // the frontend's port on 127.0.0.1 and [::1]
	sock string // the stats socket, as a host path
}

// startHAProxy writes the generation's configs with ports and paths replaced, starts
// HAProxy and waits until the agent has passed a health check.
func startHAProxy(t *testing.T, g *generation, opts haproxyOptions) *haproxy {
	t.Helper()
	g.require(t)
	hostDir, dir := haproxyDir(t, g)
	h := &haproxy{t: t, gen: g, port: freePort(t), sock: filepath.Join(hostDir, "admin.sock")}

	spoe := g.spoe
	if opts.xff {
		spoe = g.spoeXFF
	}
	spoeCfg := testutil.ReadFile(t, filepath.Join(repoRoot, "scripts", "haproxy", spoe))
	// The machine is shared and the agent may run under the race detector: a generous
	// processing budget keeps a slow moment from turning into a fail-open 200.
	if strings.Count(spoeCfg, "timeout processing 100ms") != 1 {
		t.Fatalf("scripts/haproxy/%s: no \"timeout processing 100ms\" to replace", spoe)
	}
	spoeCfg = strings.Replace(spoeCfg, "timeout processing 100ms", "timeout processing 2s", 1)
	if opts.scoped {
		spoeCfg = applyScopeExample(t, spoe, spoeCfg)
	}
	testutil.WriteFile(t, filepath.Join(hostDir, "spoaguard.conf"), spoeCfg)

	cfg := testutil.ReadFile(t, filepath.Join(repoRoot, "scripts", "haproxy", g.cfg))
	edits := []struct{ old, new string }{
		{"bind 127.0.0.1:18080", fmt.Sprintf("bind 127.0.0.1:%d", h.port)},
		{"bind [::1]:18080", fmt.Sprintf("bind [::1]:%d", h.port)},
		{"server agent1 127.0.0.1:12345", "server agent1 " + opts.agentAddr},
		{"config /etc/haproxy/spoaguard.conf", "config " + filepath.Join(dir, "spoaguard.conf")},
		// Check often so UP/DOWN transitions take a fraction of a second, not seconds.
		{"check inter 2s", "check inter 200ms"},
		// The test's view into the running process. expose-fd lets a reloaded worker take
		// over the listening sockets, so a reload refuses no connection.
		{"\nglobal\n", "\nglobal\n    stats socket " + filepath.Join(dir, "admin.sock") +
			" mode 600 level admin expose-fd listeners\n"},
	}
	if !opts.asShipped {
		// The debug header uncommented; SPOE errors (txn.spoaguard.error: 1 timeout, 2 no
		// agent, 256+N status N) are echoed too, so a wrong answer says whether the agent
		// or the check failed.
		edits = append(edits, struct{ old, new string }{"# http-after-response set-header X-Spoaguard-List",
			"http-after-response set-header X-Spoaguard-Error %[var(txn.spoaguard.error)] if { var(txn.spoaguard.error) -m found }\n" +
				"    http-after-response set-header X-Spoaguard-List"})
	}
	if opts.tarpit > 0 {
		edits = append(edits, struct{ old, new string }{"timeout tarpit  10s", fmt.Sprintf("timeout tarpit  %dms", opts.tarpit.Milliseconds())})
	}
	if opts.failClosed {
		edits = append(edits, struct{ old, new string }{
			"# http-request deny deny_status 503", "http-request deny deny_status 503"})
	}
	for _, e := range edits {
		if strings.Count(cfg, e.old) != 1 {
			t.Fatalf("scripts/haproxy/%s: expected exactly one %q to replace; the config and the tests have drifted", g.cfg, e.old)
		}
		cfg = strings.Replace(cfg, e.old, e.new, 1)
	}
	testutil.WriteFile(t, filepath.Join(hostDir, "haproxy.cfg"), cfg)

	h.proc = startProcess(t, "haproxy "+g.name, g.command("-W", "-f", filepath.Join(dir, "haproxy.cfg")))
	testutil.Eventually(t, 15*time.Second, "HAProxy's stats socket", func() bool {
		if h.proc.exited() {
			t.Fatalf("HAProxy %s exited at start: %v\n%s", g.name, h.proc.err, h.proc.output.String())
		}
		_, err := h.command("show info")
		return err == nil
	})
	h.waitAgent(true)
	return h
}

// haproxyDir makes a per-test directory HAProxy can read, returning it as seen from the
// host and from HAProxy (inside the 3.x root, files must live under the root).
func haproxyDir(t *testing.T, g *generation) (hostDir, dir string) {
	t.Helper()
	if g.root == "" {
		d := t.TempDir()
		return d, d
	}
	hostDir, err := os.MkdirTemp(filepath.Join(g.root, "tmp"), "spoaguard-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	return hostDir, "/" + strings.TrimPrefix(hostDir, filepath.Clean(g.root)+"/")
}

// url is the frontend's address for host "127.0.0.1" or "::1".
func (h *haproxy) url(host string) string {
	return "http://" + net.JoinHostPort(host, fmt.Sprint(h.port)) + "/"
}

// command runs one command on the stats socket and returns the answer.
func (h *haproxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.sock, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(io.LimitReader(c, 1<<20))
	return string(out), err
}

// agentStatus returns the agent server's status ("UP", "DOWN", "UP 1/2", ...) and the
// result of its last health check ("L7OK", "INI", ...) from "show stat".
func (h *haproxy) agentStatus() (status, check string, err error) {
	out, err := h.command("show stat")
	if err != nil {
		return "", "", err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", "", fmt.Errorf("show stat: %v: %q", err, out)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, row := range rows[1:] {
		if len(row) > col["check_status"] && row[col["pxname"]] == agentBackend && row[col["svname"]] == agentServer {
			return row[col["status"]], row[col["check_status"]], nil
		}
	}
	return "", "", fmt.Errorf("show stat has no %s/%s: %q", agentBackend, agentServer, out)
}

// waitAgent waits until the option spop-check health check has marked the agent UP (after
// at least one passed check, not just the initial state) or DOWN.
func (h *haproxy) waitAgent(up bool) {
	h.t.Helper()
	want := map[bool]string{true: "UP", false: "DOWN"}[up]
	var status, check string
	testutil.Eventually(h.t, 15*time.Second, "HAProxy "+h.gen.name+" to mark the agent "+want, func() bool {
		var err error
		status, check, err = h.agentStatus()
		if err != nil {
			return false
		}
		if up {
			return status == "UP" && check == "L7OK"
		}
		return status == "DOWN"
	})
	h.t.Logf("HAProxy %s: agent %s (last check %s)", h.gen.name, status, check)
}

// workerPid is the current worker's pid ("show info"), which changes on every reload.
func (h *haproxy) workerPid() string {
	out, err := h.command("show info")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if pid, ok := strings.CutPrefix(sc.Text(), "Pid: "); ok {
			return pid
		}
	}
	return ""
}

// reload makes the master start a new worker (SIGUSR2, master-worker mode, the same on
// 2.6 and 3.x) and waits until the new worker answers and has checked the agent UP. The
// old worker finishes its requests and exits on its own.
func (h *haproxy) reload() {
	h.t.Helper()
	old := h.workerPid()
	if err := h.proc.signal(syscall.SIGUSR2); err != nil {
		h.t.Fatalf("reload: %v", err)
	}
	testutil.Eventually(h.t, 15*time.Second, "a new HAProxy worker after SIGUSR2", func() bool {
		pid := h.workerPid()
		return pid != "" && pid != old
	})
	h.waitAgent(true)
}
