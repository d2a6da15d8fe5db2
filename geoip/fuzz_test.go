package geoip

import (
	"net/netip"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
)

// FuzzWalk: no database, however damaged, makes Walk panic, hang or keep an invalid prefix;
// the seeds are real small databases (v4, v6 with aliases, ASN), which the fuzzer mutates.
func FuzzWalk(f *testing.F) {
	f.Add(geoiptest.Build(f, countryNets, geoiptest.Options{}))
	f.Add(geoiptest.Build(f, countryNets[:4], geoiptest.Options{IPv4Only: true}))
	f.Add(geoiptest.Build(f, []geoiptest.Network{{CIDR: "192.0.2.0/24", ASN: 64496}}, geoiptest.Options{}))
	sel := Selection{Countries: []string{"CN", "RU"}, ASNs: []uint32{64496}}
	f.Fuzz(func(t *testing.T, db []byte) {
		_, _ = Walk(db, sel, func(p netip.Prefix) {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("kept %v", p)
			}
		})
	})
}
