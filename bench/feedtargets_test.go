package bench

import (
	"slices"
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
)

// Targets for real feeds: the listed share is covered by the lists and expected blocked, the
// rest covered by none and expected allowed, the clean IPv6 share is about what was asked, and
// the same seed gives the same file.
func TestListTargetsDecideByTheLists(t *testing.T) {
	var lists []blocklist.List
	for _, src := range []blocklist.Source{
		{Name: "tor", Path: "../testdata/feeds/tor_exit_nodes_mixed_v4v6_2022-03.txt"},
		{Name: "dshield", Path: "../testdata/feeds/dshield_block_2026-08-22.txt"},
	} {
		p, err := blocklist.ParseFile(src)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, blocklist.List{Name: src.Name, Parsed: p})
	}
	snap, err := blocklist.Build(lists, blocklist.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	ts, err := ListTargets(lists, n, 0.1, 0.2, 9)
	if err != nil {
		t.Fatal(err)
	}
	var blocked, v6Clean, clean int
	for _, tg := range ts {
		covered := snap.Lookup(tg.Addr.AsSlice()).Matched != 0
		if covered != tg.Blocked {
			t.Fatalf("%s: expected blocked %v, covered by the lists %v", tg.Addr, tg.Blocked, covered)
		}
		if tg.Blocked {
			blocked++
			continue
		}
		clean++
		if tg.Addr.Is6() {
			v6Clean++
		}
	}
	if len(ts) != n || blocked != n/10 {
		t.Errorf("%d targets, %d blocked; want %d, %d", len(ts), blocked, n, n/10)
	}
	if share := float64(v6Clean) / float64(clean); share < 0.15 || share > 0.25 {
		t.Errorf("IPv6 share of the clean targets %.2f, want about 0.2", share)
	}
	again, err := ListTargets(lists, n, 0.1, 0.2, 9)
	if err != nil || !slices.Equal(again, ts) {
		t.Errorf("the same seed gave other targets (%v)", err)
	}
}

// Zipf draws are heavy-tailed: the first 1% of the targets take most draws, every draw is one
// of the targets, the same seed draws the same, and an exponent the distribution does not
// take is refused.
func TestZipfDrawsAFewTargetsMostOften(t *testing.T) {
	ts := CleanTargets(10000, 0, 3)
	pos := make(map[Target]int, len(ts))
	for i, tg := range ts {
		pos[tg] = i
	}
	draws, err := Zipf(ts, 100000, 1.1, 5)
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, d := range draws {
		i, ok := pos[d]
		if !ok {
			t.Fatalf("drew %v, not a target", d)
		}
		if i < len(ts)/100 {
			top++
		}
	}
	if share := float64(top) / float64(len(draws)); share < 0.5 {
		t.Errorf("the first 1%% of targets took %.2f of the draws, want most", share)
	}
	if again, _ := Zipf(ts, 100000, 1.1, 5); !slices.Equal(again, draws) {
		t.Error("the same seed drew otherwise")
	}
	for _, s := range []float64{1, 0.5, -2} {
		if _, err := Zipf(ts, 10, s, 1); err == nil {
			t.Errorf("exponent %g accepted", s)
		}
	}
	if _, err := Zipf(nil, 10, 1.1, 1); err == nil {
		t.Error("no targets accepted")
	}
}
