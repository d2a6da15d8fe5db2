package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/bench"
)

// gen-list writes a list and a targets file that agree: every blocked target is listed, and
// the share asked for is blocked.
func TestGenListWritesAListAndMatchingTargets(t *testing.T) {
	dir := t.TempDir()
	list, targets := filepath.Join(dir, "list.txt"), filepath.Join(dir, "targets.txt")
	err := genListCmd([]string{"-n", "1000", "-o", list, "-targets", targets, "-targets-n", "200", "-listed", "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1001 || !strings.HasPrefix(lines[0], "#") {
		t.Fatalf("list has %d lines (want a header and 1000 entries)", len(lines))
	}
	f, err := os.Open(targets)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := bench.ReadTargets(f)
	if err != nil {
		t.Fatal(err)
	}
	blocked := 0
	for _, tg := range ts {
		if tg.Blocked {
			blocked++
		}
	}
	if len(ts) != 200 || blocked != 20 {
		t.Errorf("%d targets, %d blocked; want 200 and 20", len(ts), blocked)
	}
}
