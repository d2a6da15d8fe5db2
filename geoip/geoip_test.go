package geoip

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
)

func walk(t *testing.T, db []byte, sel Selection) ([]string, Stats, error) {
	t.Helper()
	var got []string
	st, err := Walk(db, sel, func(p netip.Prefix) { got = append(got, p.String()) })
	slices.Sort(got)
	return got, st, err
}

var countryNets = []geoiptest.Network{
	{CIDR: "192.0.2.0/24", Country: "CN"},
	{CIDR: "198.51.100.0/25", Country: "RU"},
	{CIDR: "198.51.100.128/25", Country: "US"}, // matches no selected country
	{CIDR: "203.0.113.0/24", Country: "US"},
	{CIDR: "2001:db8:1::/48", Country: "CN"},
	{CIDR: "2001:db8:2::/48", Country: "US"},
	{CIDR: "2001:db8:3::/48", Country: "RU"},
}

func TestWalkKeepsTheSelectedNetworks(t *testing.T) {
	cases := []struct {
		name string
		nets []geoiptest.Network
		opt  geoiptest.Options
		sel  Selection
		want []string
	}{
		{"v4 and v6, IPv4 aliased as in real databases", countryNets, geoiptest.Options{},
			Selection{Countries: []string{"CN", "RU"}},
			[]string{"192.0.2.0/24", "198.51.100.0/25", "2001:db8:1::/48", "2001:db8:3::/48"}},
		{"IPv4 database", countryNets[:4], geoiptest.Options{IPv4Only: true},
			Selection{Countries: []string{"RU"}}, []string{"198.51.100.0/25"}},
		{"IPv4-mapped subtree with records of its own", []geoiptest.Network{
			{CIDR: "::ffff:203.0.113.0/120", Country: "CN"},
			{CIDR: "192.0.2.0/24", Country: "CN"},
			{CIDR: "::ffff:198.51.100.0/120", Country: "US"},
		}, geoiptest.Options{NoAliasing: true},
			Selection{Countries: []string{"CN"}}, []string{"192.0.2.0/24", "203.0.113.0/24"}},
		{"no network of the selected country", countryNets, geoiptest.Options{},
			Selection{Countries: []string{"DE"}}, nil},
		{"ASN database", []geoiptest.Network{
			{CIDR: "192.0.2.0/24", ASN: 64496},
			{CIDR: "198.51.100.0/24", ASN: 64500},
			{CIDR: "2001:db8::/32", ASN: 64511},
		}, geoiptest.Options{}, Selection{ASNs: []uint32{64496, 64511}},
			[]string{"192.0.2.0/24", "2001:db8::/32"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, st, err := walk(t, geoiptest.Build(t, tc.nets, tc.opt), tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kept %q, want %q", got, tc.want)
			}
			if st.Networks != len(tc.nets) || st.Selected != len(tc.want) {
				t.Errorf("stats %+v: want %d networks, %d selected", st, len(tc.nets), len(tc.want))
			}
		})
	}
}

