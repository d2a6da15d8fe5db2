package background

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"
)

var sink [][]uint64

// load stands for a list's load: at GOGC 10 it allocates and drops 120 MB of pointer-free
// arrays, with forced collections as a reload's reclaim and releaseMemory make.
func load() {
	for i := range 60 {
		sink = append(sink, make([]uint64, 1<<18))
		if len(sink) > 8 {
			sink = sink[1:]
		}
		if i%20 == 10 {
			runtime.GC()
		}
	}
	sink = nil
	debug.FreeOSMemory()
}

// maxPause is the lower bound of the highest bucket of h that counts a pause.
func maxPause(h *metrics.Float64Histogram) float64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > 0 {
			return h.Buckets[i]
		}
	}
	return 0
}

// BenchmarkSTWWithLoweredLoad: the largest stop-the-world pause of the collector (when no
// goroutine runs, the event loops' included) and the largest lateness of a 1 ms ticker while
// a load runs through Run at nice 0, 9 and 19, beside CPU hogs at nice 0 (HAProxy busy on the
// agent's cores). A stop-the-world waits for every running goroutine to stop, the lowered
// one's too, and its thread runs when the kernel gives it the core.
//
//	STW_HOG_CPUS=0,1 go test -run '^$' -bench STWWithLoweredLoad -benchtime 5x ./internal/background
func BenchmarkSTWWithLoweredLoad(b *testing.B) {
	// STW_HOG_CPUS: the cores that each get a CPU hog at nice 0 (default "0"; "" for none),
	// each bounded by timeout and stopped by its PID.
	cpus, ok := os.LookupEnv("STW_HOG_CPUS")
	if !ok {
		cpus = "0"
	}
	for _, cpu := range strings.FieldsFunc(cpus, func(r rune) bool { return r == ',' }) {
		hog := exec.Command("timeout", "300", "taskset", "-c", cpu, "sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			b.Skip(err)
		}
		defer func() { hog.Process.Signal(syscall.SIGTERM); hog.Wait() }() // timeout passes it on to the hog
	}
	prev := debug.SetGCPercent(10)
	defer debug.SetGCPercent(prev)
	for _, nice := range []int{0, 9, 19, 0, 9, 19} {
		b.Run(fmt.Sprintf("nice=%d", nice), func(b *testing.B) {
			p, err := New(nice, nil)
			if err != nil {
				b.Fatal(err)
			}
			s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
			var worstPause, worstLate time.Duration
			for range b.N {
				runtime.GC()
				metrics.Read(s)
				before := s[0].Value.Float64Histogram()
				beforeCounts := append([]uint64(nil), before.Counts...)
				stop := make(chan struct{})
				late := make(chan time.Duration)
				go func() {
					var worst time.Duration
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					last := time.Now()
					for {
						select {
						case <-stop:
							late <- worst
							return
						case now := <-t.C:
							worst = max(worst, now.Sub(last)-time.Millisecond)
							last = now
						}
					}
				}()
				p.Run(load)
				close(stop)
				worstLate = max(worstLate, <-late)
				metrics.Read(s)
				h := s[0].Value.Float64Histogram()
				for i := range h.Counts {
					h.Counts[i] -= beforeCounts[i]
				}
				worstPause = max(worstPause, time.Duration(maxPause(h)*1e9))
			}
			b.ReportMetric(float64(worstPause.Microseconds()), "max-pause-µs")
			b.ReportMetric(float64(worstLate.Microseconds()), "max-late-µs")
		})
	}
}
