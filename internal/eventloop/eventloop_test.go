package eventloop

import (
	"runtime"
	"testing"
)

func TestReserveIdlePLeavesOnePMoreThanLoops(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	tests := []struct {
		name       string
		procs      int // GOMAXPROCS before
		loops      int
		wantProcs  int
		wantRaised bool
	}{
		{"one loop on one P gets a second P", 1, 1, 2, true},
		{"as many loops as Ps get one P more", 4, 4, 5, true},
		{"more loops than Ps get loops+1", 2, 6, 7, true},
		{"an idle P already there is kept", 3, 2, 3, false},
		{"GOMAXPROCS is never lowered", 8, 1, 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GOMAXPROCS(tt.procs)
			procs, raised := ReserveIdleP(tt.loops)
			if procs != tt.wantProcs || raised != tt.wantRaised {
				t.Errorf("ReserveIdleP(%d) with GOMAXPROCS %d = %d, %v; want %d, %v",
					tt.loops, tt.procs, procs, raised, tt.wantProcs, tt.wantRaised)
			}
			if got := runtime.GOMAXPROCS(0); got != tt.wantProcs {
				t.Errorf("GOMAXPROCS is %d; want %d", got, tt.wantProcs)
			}
		})
	}
}

func TestDefaultLoopsIsStableWhenGOMAXPROCSIsRaised(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	before := DefaultLoops()
	ReserveIdleP(before)
	if got := DefaultLoops(); got != before {
		t.Errorf("DefaultLoops() = %d after ReserveIdleP(%d); want %d: every server of a process gets the same default", got, before, before)
	}
}
