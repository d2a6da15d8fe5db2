package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// process is a child started by a test: its own process group (HAProxy's master forks
// workers), its output captured for failure messages, stopped by its id in t.Cleanup.
type process struct {
	name   string
	cmd    *exec.Cmd
	output *testutil.Buffer // the child's output; its first 4 MiB hold the interesting part
	done   chan struct{}    // closed when the process has exited
	err    error            // exit status, valid after done
}

// startProcess starts cmd and registers its cleanup: SIGTERM to its process group, then
// SIGKILL if it has not exited within 10 s.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, output: &testutil.Buffer{Limit: 4 << 20}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s (%v):\n%s", name, cmd.Args, p.output.String())
		}
	})
	return p
}

// signal sends sig to the process itself (HAProxy's master, the agent).
func (p *process) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group gracefully, then forcibly; it returns once the process has
// exited. Calling it again is harmless.
func (p *process) stop(t *testing.T) {
	t.Helper()
	pgid := p.cmd.Process.Pid
	if p.exited() {
		syscall.Kill(-pgid, syscall.SIGKILL) // leftovers of the group, if any
		return
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit within 10 s of SIGTERM; killing it", p.name)
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// freePort returns a TCP port free on both 127.0.0.1 and [::1], so one frontend can bind both.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l4.Addr().(*net.TCPAddr).Port
		l6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
		l4.Close()
		if err == nil {
			l6.Close()
			return port
		}
	}
	t.Fatal("no TCP port free on both 127.0.0.1 and [::1] after 20 tries")
	return 0
}

// loopback returns "127.0.0.1:port".
func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
