package blocklist

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// countrySelections are the lists PERFORMANCE.md quotes: a typical pair, the largest country,
// and every network of the database (the upper bound, as an invert of a small selection is).
var countrySelections = []struct {
	name string
	src  Source
}{
	{"CN+RU", Source{Format: FormatMMDB, Countries: []string{"CN", "RU"}}},
	{"US", Source{Format: FormatMMDB, Countries: []string{"US"}}},
	{"all", Source{Format: FormatMMDB, Countries: geoiptest.Countries}},
}

func loadCountryList(b *testing.B, db []byte, src Source) (*Parsed, *Snapshot) {
	p, _, err := Parse(bytes.NewReader(db), src)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Build([]List{{Name: "geo", Parsed: p}}, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return p, s
}

// BenchmarkCountryListLoad is a country list's load from a full-size database: read, verify
// and walk it, keep the selected networks, build the snapshot. It reports the entries kept,
// the snapshot's memory (Stats.Bytes), the memory of the parsed ranges the manager keeps for
// rebuilds, the heap the loaded list holds in all, and the CPU time of a load.
//
//	go test -run '^$' -bench CountryList -benchmem -count 5 ./blocklist/
func BenchmarkCountryListLoad(b *testing.B) {
	db := geoiptest.FullCountryDB()
	for _, sel := range countrySelections {
		b.Run(sel.name, func(b *testing.B) {
			b.ReportAllocs()
			var p *Parsed
			var s *Snapshot
			cpu0, n := testutil.ProcessCPU(), 0
			for b.Loop() {
				p, s = loadCountryList(b, db, sel.src)
				n++
			}
			// The process's CPU, GC included: wall time on a shared machine says little.
			b.ReportMetric(float64(testutil.ProcessCPU()-cpu0)/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(p.Entries), "entries")
			b.ReportMetric(float64(s.Stats().Bytes), "snapshot-bytes")
			b.ReportMetric(float64(p.Bytes()), "parsed-bytes")
			var before, after runtime.MemStats
			p, s = nil, nil
			runtime.GC()
			runtime.ReadMemStats(&before)
			p, s = loadCountryList(b, db, sel.src)
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "heap-bytes")
			runtime.KeepAlive(p)
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkCountryListLookup is the lookup cost in a snapshot holding only a full-size country
// list: addresses of selected networks (hit) and random ones outside them (miss).
func BenchmarkCountryListLookup(b *testing.B) {
	db := geoiptest.FullCountryDB()
	for _, sel := range countrySelections {
		p, s := loadCountryList(b, db, sel.src)
		for _, c := range []struct {
			name    string
			hit, v6 bool
		}{{"v4-hit", true, false}, {"v4-miss", false, false}, {"v6-hit", true, true}, {"v6-miss", false, true}} {
			addrs := probes(s, p, c.hit, c.v6)
			b.Run(sel.name+"/"+c.name, func(b *testing.B) { benchLookups(b, s, addrs) })
		}
	}
}