func TestWalkRefusesBadDatabases(t *testing.T) {
	good := geoiptest.Build(t, countryNets, geoiptest.Options{})
	sel := Selection{Countries: []string{"CN"}}
	metaAt := bytes.LastIndex(good, []byte("\xab\xcd\xefMaxMind.com"))
	if metaAt < 0 {
		t.Fatal("no metadata marker in the test database")
	}
	corrupt := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := []struct {
		name string
		db   []byte
		sel  Selection
		want string
	}{
		{"truncated", good[:len(good)/2], sel, "invalid MaxMind DB"},
		{"empty", nil, sel, ""},
		{"not a database", []byte(strings.Repeat("192.0.2.1\n", 100)), sel, ""},
		{"search tree overwritten", corrupt(func(b []byte) {
			for i := 0; i < 64; i++ {
				b[i] = 0xff
			}
		}), sel, "corrupt"},
		{"data section overwritten", corrupt(func(b []byte) {
			for i := metaAt - 40; i < metaAt; i++ {
				b[i] = 0xff
			}
		}), sel, ""},
		{"countries of an ASN database", geoiptest.Build(t, []geoiptest.Network{{CIDR: "192.0.2.0/24", ASN: 64496}}, geoiptest.Options{}),
			sel, "GeoLite2-ASN"},
		{"asns of a Country database", good, Selection{ASNs: []uint32{64496}}, "GeoLite2-Country"},
		{"empty selection", good, Selection{}, "empty selection"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := walk(t, tc.db, tc.sel)
			if err == nil {
				t.Fatalf("accepted, kept %q", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v does not say %q", err, tc.want)
			}
		})
	}
	if _, _, err := walk(t, good, Selection{ASNs: []uint32{64496}}); !errors.Is(err, ErrNoSuchField) {
		t.Errorf("err %v, want ErrNoSuchField", err)
	}
}

func TestReadCapsTheSize(t *testing.T) {
	var r zeros
	if _, err := read(&r, 1<<20, Selection{Countries: []string{"CN"}}, func(netip.Prefix) {}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err %v", err)
	}
	if r.n > 2<<20 {
		t.Errorf("read %d bytes for a cap of 1 MiB", r.n)
	}
}

type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) { clear(p); z.n += len(p); return len(p), nil }

func TestParseSelection(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{{"cn", "CN", true}, {" RU", "RU", true}, {"CHN", "", false}, {"C1", "", false}, {"", "", false},
		{"uk", "", false}, {"EL", "", false}, {"GB", "GB", true}, {"GR", "GR", true}} {
		got, err := ParseCountry(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseCountry(%q) = %q, %v", tc.in, got, err)
		}
	}
	if _, err := ParseCountry("UK"); err == nil || !strings.Contains(err.Error(), "is GB") {
		t.Errorf("ParseCountry(UK): %v, want an error naming GB", err)
	}
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{{"64496", 64496, true}, {"AS64511", 64511, true}, {"as1", 1, true}, {"0", 0, false}, {"4294967296", 0, false}, {"AS", 0, false}, {"-1", 0, false}} {
		got, err := ParseASN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseASN(%q) = %d, %v", tc.in, got, err)
		}
	}
	if s := (Selection{Countries: []string{"CN", "RU"}, ASNs: []uint32{64496}}).String(); s != "countries=CN+RU,asns=64496" {
		t.Errorf("String() = %q", s)
	}
}

// Unmatched names the selected countries and ASNs that no network of the database has, in the
// selection's order.
func TestWalkNamesTheSelectorsThatMatchNothing(t *testing.T) {
	countries := geoiptest.Build(t, countryNets, geoiptest.Options{})
	asns := geoiptest.Build(t, []geoiptest.Network{
		{CIDR: "192.0.2.0/24", ASN: 64496},
		{CIDR: "2001:db8::/32", ASN: 64511},
	}, geoiptest.Options{})
	for _, tc := range []struct {
		name string
		db   []byte
		sel  Selection
		want Selection
	}{
		{"every country matches", countries, Selection{Countries: []string{"CN", "US"}}, Selection{}},
		{"some countries match nothing", countries, Selection{Countries: []string{"XX", "CN", "DE"}}, Selection{Countries: []string{"XX", "DE"}}},
		{"no country matches", countries, Selection{Countries: []string{"DE"}}, Selection{Countries: []string{"DE"}}},
		{"an ASN absent from the database", asns, Selection{ASNs: []uint32{64496, 64999}}, Selection{ASNs: []uint32{64999}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, st, err := walk(t, tc.db, tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.Unmatched.Countries, tc.want.Countries) || !slices.Equal(st.Unmatched.ASNs, tc.want.ASNs) {
				t.Errorf("unmatched %+v, want %+v", st.Unmatched, tc.want)
			}
		})
	}
}
