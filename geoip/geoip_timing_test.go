package geoip

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/spoaguard/spoaguard/internal/geoiptest"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// BenchmarkWalkFullCountry is the load time of a country list from a full-size database: open,
// verify, walk every network and keep the selected ones.
func BenchmarkWalkFullCountry(b *testing.B) {
	db := geoiptest.FullCountryDB()
	for _, bc := range []struct {
		name string
		sel  Selection
	}{
		{"CN+RU", Selection{Countries: []string{"CN", "RU"}}},
		{"all", Selection{Countries: geoiptest.Countries}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var st Stats
			for b.Loop() {
				var err error
				if st, err = Walk(db, bc.sel, func(netip.Prefix) {}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.Networks), "networks")
			b.ReportMetric(float64(st.Selected), "selected")
			b.ReportMetric(float64(len(db))/(1<<20), "db-MiB")
		})
	}
}

// BenchmarkPerRequestLookup is what a country list costs when it is a GeoIP lookup per request
// (as other bouncers do it), for comparison with blocklist.BenchmarkCountryListLookup: look the address
// up in the full-size database and decode its country.
func BenchmarkPerRequestLookup(b *testing.B) {
	db, err := maxminddb.OpenBytes(geoiptest.FullCountryDB())
	if err != nil {
		b.Fatal(err)
	}
	nets := geoiptest.FullCountry(300_000, 100_000)
	rng := rand.New(rand.NewPCG(9, 9))
	addrs := make([]netip.Addr, 1<<16)
	for i := range addrs {
		addrs[i] = netip.MustParsePrefix(nets[rng.IntN(len(nets))].CIDR).Addr()
	}
	selected := map[string]bool{"CN": true, "RU": true}
	b.ReportAllocs()
	cpu := testutil.StartCPUTimer()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		var iso string
		if err := db.Lookup(addrs[i&(len(addrs)-1)]).DecodePath(&iso, "country", "iso_code"); err != nil {
			b.Fatal(err)
		}
		if selected[iso] {
			n++
		}
	}
	cpu.Report(b)
	sinkN = n
}

var sinkN int
