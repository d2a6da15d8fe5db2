// Package background runs the agent's work off the request path (the admin API's requests,
// the live set's rounds) on OS threads of lower scheduling priority than the event loops'.
//
// On a core that an event loop shares with that work, the kernel runs whichever thread it
// picked until a tick or until a waking thread wins the pick, so a loop woken by HAProxy's
// data waits while a POST of bans is decoded and applied. At a higher nice value the work's
// threads weigh less against the loop's: the loop gets the core back sooner, and the work
// takes longer when the core is busy. The loops' threads are never lowered: the work runs on
// goroutines locked to threads of their own, and the Go runtime creates new threads from a
// thread that no such goroutine has used.
//
// The runtime does not know that a thread weighs less. While lowered work runs, its thread
// holds a P and what the scheduler queued on it, and a stop-the-world of the collector waits
// for it to stop. Beside other busy threads at the agent's priority on the same cores, the
// kernel may leave it waiting for a hundred milliseconds and more, and everything waits with
// it (BenchmarkSTWWithLoweredLoad): a lower priority suits an agent that has its cores to
// itself, not one beside a busy HAProxy.
package background

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// MaxNice is the highest nice value, the lowest priority.
const MaxNice = 19

// maxIdle is the most idle threads a Priority keeps for the next call of Run; a thread
// beyond it ends with its call.
const maxIdle = 4

// Priority lowers the priority of the threads running background work to a nice value. A nil
// *Priority, or one of nice 0, changes nothing: its work runs where it is called.
type Priority struct {
	nice    int
	work    chan func()  // idle threads wait here
	idle    atomic.Int32 // threads waiting on work
	threads atomic.Int64 // threads Run holds, idle or not
}

// New returns the Priority of nice value nice, 0 to MaxNice, with its metrics in set. It
// fails when nice is out of range, below the nice value of the thread calling it (the
// agent's own), or the system refuses to lower a thread (a seccomp filter, a platform
// without per-thread priorities), rather than run the work unlowered unseen.
func New(nice int, set *metrics.Set) (*Priority, error) {
	if nice < 0 || nice > MaxNice {
		return nil, fmt.Errorf("background nice value %d is not in 0..%d", nice, MaxNice)
	}
	p := &Priority{nice: nice, work: make(chan func())}
	if nice > 0 {
		if own := ownNice(); nice < own {
			return nil, fmt.Errorf("background nice value %d is below the agent's own, %d: its threads would outrank the event loops", nice, own)
		}
		errc := make(chan error)
		go func() { errc <- lower(nice) }() // the probe's thread ends with it (see Lower)
		if err := <-errc; err != nil {
			return nil, fmt.Errorf("lowering a thread's priority to nice %d: %w", nice, err)
		}
	}
	if set != nil {
		set.NewGauge(`spoaguard_background_nice`, func() float64 { return float64(nice) })
		set.NewGauge(`spoaguard_background_threads`, func() float64 { return float64(p.threads.Load()) })
	}
	return p, nil
}

// Nice returns the nice value of the work's threads.
func (p *Priority) Nice() int {
	if p == nil {
		return 0
	}
	return p.nice
}

// Lower locks the calling goroutine to its thread for the rest of the goroutine's life and
// lowers the thread's priority: for a goroutine that does background work until it returns,
// such as the live set's. The thread ends with the goroutine, but for the process's main
// thread, which the runtime never ends: that one stays parked for good, and runs nothing.
func (p *Priority) Lower() {
	if p.Nice() > 0 {
		_ = lower(p.nice) // New's probe succeeded: the call does not fail
	}
}

// Run calls f on a thread of lower priority and returns when f has returned. A panic in f is
// raised again in the caller as a *Panic, which carries the stack f panicked on: the
// caller's own stack does not show where (http.ErrAbortHandler is raised as it is, for
// net/http to recognise). Run keeps up to a few idle threads for the calls that follow, and
// starts a new one when none is idle, so calls never queue behind one another.
func (p *Priority) Run(f func()) {
	if p.Nice() == 0 {
		f()
		return
	}
	done := make(chan any, 1)
	call := func() {
		defer func() {
			v := recover()
			if v != nil && v != http.ErrAbortHandler {
				v = &Panic{Value: v, Stack: debug.Stack()}
			}
			done <- v
		}()
		f()
	}
	select {
	case p.work <- call:
	default:
		p.threads.Add(1)
		go p.thread(call)
	}
	if v := <-done; v != nil {
		panic(v)
	}
}

// Panic is a panic of the work that Run raises again in its caller.
type Panic struct {
	Value any    // what the work panicked with
	Stack []byte // the work's stack where it panicked
}

// String is what the runtime prints of an unrecovered panic: the work's value and stack.
func (p *Panic) String() string {
	return fmt.Sprintf("%v [in work run by background.Priority.Run]\n\n%s", p.Value, p.Stack)
}

// thread runs call and then the calls handed to it while it is idle, on a lowered thread.
func (p *Priority) thread(call func()) {
	defer p.threads.Add(-1)
	p.Lower()
	for {
		call()
		if p.idle.Add(1) > maxIdle {
			p.idle.Add(-1)
			return // the thread ends with the goroutine that holds it locked
		}
		call = <-p.work
		p.idle.Add(-1)
	}
}

// Handler returns h, with each request served by Run.
func (p *Priority) Handler(h http.Handler) http.Handler {
	if p.Nice() == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Run(func() { h.ServeHTTP(w, r) })
	})
}
