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

// gen-targets reads its lists as spoaguard's -deny names them, and refuses what it cannot
// read with the offending argument.
func TestGenTargetsListArguments(t *testing.T) {
	feeds := "../../testdata/feeds/"
	out := filepath.Join(t.TempDir(), "targets.txt")
	if err := genTargetsCmd([]string{"-o", out, "-n", "100", "-listed", "0.2",
		"ipsum=" + feeds + "stamparm_ipsum.txt,format=ipsum", "tor=" + feeds + "tor_exit_nodes_mixed_v4v6_2022-03.txt"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, err := bench.ReadTargets(f)
	if err != nil || len(ts) != 100 {
		t.Fatalf("%d targets, %v; want 100", len(ts), err)
	}
	for _, arg := range []string{"nopath", "=x.txt", "a=", "a=x.txt,min-count=3", "a=x.txt,format=bogus"} {
		if _, err := listSource(arg); err == nil || !strings.Contains(err.Error(), arg) {
			t.Errorf("%q: error %v, want one naming it", arg, err)
		}
	}
}
