package geoip

import (
	"net/netip"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
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
