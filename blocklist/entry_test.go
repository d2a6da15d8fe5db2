package blocklist

import "testing"

func TestParseEntryCanonicalForms(t *testing.T) {
	tests := []struct {
		in, want string
		bits     int
	}{
		{"203.0.113.7", "203.0.113.7", 32},
		{" 203.0.113.7\t", "203.0.113.7", 32},
		{"::ffff:203.0.113.7", "203.0.113.7", 32},
		{"198.51.100.77/24", "198.51.100.0/24", 24},
		{"::ffff:198.51.100.0/120", "198.51.100.0/24", 24},
		{"192.0.2.1-192.0.2.9", "192.0.2.1-192.0.2.9", -1},
		{"192.0.2.1-192.0.2.1", "192.0.2.1", 32},
		{"2001:db8::1", "2001:db8::1", 128},
		{"2001:DB8::1:2/64", "2001:db8::/64", 64},
		{"2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8::ff", -1},
		// A range that is exactly a prefix is that prefix: one entry, one key.
		{"192.0.2.0-192.0.2.255", "192.0.2.0/24", 24},
		{"192.0.2.2-192.0.2.3", "192.0.2.2/31", 31},
		{"0.0.0.0-255.255.255.255", "0.0.0.0/0", 0},
		{"::ffff:192.0.2.0-::ffff:192.0.2.127", "192.0.2.0/25", 25},
		{"2001:db8::-2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64", 64},
		{"2001:db8::-2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8::/63", 63},
		{"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0", 0},
		{"192.0.2.1-192.0.2.2", "192.0.2.1-192.0.2.2", -1},
		{"192.0.2.0-192.0.2.2", "192.0.2.0-192.0.2.2", -1},
		{"2001:db8::1-2001:db8::2", "2001:db8::1-2001:db8::2", -1},
	}
	for _, tt := range tests {
		e, err := ParseEntry(tt.in)
		if err != nil {
			t.Errorf("ParseEntry(%q): %v", tt.in, err)
			continue
		}
		if e.String() != tt.want || e.Bits != tt.bits {
			t.Errorf("ParseEntry(%q) = %s /%d, want %s /%d", tt.in, e, e.Bits, tt.want, tt.bits)
		}
	}
}

func TestParseEntryRefusesWhatListFilesRefuse(t *testing.T) {
	for _, in := range []string{"", "example.com", "1.2.3", "01.2.3.4", "fe80::1%eth0", "1.2.3.4/33", "1.2.3.4/", "10.0.0.9-10.0.0.1", "1.2.3.4-::1"} {
		if e, err := ParseEntry(in); err == nil {
			t.Errorf("ParseEntry(%q) = %s, want an error", in, e)
		}
	}
}

func TestEntryWiderThanFollowsTheMinimumPrefix(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"10.0.0.0/8", false},
		{"10.0.0.0/7", true},
		{"10.0.0.0-11.0.0.0", true},
		{"10.0.0.0-10.255.255.255", false},
		{"2001::/16", false},
		{"2000::/15", true},
		{"2001:db8::1", false},
	}
	for _, tt := range tests {
		e, err := ParseEntry(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.WiderThan(DefaultMinPrefixV4, DefaultMinPrefixV6); got != tt.want {
			t.Errorf("%s.WiderThan(/8, /16) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
