package bench

import (
	"testing"
	"time"
)

// With a rate, a connection sends what has come due since its last send, at most what it
// may have in flight, and a connection that fell behind catches up on at most maxLag.
func TestPacerSendsWhatHasComeDue(t *testing.T) {
	const ms = time.Millisecond
	p := newPacer(1000, 2, 0, 4, 0) // 2 connections at 1000/s: one NOTIFY every 2 ms each
	if p.interval != 2*ms || p.maxLag != maxPacingLag {
		t.Fatalf("interval %s, max lag %s", p.interval, p.maxLag)
	}
	for _, step := range []struct {
		name string
		n    int
		now  time.Duration
		want int
	}{
		{"the first is due at once", 10, 0, 1},
		{"not yet due", 10, 1 * ms, 0},
		{"five intervals later", 10, 10 * ms, 5},
		{"at most n", 2, 20 * ms, 2},
		{"nothing wanted", 0, 30 * ms, 0},
		{"one after falling behind", 1, 100 * ms, 1},
		{"the backlog is capped", 100, 100 * ms, 6}, // maxLag/interval, plus the one due now
	} {
		if got := p.due(step.n, step.now); got != step.want {
			t.Errorf("%s: due(%d, %s) = %d, want %d", step.name, step.n, step.now, got, step.want)
		}
	}
	if second := newPacer(1000, 2, 1, 4, 0); second.nextDue != 1*ms {
		t.Errorf("second connection first due at %s, want staggered by half an interval", second.nextDue)
	}
}

func TestUnpacedConnectionSendsEverything(t *testing.T) {
	p := newPacer(0, 8, 3, 20, 5*time.Second)
	if p.paced() || p.due(20, 0) != 20 || p.due(7, time.Hour) != 7 {
		t.Errorf("the zero-rate pacer limits sends: %+v", p)
	}
}
