package blocklist

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzAddrLinesReadAsTheLineParserDoes: a line read by the buffer's address pass (any line
// after the first) gives what the line parser gives it as a first line: the same entries, ranges
// and skip reasons, in each format the pass serves.
func FuzzAddrLinesReadAsTheLineParserDoes(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.0/24", "10.0.0.0/7", "192.0.2.1/33",
		"192.0.2.1/024", "192.0.2.1/", "192.0.2.1/2400", "192.0.2.1\r", "192.0.2.1 ", "192.0.2.1\t#",
		"192.0.2.1-192.0.2.9", "192.0.2.1;x", "192.0.2.1.5", "192.0.2.1234", "1.2.3.04", "256.1.1.1",
		"2001:db8::1", "::ffff:192.0.2.1", "2001:db8::/32", "2001:db8::/8", "2001:db8::1\r", "::/0",
		"2001:db8::1/129", "fe80::1%1", "2001:DB8::1:2:3:4:5:6:7", "192.0.2.1\r\r", "192.0.2.1\n192.0.2.2\r\n1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "#;\n") && !strings.HasPrefix(line, "192.0.2.1\n") {
			return // a comment or a trailer would end the file differently in the two forms
		}
		for _, format := range []Format{FormatPlain, FormatNetset, FormatSpamhausDROP} {
			src := Source{Format: format, AllowEmpty: true}
			end := "\n"
			if format == FormatSpamhausDROP {
				end = "\n; EOF\n"
			}
			first, _, err1 := Parse(strings.NewReader(line+end), src)
			later, _, err2 := Parse(strings.NewReader("#\n"+line+end), src)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s %q: errors %v and %v", format, line, err1, err2)
			}
			if err1 != nil {
				continue
			}
			if first.Entries != later.Entries || first.Skipped != later.Skipped ||
				!slices.Equal(first.v4, later.v4) || !slices.Equal(first.v6, later.v6) {
				t.Fatalf("%s %q: first line %d entries %d skipped %v, later line %d %d %v",
					format, line, first.Entries, first.Skipped, first.v4, later.Entries, later.Skipped, later.v4)
			}
			for i := range first.SkippedLines {
				a, b := first.SkippedLines[i], later.SkippedLines[i]
				if a.Reason != b.Reason || a.Text != b.Text || a.Line+1 != b.Line {
					t.Fatalf("%s %q: skipped %v and %v", format, line, a, b)
				}
			}
		}
	})
}

// TestAddrLinesPassCountsLinesAndCaps: the buffer's address pass counts lines, reports a skipped
// line by its number and stops at the entry cap, over more lines than one buffer holds.
func TestAddrLinesPassCountsLinesAndCaps(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("# list\n")
	for i := range 100_000 {
		b.WriteString(addr4(uint32(0x0a000000 + i)).String())
		b.WriteString("\n")
	}
	b.WriteString("10.0.0.0/4\n2001:db8::/8\n2001:db8::1\r\n192.0.2.1\r\n")
	p, _, err := Parse(bytes.NewReader(b.Bytes()), Source{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Lines != 100_005 || p.Entries != 100_002 || p.Skipped != 2 || p.SkippedLines[1].Line != 100_003 {
		t.Fatalf("lines %d entries %d skipped %v", p.Lines, p.Entries, p.SkippedLines)
	}
	if _, line, err := Parse(bytes.NewReader(b.Bytes()), Source{MaxEntries: 70_000}); err == nil || line != 70_002 {
		t.Errorf("over the cap: line %d, %v; want the error at line 70002", line, err)
	}
}
