package background

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sys/unix"
)

// threadNice returns the calling thread's nice value (getpriority(2) answers 20 - nice).
func threadNice(t *testing.T) int {
	t.Helper()
	v, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - v
}

// niceOfANewGoroutine returns the nice value of the thread a goroutine started now runs on.
func niceOfANewGoroutine(t *testing.T) int {
	c := make(chan int)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		c <- threadNice(t)
	}()
	return <-c
}

// Run's work runs at the Priority's nice value, and nothing else does: not the caller, and
// not a goroutine the work starts, which runs on a thread of its own.
func TestRunLowersOnlyTheWorksThreads(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := New(7, nil)
	if err != nil {
		t.Fatal(err)
	}
	var inWork, ofSpawned int
	for range 3 { // the first on a new thread, the others on the idle one
		p.Run(func() {
			inWork = threadNice(t)
			ofSpawned = niceOfANewGoroutine(t)
		})
		if inWork != 7 || ofSpawned != 0 {
			t.Fatalf("the work ran at nice %d, a goroutine it started at %d; want 7 and 0", inWork, ofSpawned)
		}
	}
	if n := threadNice(t); n != 0 {
		t.Errorf("the caller's thread is at nice %d after Run, want 0", n)
	}
	if n := niceOfANewGoroutine(t); n != 0 {
		t.Errorf("a goroutine started after Run runs at nice %d, want 0", n)
	}
	var lowered int
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Lower()
		lowered = threadNice(t)
	}()
	<-done
	if lowered != 7 {
		t.Errorf("Lower left its goroutine's thread at nice %d, want 7", lowered)
	}
}

// Concurrent calls each get a thread, so a call that waits (an API request waiting for its
// round) holds up no other; and when they are done, at most maxIdle threads stay.
func TestConcurrentRunsDoNotQueue(t *testing.T) {
	set := metrics.NewSet()
	p, err := New(3, set)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * maxIdle
	var all sync.WaitGroup
	all.Add(n)
	released := make(chan struct{})
	var calls sync.WaitGroup
	for range n {
		calls.Add(1)
		go func() {
			defer calls.Done()
			p.Run(func() {
				all.Done()
				<-released // every call waits until all are in
			})
		}()
	}
	in := make(chan struct{})
	go func() { all.Wait(); close(in) }()
	select {
	case <-in:
	case <-time.After(30 * time.Second):
		t.Fatal("the calls queued behind one another: not all of them were running at once")
	}
	close(released)
	calls.Wait()
	for deadline := time.Now().Add(30 * time.Second); p.threads.Load() > maxIdle; {
		if time.Now().After(deadline) {
			t.Fatalf("%d threads held after the calls, want at most %d", p.threads.Load(), maxIdle)
		}
		time.Sleep(time.Millisecond)
	}
	var b strings.Builder
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), "spoaguard_background_nice 3") || !strings.Contains(b.String(), "spoaguard_background_threads ") {
		t.Errorf("metrics:\n%s", b.String())
	}
}

// panicInTheWork stands for a bug in the work: its name must be in the panic's stack.
func panicInTheWork() { panic("boom") }

// A panic in the work is the caller's, as if it had called the work itself, and what the
// runtime prints of it shows where the work panicked, which the caller's stack does not;
// http.ErrAbortHandler is raised as it is, for net/http. The thread that ran the work serves
// the next call.
func TestRunRaisesTheWorksPanicInTheCaller(t *testing.T) {
	p, err := New(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	raised := func(work func()) (v any) {
		defer func() { v = recover() }()
		p.Run(work)
		t.Error("Run returned after its work panicked")
		return nil
	}
	v := raised(panicInTheWork)
	if pv, ok := v.(*Panic); !ok || pv.Value != "boom" {
		t.Errorf("recovered %#v, want the work's panic", v)
	} else if s := pv.String(); !strings.HasPrefix(s, "boom") || !strings.Contains(s, "panicInTheWork") {
		t.Errorf("the panic prints as %q, want the work's value and the stack it panicked on", s)
	}
	if v := raised(func() { panic(http.ErrAbortHandler) }); v != http.ErrAbortHandler {
		t.Errorf("recovered %#v, want http.ErrAbortHandler itself", v)
	}
	ran := false
	p.Run(func() { ran = true })
	if !ran {
		t.Error("the call after a panic did not run")
	}
}

// Handler serves every request on a lowered thread, and at nice 0 is the handler itself.
func TestHandlerServesOnLoweredThreads(t *testing.T) {
	p, err := New(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	var nice int
	srv := httptest.NewServer(p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nice = threadNice(t)
		w.WriteHeader(http.StatusTeapot)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || nice != 5 {
		t.Errorf("status %d, served at nice %d; want 418 at 5", resp.StatusCode, nice)
	}
}

// A nice value below the agent's own is refused: its threads would outrank the event loops,
// the reverse of what the option is for (with the privilege to lower a nice value), or fail
// to be set (without it). The agent's own is that of the thread calling New.
func TestNiceBelowTheAgentsOwnIsRefused(t *testing.T) {
	for _, c := range []struct {
		own, nice int
		refused   bool
	}{
		{own: 10, nice: 5, refused: true},
		{own: 10, nice: 10},
		{own: 10, nice: 15},
		{own: 0, nice: 1},
	} {
		setErr, errc := make(chan error, 1), make(chan error, 1)
		go func() { // the thread, at nice own, ends with the goroutine
			runtime.LockOSThread()
			if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), c.own); err != nil {
				setErr <- err // a test run at a nice value above own, without the privilege
				return
			}
			_, err := New(c.nice, nil)
			errc <- err
		}()
		select {
		case err := <-setErr:
			t.Logf("nice %d: %v: case not run", c.own, err)
		case err := <-errc:
			if (err != nil) != c.refused {
				t.Errorf("New(%d) at nice %d: %v, want refused %v", c.nice, c.own, err, c.refused)
			}
		}
	}
}
