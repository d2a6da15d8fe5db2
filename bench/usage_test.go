package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	line := "4242 (spoa (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 5 0 1234 0 0\n"
	d, err := parseProcStat([]byte(line))
	if err != nil || d != 3250*time.Millisecond {
		t.Errorf("parseProcStat = %s, %v; want 3.25s (325 ticks)", d, err)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a truncated stat line was accepted")
	}
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Errorf("processCPU(self): %v", err)
	}
}

func TestParseMallocs(t *testing.T) {
	metrics := "go_memstats_frees_total 10\ngo_memstats_mallocs_total 1.2345e+06\ngo_goroutines 5\n"
	if n, err := parseMallocs(strings.NewReader(metrics)); err != nil || n != 1234500 {
		t.Errorf("parseMallocs = %d, %v", n, err)
	}
	if _, err := parseMallocs(strings.NewReader("go_goroutines 5\n")); err == nil {
		t.Error("metrics without the counter were accepted")
	}
}
