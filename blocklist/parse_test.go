package blocklist

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseString(t testing.TB, text string, src Source) (*Parsed, error) {
	t.Helper()
	p, line, err := Parse(strings.NewReader(text), src)
	if err != nil {
		return nil, &LoadError{Name: "t", Path: "mem", Line: line, Err: err}
	}
	return p, nil
}

// TestParse: a file is read into its format and its entries, the lines it cannot use skipped and
// counted; or it is refused as a whole, with the reason and the line it was found at.
func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		src     Source
		format  Format
		v4      []range4
		v6      int
		except  int
		skipped int
		err     error // the file is refused
		line    int   // the line of the refusal
	}{
		{name: "plain mixed forms and comments", format: FormatPlain,
			text: "# header\n; also a comment\n1.2.3.4\n10.0.0.0/8 # inline\n192.0.2.10-192.0.2.20\n192.0.2.99 ; inline\n\n2001:db8::/32\n",
			v4:   []range4{{0x01020304, 0x01020304}, {0x0a000000, 0x0affffff}, {0xc000020a, 0xc0000214}, {0xc0000263, 0xc0000263}}, v6: 1},
		{name: "CRLF BOM and whitespace", format: FormatPlain,
			text: "\xef\xbb\xbf1.2.3.4\r\n  5.6.7.8  \r\n\t9.9.9.0/24\r\n",
			v4:   []range4{{0x01020304, 0x01020304}, {0x05060708, 0x05060708}, {0x09090900, 0x090909ff}}},
		{name: "host bits masked and mapped entries become IPv4", format: FormatPlain,
			text: "1.2.3.4/24\n::ffff:5.6.7.8\n::ffff:9.9.9.9/120\n",
			v4:   []range4{{0x01020300, 0x010203ff}, {0x05060708, 0x05060708}, {0x09090900, 0x090909ff}}},
		{name: "bad lines are skipped and counted", format: FormatPlain,
			text:    "942.180.233.122\n2001:41d0\n01.2.3.4\nfe80::1%eth0\n1.2.3.4/33\n1.2.3.0/024\n1.1.1.1\n1.1.1.2\n1.1.1.3\n1.1.1.4\n1.1.1.5\n1.1.1.6\n1.1.1.7\n",
			skipped: 6, v4: []range4{{0x01010101, 0x01010101}, {0x01010102, 0x01010102}, {0x01010103, 0x01010103},
				{0x01010104, 0x01010104}, {0x01010105, 0x01010105}, {0x01010106, 0x01010106}, {0x01010107, 0x01010107}}},
		{name: "short prefixes refused", format: FormatPlain,
			text:    "0.0.0.0/1\n10.0.0.0/8\n2001::/15\n1.0.0.0-3.0.0.0\n1.2.3.4\n5.6.7.8\n9.9.9.9\n",
			skipped: 3, v4: []range4{{0x0a000000, 0x0affffff}, {0x01020304, 0x01020304}, {0x05060708, 0x05060708}, {0x09090909, 0x09090909}}},
		{name: "short prefixes allowed", src: Source{AllowShortPrefixes: true}, format: FormatPlain,
			text: "0.0.0.0/1\n", v4: []range4{{0, 0x7fffffff}}},
		{name: "spamhaus drop", format: FormatSpamhausDROP,
			text: "; Spamhaus DROP List\n; Last-Modified: x\n1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\n; EOF\n",
			v4:   []range4{{0x010a1000, 0x010a1fff}, {0x0238c000, 0x0238c3ff}}},
		{name: "spamhaus json", format: FormatSpamhausJSON,
			text: `{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}` + "\n" +
				`{"cidr":"2001:db8::/32","sblid":"SBL1","rir":"ripencc"}` + "\n" +
				`{"type":"metadata","timestamp":1,"size":2,"records":2,"copyright":"x"}` + "\n",
			v4: []range4{{0x010a1000, 0x010a1fff}}, v6: 1},
		{name: "ipsum with minimum count", src: Source{MinCount: 2}, format: FormatIpsum,
			text: "# IPsum\n# IP\tnumber of (black)lists\n1.2.3.4\t3\n5.6.7.8\t1\n9.9.9.9\t2\n",
			v4:   []range4{{0x01020304, 0x01020304}, {0x09090909, 0x09090909}}},
		{name: "dshield ranges", format: FormatRange,
			text: "# header\n45.194.67.0\t45.194.67.255\t24\t156\tAfrica-on-Cloud-AS\tZA\t>>UNKNOWN<<\n1.2.3.4-1.2.3.5\n",
			v4:   []range4{{0x2dc24300, 0x2dc243ff}, {0x01020304, 0x01020305}}},
		{name: "ipset save with nomatch", format: FormatIPSetSave,
			text: "create bl hash:net family inet hashsize 1024 maxelem 65536\nadd bl 10.0.0.0/8\nadd bl 10.1.0.0/16 nomatch\nadd bl 192.0.2.1 timeout 300\n",
			v4:   []range4{{0x0a000000, 0x0affffff}, {0xc0000201, 0xc0000201}}, except: 1},
		{name: "firehol entries header", format: FormatNetset,
			text: "#\n# firehol_level1\n# Entries         : 2 subnets, 257 unique IPs\n1.2.3.0/24\n5.6.7.8\n",
			v4:   []range4{{0x01020300, 0x010203ff}, {0x05060708, 0x05060708}}},
		{name: "END trailer", format: FormatPlain,
			text: "1.2.3.4\n5.6.7.8\n# END 2 entries\n",
			v4:   []range4{{0x01020304, 0x01020304}, {0x05060708, 0x05060708}}},

		{name: "empty", text: "", err: ErrEmpty},
		{name: "garbage html", text: "<html>\n<body>502 Bad Gateway</body>\n</html>\n", err: ErrGarbage, line: 1},
		{name: "mostly garbage", text: "1.2.3.4\nnope\nnope\n", err: ErrGarbage, line: 2},
		{name: "drop without EOF", text: "; DROP\n1.10.16.0/20 ; SBL256894\n", err: ErrTruncated},
		{name: "drop data after EOF", text: "1.10.16.0/20 ; SBL256894\n; EOF\n1.2.3.0/24 ; SBL1\n", err: ErrTruncated, line: 3},
		{name: "json without metadata", text: `{"cidr":"1.10.16.0/20","sblid":"SBL256894"}` + "\n", err: ErrTruncated},
		{name: "json records mismatch", text: `{"cidr":"1.10.16.0/20"}` + "\n" + `{"type":"metadata","records":5}` + "\n", err: ErrTruncated, line: 2},
		{name: "firehol short", text: "# Entries : 3 subnets\n1.2.3.4\n5.6.7.8\n", err: ErrTruncated, line: 1},
		{name: "END mismatch", text: "1.2.3.4\n# END 3 entries\n", err: ErrTruncated, line: 2},
		{name: "forced drop format", text: "1.2.3.4\n", src: Source{Format: FormatSpamhausDROP}, err: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseString(t, tt.text, tt.src)
			if err != nil || tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				var le *LoadError
				if errors.As(err, &le) && le.Line != tt.line {
					t.Errorf("line = %d, want %d (%v)", le.Line, tt.line, err)
				}
				return
			}
			if p.Format != tt.format {
				t.Errorf("format = %v, want %v", p.Format, tt.format)
			}
			if len(p.v4) != len(tt.v4) {
				t.Fatalf("v4 = %x, want %x (skipped %v)", p.v4, tt.v4, p.SkippedLines)
			}
			for i := range p.v4 {
				if p.v4[i] != tt.v4[i] {
					t.Errorf("v4[%d] = %x, want %x", i, p.v4[i], tt.v4[i])
				}
			}
			if len(p.v6) != tt.v6 || len(p.except4)+len(p.except6) != tt.except || p.Skipped != tt.skipped {
				t.Errorf("v6=%d except=%d skipped=%d %v, want %d %d %d", len(p.v6), len(p.except4)+len(p.except6),
					p.Skipped, p.SkippedLines, tt.v6, tt.except, tt.skipped)
			}
		})
	}
}

