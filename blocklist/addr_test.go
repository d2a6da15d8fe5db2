package blocklist

import (
	"net/netip"
	"testing"
)

// addrCase is a text and the address a parser reads in it, "" when it refuses it.
type addrCase struct{ in, want string }

// checkAddrParser checks that parse, named name, reads each case's address and refuses what
// it must, with the zero Addr.
func checkAddrParser(t *testing.T, name string, parse func([]byte) (netip.Addr, bool), cases []addrCase) {
	t.Helper()
	for _, tc := range cases {
		a, ok := parse([]byte(tc.in))
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want || ok != a.IsValid() {
			t.Errorf("%s(%q) = %v, %v; want %q", name, tc.in, a, ok, tc.want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	checkAddrParser(t, "ParseAddr", ParseAddr, []addrCase{
		{"192.0.2.1", "192.0.2.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"255.255.255.255", "255.255.255.255"},
		{"::1", "::1"},
		{"::", "::"},
		{"1::", "1::"},
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		{"2001:DB8::A", "2001:db8::a"},
		{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
		{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
		// Mapped addresses are the IPv4 address they map, as lookups treat them.
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::FFFF:c000:201", "192.0.2.1"},
		// Refused: not exactly one address.
		{"", ""}, {"unknown", ""}, {"1.2.3", ""}, {"1.2.3.4.5", ""}, {"256.1.1.1", ""},
		{"1.2.3.4:80", ""}, {"1.2.3.4/32", ""}, {" 1.2.3.4", ""}, {"1.2.3.4\n", ""},
		{"[::1]", ""}, {"1:2:3:4:5:6:7:8:9", ""}, {"1::2::3", ""}, {"12345::", ""},
		{"1:2:3:4:5:6:7::8", ""}, {":1::", ""}, {"1:", ""}, {"::1.2.3", ""},
		{"1:2:3:4:5:6:7:1.2.3.4", ""}, {"\u00a0::1", ""},
		// Leading zeros: octal to some tools, decimal to others.
		{"01.2.3.4", ""}, {"1.2.3.010", ""}, {"::ffff:01.2.3.4", ""},
		// Zones name an interface of the host they were written on.
		{"fe80::1%eth0", ""}, {"::ffff:1.2.3.4%1", ""},
	})
}

func TestParseLastAddr(t *testing.T) {
	checkAddrParser(t, "ParseLastAddr", ParseLastAddr, []addrCase{
		{"192.0.2.1", "192.0.2.1"},
		{" 192.0.2.1\t", "192.0.2.1"},
		{"10.0.0.1, 192.0.2.1", "192.0.2.1"},
		{"10.0.0.1,192.0.2.1 ", "192.0.2.1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"192.0.2.1, [2001:db8::1]", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"192.0.2.1, unknown", ""},
		{"192.0.2.1,", ""},
		{"[::1", ""}, {"[ ::1 ]", ""}, {"", ""}, {"\u00a0192.0.2.1", ""},
	})
}

// SplitAddr gives the lookups IPv4 for 4 bytes and for an IPv4-mapped IPv6 address, the two
// halves of any other IPv6 address, and nothing for any other length.
func TestSplitAddrFoldsMappedAddressesToIPv4(t *testing.T) {
	for _, tc := range []struct {
		addr   []byte
		family int
		hi, lo uint64 // for family 4, the IPv4 address is lo's low 32 bits
	}{
		{addr: []byte{192, 0, 2, 1}, family: 4, lo: 0xc0000201},
		{addr: netip.MustParseAddr("::ffff:192.0.2.1").AsSlice(), family: 4, lo: 0xc0000201},
		{addr: netip.MustParseAddr("::fffe:192.0.2.1").AsSlice(), family: 16, lo: 0xfffe_c0000201},
		{addr: netip.MustParseAddr("1::ffff:192.0.2.1").AsSlice(), family: 16, hi: 1 << 48, lo: 0xffff_c0000201},
		{addr: netip.MustParseAddr("2001:db8::1").AsSlice(), family: 16, hi: 0x2001_0db8 << 32, lo: 1},
		{addr: []byte{192, 0, 2}},
		{addr: nil},
	} {
		family, hi, lo := SplitAddr(tc.addr)
		if family == 4 {
			hi, lo = 0, uint64(uint32(lo))
		}
		if family != tc.family || family != 0 && (hi != tc.hi || lo != tc.lo) {
			t.Errorf("SplitAddr(%v) = %d, %#x, %#x; want %d, %#x, %#x", tc.addr, family, hi, lo, tc.family, tc.hi, tc.lo)
		}
	}
}

// TestParseAddrDoesNotAllocate: the parser runs on client-controlled header text for every
// request, so neither an address nor garbage may allocate.
func TestParseAddrDoesNotAllocate(t *testing.T) {
	for _, in := range []string{"192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "garbage", "fe80::1%eth0", "1.2.3.4, [::1]"} {
		b := []byte(in)
		if n := testing.AllocsPerRun(100, func() { ParseAddr(b); ParseLastAddr(b) }); n != 0 {
			t.Errorf("%q: %.1f allocations, want 0", in, n)
		}
	}
}

// FuzzParseAddr checks ParseAddr against netip.ParseAddr: the same inputs accepted (zones
// apart), the same address (mapped ones unmapped).
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "a:b::c",
		"1::2:3:4:5:6:7", "0.0.0.0", "fe80::1%1", "01.2.3.4", "::ffff:0:0", "1.2.3.4.5",
		"10.0.0.0/8", "1.2.3.4/33", "1.2.3.4/08", "1.2.3.4/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		wantOK := err == nil && want.Zone() == ""
		if ok != wantOK {
			t.Fatalf("%q: ParseAddr ok=%v, netip: %v, %v", s, ok, want, err)
		}
		if ok && got != want.Unmap() {
			t.Fatalf("%q: got %v, want %v", s, got, want.Unmap())
		}
		// The feed parser's form agrees.
		a4, a6, v6, perr := parseAddr([]byte(s))
		if (perr == nil) != ok {
			t.Fatalf("%q: parseAddr err=%v, ParseAddr ok=%v", s, perr, ok)
		}
		if ok && v6 != got.Is6() {
			t.Fatalf("%q: parseAddr v6=%v for %v", s, v6, got)
		}
		if ok && !v6 && got != addr4(a4) || ok && v6 && got != a6.addr() {
			t.Fatalf("%q: parseAddr gave %x %x for %v", s, a4, a6, got)
		}
		// The feed parser's IPv4 fast path reads what it accepts as parseEntry does.
		if e, ok := parseIPv4Entry([]byte(s)); ok {
			if want, err := parseEntry([]byte(s)); err != nil || e != want {
				t.Fatalf("%q: parseIPv4Entry gave %+v, parseEntry %+v, %v", s, e, want, err)
			}
		}
	})
}
