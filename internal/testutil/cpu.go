package testutil

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// CPUTimer measures the CPU time the benchmark's own thread used, reported as cpu-ns/op next
// to ns/op. On a shared, overloaded machine the wall time counts the slices other processes
// ran in; the thread's CPU time does not (their cache pollution still shows).
type CPUTimer struct {
	start time.Duration
	ok    bool
}

// rusageThread is RUSAGE_THREAD (Linux); elsewhere Getrusage fails and no metric is reported.
const rusageThread = 1

func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// StartCPUTimer locks the goroutine to its thread and starts counting that thread's CPU time.
func StartCPUTimer() CPUTimer {
	runtime.LockOSThread()
	d, ok := threadCPU()
	return CPUTimer{d, ok}
}

// Report adds cpu-ns/op to b's results and unlocks the thread.
func (c CPUTimer) Report(b *testing.B) {
	d, ok := threadCPU()
	runtime.UnlockOSThread()
	if ok && c.ok && b.N > 0 {
		b.ReportMetric(float64(d-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// ProcessCPU returns the CPU time the whole process has used (every thread): for benchmarks
// whose work runs on goroutines other than the benchmark's own.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchSegments runs b over a captured segment of n pipelined frames: answer gets an empty
// output buffer once per segment, and ns/op, allocations, bytes and cpu-ns/op are per frame.
func BenchSegments(b *testing.B, seg []byte, n int, answer func(out []byte)) {
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)) / int64(n))
	cpu := StartCPUTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		answer(out[:0])
	}
	cpu.Report(b)
}