func TestSkippedLinesAreReportedWithLineNumbers(t *testing.T) {
	p, err := parseString(t, "1.1.1.1\n942.180.233.122\n2.2.2.2\n3.3.3.3\n2001:41d0\n", Source{})
	if err != nil {
		t.Fatal(err)
	}
	want := []SkippedLine{{2, "942.180.233.122", "not an IP address"}, {5, "2001:41d0", "not an IP address"}}
	if len(p.SkippedLines) != 2 || p.SkippedLines[0] != want[0] || p.SkippedLines[1] != want[1] {
		t.Errorf("skipped = %v, want %v", p.SkippedLines, want)
	}
}

// A truncated copy of the real FireHOL file fails its "Entries :" header.
func TestTruncatedRealFeed(t *testing.T) {
	data, err := os.ReadFile(feedPath("firehol_level1_2021-06-28.netset"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "firehol.netset")
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(Source{Name: "firehol", Path: path, AllowShortPrefixes: true})
	if !errors.Is(err, ErrTruncated) || !strings.HasPrefix(err.Error(), "firehol: "+path+": line 23: ") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorNamesMissingFile(t *testing.T) {
	_, err := ParseFile(Source{Name: "x", Path: "/nonexistent/list.txt"})
	if err == nil || !strings.HasPrefix(err.Error(), "x: /nonexistent/list.txt: ") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestGzipAnyFormat(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("1.2.3.4\t5\n6.7.8.9\t1\n"))
	zw.Close()
	p, _, err := Parse(&buf, Source{MinCount: 2})
	if err != nil || p.Format != FormatIpsum || len(p.v4) != 1 || p.Filtered != 1 {
		t.Fatalf("p=%+v err=%v", p, err)
	}
}

func TestLongLinesAreSkippedNotBuffered(t *testing.T) {
	text := "1.2.3.4\n" + strings.Repeat("x", 3*maxLineLen) + "\n5.6.7.8\n9.9.9.9\n"
	p, err := parseString(t, text, Source{})
	if err != nil || p.Skipped != 1 || len(p.v4) != 3 {
		t.Fatalf("p=%+v err=%v", p, err)
	}
}

func TestParseFormatNames(t *testing.T) {
	for f := FormatAuto; f < numFormats; f++ {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("nope"); err == nil {
		t.Error("ParseFormat(nope) succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4\n10.0.0.0/8\n", "# Entries : 1\n1.2.3.4\n", "1.10.16.0/20 ; SBL1\n; EOF\n",
		`{"cidr":"1.2.3.0/24"}` + "\n" + `{"type":"metadata","records":1}`, "1.2.3.4\t3\n",
		"1.2.3.4\t1.2.3.9\t24\n", "add s 1.2.3.0/24 nomatch\n", "::ffff:1.2.3.4/100\n", "1.2.3.4-::1\n",
		"\xef\xbb\xbf2001:db8::/32\r\n", "\x1f\x8b",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		src := Source{Format: Format(format % uint8(numFormats))}
		if src.Format == FormatIpsum {
			src.MinCount = 2
		}
		p, _, err := Parse(bytes.NewReader(data), src)
		if err != nil {
			return
		}
		for _, r := range p.v4 {
			if r.Hi < r.Lo {
				t.Fatalf("backwards range %x", r)
			}
		}
		for _, r := range p.v6 {
			if r.Hi.less(r.Lo) {
				t.Fatalf("backwards range %x", r)
			}
		}
		s, err := Build([]List{{Name: "f", Parsed: p}}, BuildOptions{BloomMinExact: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.v4 {
			if res := s.LookupAddr(addr4(r.Lo)); res.Matched == 0 && !coveredByExcept(p, r.Lo) {
				t.Fatalf("%x not matched", r.Lo)
			}
		}
	})
}

func addr4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

func coveredByExcept(p *Parsed, a uint32) bool {
	for _, r := range p.except4 {
		if r.Lo <= a && a <= r.Hi {
			return true
		}
	}
	return false
}
