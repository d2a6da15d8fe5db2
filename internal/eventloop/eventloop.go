// Package eventloop holds what every gnet event loop of this module needs from the Go
// runtime: one P more than there are loops.
//
// A gnet loop with nothing to do blocks in epoll_wait through an ordinary system call
// (unix.Syscall6, which enters the runtime's syscall state holding its P). The runtime's
// sysmon retakes a P that has been in a syscall for one of its ticks (20 µs at first) unless
// some other P is idle or some thread is spinning (retake in runtime/proc.go), and hands it
// to a new thread that finds nothing to run; when epoll_wait returns, the loop must get a P
// back before it can run. With -loops equal to GOMAXPROCS every P is in a syscall whenever
// every loop waits, so that happens on nearly every batch of traffic with gaps of tens of
// microseconds, which is how HAProxy's traffic looks: measured with HAProxy in the loop,
// sysmon and the threads it starts took over 40% of the agent's CPU. One idle P is the
// condition under which sysmon leaves a waiting loop alone, so the loops get one P more
// than their number. The extra P runs what is not a loop (the tick, metrics, GC) while
// every loop waits; it costs nothing when it has nothing to run. See PERFORMANCE.md.
package eventloop

import (
	"runtime"
	"sync"
)

// startProcs is GOMAXPROCS as the process started with it, before any ReserveIdleP raised it.
var startProcs = runtime.GOMAXPROCS(0)

// DefaultLoops is the number of event loops when none is configured: GOMAXPROCS as the
// process started with it (the CPUs it may use), so that a process running several servers
// gets the same default for each.
func DefaultLoops() int { return startProcs }

var mu sync.Mutex // orders the read and the write of GOMAXPROCS between servers starting

// ReserveIdleP raises GOMAXPROCS to loops+1 if it is lower (never lowers it) and returns
// GOMAXPROCS as it now is, and whether it was raised. Raising it stops the runtime from
// adjusting GOMAXPROCS to CPU limits later (see runtime.GOMAXPROCS).
func ReserveIdleP(loops int) (procs int, raised bool) {
	mu.Lock()
	defer mu.Unlock()
	procs = runtime.GOMAXPROCS(0)
	if procs > loops {
		return procs, false
	}
	runtime.GOMAXPROCS(loops + 1)
	return loops + 1, true
}
