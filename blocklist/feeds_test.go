package blocklist

import (
	"net/netip"
	"path/filepath"
	"testing"
)

func feedPath(name string) string { return filepath.Join("..", "testdata", "feeds", name) }

// The counts below are the ones testdata/feeds/README.md gives (computed independently with
// Python's ipaddress module).
func TestRealFeeds(t *testing.T) {
	tests := []struct {
		file    string
		src     Source
		format  Format
		entries int
		v4, v6  int
		addrs4  uint64 // 0 = not checked
	}{
		{file: "stamparm_ipsum.txt", format: FormatIpsum, entries: 120430, v4: 120430},
		{file: "stamparm_ipsum.txt", src: Source{MinCount: 3}, format: FormatIpsum, entries: 14217, v4: 14217},
		{file: "firehol_level1_2021-06-28.netset", src: Source{AllowShortPrefixes: true}, format: FormatNetset,
			entries: 2892, v4: 2892, addrs4: 619304666},
		{file: "cymru_fullbogons-ipv4_2024-03-10.txt", src: Source{AllowShortPrefixes: true}, format: FormatPlain, entries: 703, v4: 703},
		{file: "cymru_fullbogons-ipv6_2024-03-10.txt.gz", src: Source{AllowShortPrefixes: true}, format: FormatPlain,
			entries: 143544, v6: 143544},
		{file: "tor_exit_nodes_mixed_v4v6_2022-03.txt", format: FormatPlain, entries: 2030, v4: 1277, v6: 753},
		{file: "dshield_block_2026-08-22.txt", format: FormatRange, entries: 20, v4: 20, addrs4: 20 * 256},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src := tt.src
			src.Name, src.Path = "test", feedPath(tt.file)
			p, err := ParseFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != tt.format {
				t.Errorf("format = %v, want %v", p.Format, tt.format)
			}
			if p.Entries != tt.entries || len(p.v4) != tt.v4 || len(p.v6) != tt.v6 || p.Skipped != 0 {
				t.Errorf("entries=%d v4=%d v6=%d skipped=%d %v, want %d %d %d 0", p.Entries, len(p.v4), len(p.v6),
					p.Skipped, p.SkippedLines, tt.entries, tt.v4, tt.v6)
			}
			if tt.addrs4 != 0 {
				if got := p.addresses4(); got != tt.addrs4 {
					t.Errorf("addresses = %d, want %d", got, tt.addrs4)
				}
			}
		})
	}
}

// Short prefixes are refused by default: firehol_level1 holds 224.0.0.0/3, the IPv6 bogons
// hold 8000::/1 and 4000::/2.
func TestShortPrefixesRefusedByDefault(t *testing.T) {
	p, err := ParseFile(Source{Name: "firehol", Path: feedPath("firehol_level1_2021-06-28.netset")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Skipped != 1 || p.SkippedLines[0].Text != "224.0.0.0/3" {
		t.Fatalf("skipped %d %v, want 224.0.0.0/3 only", p.Skipped, p.SkippedLines)
	}
}

func TestIPv6BogonsHitRate(t *testing.T) {
	p, err := ParseFile(Source{Name: "bogons6", Path: feedPath("cymru_fullbogons-ipv6_2024-03-10.txt.gz"), AllowShortPrefixes: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build([]List{{Name: "bogons6", Parsed: p}}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(normalize6(p.v6, nil)); got != 33727 {
		t.Errorf("merged ranges = %d, want 33727", got)
	}
	// ::/10 covers ::ffff:0:0/96, but mapped clients are looked up as IPv4.
	for _, a := range []string{"::ffff:8.8.8.8", "::ffff:10.0.0.1"} {
		if r := s.LookupAddr(netip.MustParseAddr(a)); r.Blocked {
			t.Errorf("%s blocked by the IPv6 bogons", a)
		}
	}
	if r := s.LookupAddr(netip.MustParseAddr("::1")); !r.Blocked || r.Deny != 0 {
		t.Errorf("::1 = %+v, want blocked by list 0", r)
	}
}
