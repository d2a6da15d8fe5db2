package blocklist

import (
	"runtime"
	"runtime/debug"
)

// loadGCPercent is the garbage collector's GOGC while a reload reads and builds. A reload holds
// the snapshot in service and the lists' contents while it makes new ones; with the default
// GOGC of 100 the heap may then grow to twice all that before a collection. The tighter goal
// keeps a reload's peak within about twice the steady resident size, for a few more
// collections during the load.
const loadGCPercent = 10

// loadGC is the GOGC setting of a load.
type loadGC struct {
	before int // the GOGC tighten replaced; 0 when it is not in force
}

// tighten sets loadGCPercent until restore, unless a smaller GOGC is in force.
func (g *loadGC) tighten() {
	if g.before != 0 {
		return
	}
	if prev := debug.SetGCPercent(loadGCPercent); prev >= 0 && prev < loadGCPercent {
		debug.SetGCPercent(prev)
	} else {
		g.before = prev
	}
}

// restore puts back the GOGC tighten replaced.
func (g *loadGC) restore() {
	if g.before != 0 {
		debug.SetGCPercent(g.before)
		g.before = 0
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
