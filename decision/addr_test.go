package decision

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddrText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1\t", "192.0.2.1"},
		{"10.0.0.1, 192.0.2.1", "192.0.2.1"},
		{"::1", "::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		{"1::", "1::"},
		{"::", "::"},
		{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
		{"", ""}, {"unknown", ""}, {"01.2.3.4", ""}, {"1.2.3", ""}, {"1.2.3.4.5", ""},
		{"256.1.1.1", ""}, {"fe80::1%eth0", ""}, {"1:2:3:4:5:6:7:8:9", ""}, {"1::2::3", ""},
		{"12345::", ""}, {"1:2:3:4:5:6:7::8", ""}, {":1::", ""}, {"1.2.3.4:80", ""},
	} {
		var ip [16]byte
		n := parseAddrText([]byte(tc.in), &ip)
		got := ""
		switch n {
		case 4:
			got = netip.AddrFrom4([4]byte(ip[:4])).String()
		case 16:
			got = netip.AddrFrom16(ip).String()
		}
		if got != tc.want {
			t.Errorf("parseAddrText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseAddrText checks the allocation-free parser against netip.ParseAddr.
func FuzzParseAddrText(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "a:b::c", "1::2:3:4:5:6:7", "0.0.0.0", "fe80::1%1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, ",[] \t\r\n\v\f") {
			return // preprocessing (list, brackets, spaces) is tested above
		}
		var ip [16]byte
		n := parseAddrText([]byte(s), &ip)
		a, err := netip.ParseAddr(s)
		ok := err == nil && a.Zone() == "" && len(s) <= maxAddrText
		if (n != 0) != ok {
			t.Fatalf("%q: parseAddrText n=%d, netip ok=%v (%v)", s, n, ok, err)
		}
		if !ok {
			return
		}
		want := a.AsSlice()
		if string(ip[:n]) != string(want) {
			t.Fatalf("%q: got % x, want % x", s, ip[:n], want)
		}
	})
}
