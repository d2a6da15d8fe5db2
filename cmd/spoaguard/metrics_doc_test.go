package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricName is a spoaguard metric's name where the code registers it: a string literal's
// start ("spoaguard_x" or `spoaguard_x{label="v"}`).
var metricName = regexp.MustCompile("[\"`](spoaguard_[a-z0-9_]+)")

// TestEveryMetricIsInTheREADMEsTable: each metric the agent's packages register (in any of
// the module's non-test Go files, so that the series of a feature off by default count too)
// has a row in the README's metrics table, and no row is there twice.
func TestEveryMetricIsInTheREADMEsTable(t *testing.T) {
	registered := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricName.FindAllSubmatch(b, -1) {
			registered[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(registered) < 50 {
		t.Fatalf("found only %d metric names in the code: %v", len(registered), registered)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n| series | meaning |\n")
	table, _, _ = strings.Cut(table, "\n\n")
	documented := map[string]int{}
	for _, row := range strings.Split(table, "\n") {
		series, _, _ := strings.Cut(strings.TrimPrefix(row, "| "), " | ")
		for _, m := range regexp.MustCompile("`(spoaguard_[a-z0-9_]+)").FindAllStringSubmatch(series, -1) {
			documented[m[1]]++
		}
	}
	var missing, twice []string
	for name := range registered {
		if documented[name] == 0 {
			missing = append(missing, name)
		}
	}
	for name, n := range documented {
		if n > 1 {
			twice = append(twice, name)
		}
		if !registered[name] {
			t.Errorf("README.md's metrics table has %s, which no code registers", name)
		}
	}
	slices.Sort(missing)
	slices.Sort(twice)
	if len(missing) > 0 {
		t.Errorf("README.md's metrics table lacks %s", strings.Join(missing, ", "))
	}
	if len(twice) > 0 {
		t.Errorf("README.md's metrics table has rows for %s more than once", strings.Join(twice, ", "))
	}
}
