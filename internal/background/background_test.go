package background

import (
	"net/http"
	"testing"
)

// Nice values outside 0..19 are refused, and nice 0 (or no Priority at all) runs the work
// where it is called.
func TestNiceZeroChangesNothing(t *testing.T) {
	for _, n := range []int{-1, MaxNice + 1} {
		if _, err := New(n, nil); err == nil {
			t.Errorf("New(%d) succeeded", n)
		}
	}
	p, err := New(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Priority{p, nil} {
		ran := false
		p.Run(func() { ran = true })
		p.Lower()
		if !ran || p.Nice() != 0 {
			t.Errorf("%v: the work ran %v, nice %d", p, ran, p.Nice())
		}
		h := http.NotFoundHandler()
		if got := p.Handler(h); got == nil {
			t.Error("no handler")
		}
	}
	if p.threads.Load() != 0 {
		t.Errorf("nice 0 started %d threads", p.threads.Load())
	}
}
