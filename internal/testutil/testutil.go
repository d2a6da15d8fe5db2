// Package testutil holds what the module's tests and benchmarks share: reading the captured
// SPOP frames, a buffer a child process or server can log into while a test reads it, files
// written and read or failing the test, a bounded wait for a condition, and a per-thread CPU
// timer for benchmarks on a shared machine. Only tests import it.
package testutil

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HexFile reads a .hex capture (testdata/spop: one line of hex) and returns its bytes.
func HexFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// The directories of testdata/spop holding each HAProxy version's captured frames.
const (
	HAProxy26 = "haproxy-2.6.12"
	HAProxy34 = "haproxy-3.4.0"
)

// SPOPDir returns the path of testdata/spop, wherever the test runs from.
func SPOPDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "spop")
}

// Capture returns the bytes of the one captured frame testdata/spop/<dir>/<prefix>*.hex:
// a prefix such as "07_" names a capture by its number, and a whole file name names it too.
func Capture(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	pattern := prefix
	if !strings.HasSuffix(prefix, ".hex") {
		pattern += "*.hex"
	}
	matches, err := filepath.Glob(filepath.Join(SPOPDir(), dir, pattern))
	if err != nil || len(matches) != 1 {
		t.Fatalf("capture %s/%s*: %d matches %v", dir, prefix, len(matches), err)
	}
	return HexFile(t, matches[0])
}

// V26 and V34 return a capture of HAProxy 2.6 and 3.4 by its prefix (see Capture).
func V26(t testing.TB, prefix string) []byte { return Capture(t, HAProxy26, prefix) }
func V34(t testing.TB, prefix string) []byte { return Capture(t, HAProxy34, prefix) }

// Buffer is a bytes.Buffer that one goroutine (a logger, a child's output) can write while
// another reads it. With Limit > 0 it keeps only the first Limit bytes and drops the rest,
// so a chatty writer cannot grow it without bound.
type Buffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len() > b.Limit {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

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
