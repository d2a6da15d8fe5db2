package blocklist

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// loadGCPercent is the garbage collector's GOGC while a reload reads and builds. A reload holds
// the snapshot in service and the lists' contents while it makes new ones; with the default
// GOGC of 100 the heap may then grow to twice all that before a collection. The tighter goal
// keeps a reload's peak within about twice the steady resident size, for a few more
// collections during the load.
const loadGCPercent = 10

// loadGC is a manager's hold on the tighter GOGC while it loads. GOGC is the process's: the
// first load to start (of any manager: a SIGHUP that changes the lists loads the new ones
// while the old manager may still be loading) sets it and the last to end puts back what was
// in force before the first, so that two overlapping loads cannot leave it at loadGCPercent.
type loadGC struct {
	held bool
}

var loadGCs struct {
	sync.Mutex
	loads  int  // loads holding the tighter GOGC
	before int  // the GOGC the first of them replaced
	kept   bool // a GOGC at or below loadGCPercent was in force: it was left as it was
}

// tighten sets loadGCPercent until restore, unless a smaller GOGC is in force.
func (g *loadGC) tighten() {
	if g.held {
		return
	}
	g.held = true
	loadGCs.Lock()
	defer loadGCs.Unlock()
	if loadGCs.loads++; loadGCs.loads > 1 {
		return
	}
	prev := debug.SetGCPercent(loadGCPercent)
	loadGCs.before, loadGCs.kept = prev, prev >= 0 && prev <= loadGCPercent
	if loadGCs.kept {
		debug.SetGCPercent(prev)
	}
}

// restore ends g's hold; the last hold to end puts back the GOGC the first replaced.
func (g *loadGC) restore() {
	if !g.held {
		return
	}
	g.held = false
	loadGCs.Lock()
	defer loadGCs.Unlock()
	if loadGCs.loads--; loadGCs.loads == 0 && !loadGCs.kept {
		debug.SetGCPercent(loadGCs.before)
	}
}

// releaseMemory returns a published load's garbage to the system. A load leaves several times
// the snapshot's size of it (the file's raw entries, the merge), which the runtime would keep
// mapped and reuse only for the next load; returning it keeps the resident size near what is
// live. It costs one garbage collection per published snapshot, off the lookup path, which
// allocates nothing.
func releaseMemory() { debug.FreeOSMemory() }

// reclaim collects what a load has dropped before the build allocates the new snapshot, so
// that the build reuses that memory instead of growing the heap: a load's GOGC lets the heap
// grow by a tenth before a collection, and one of the build's arrays is larger than that.
// The collection costs little: the heap is mostly large arrays without pointers.
func reclaim() { runtime.GC() }
