package geoip

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
)

// fullCountryDB is a generated database the size of a full GeoLite2-Country one: 300k IPv4 and
// 100k IPv6 networks.
var fullCountryDB = sync.OnceValue(func() []byte {
	return geoiptest.Build(&testing.T{}, geoiptest.FullCountry(300_000, 100_000), geoiptest.Options{})
})

// BenchmarkWalkFullCountry is the load time of a country list from a full-size database: open,
// verify, walk every network and keep the selected ones.
func BenchmarkWalkFullCountry(b *testing.B) {
	db := fullCountryDB()
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
