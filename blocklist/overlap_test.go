package blocklist

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestOverlappingNamesThePrefixesAListTouches(t *testing.T) {
	pfxs := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("::1/128"),
	}
	for _, tc := range []struct {
		name, list string
		want       []string
	}{
		{"public only", "1.2.3.4\n8.8.8.0/24\n2001:db8::/32\n", nil},
		{"inside a prefix", "10.1.2.3\n", []string{"10.0.0.0/8"}},
		{"range straddling the start", "192.167.255.250-192.168.0.3\n", []string{"192.168.0.0/16"}},
		{"wider than the prefix", "96.0.0.0/3\n", []string{"127.0.0.0/8"}},
		{"ipv6", "fd12::1\n::1\n", []string{"fc00::/7", "::1/128"}},
		{"just past the end", "11.0.0.0\n192.169.0.0\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := Parse(strings.NewReader(tc.list), Source{Name: "t", Path: "t", Format: FormatPlain, AllowShortPrefixes: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range p.Overlapping(pfxs) {
				got = append(got, o.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Overlapping = %v, want %v", got, tc.want)
			}
		})
	}
}
