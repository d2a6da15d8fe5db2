package blocklist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/spoaguard/spoaguard/geoip"
)

// Errors a parse can fail with; test with errors.Is (a load wraps them in a *LoadError).
var (
	ErrEmpty     = errors.New("empty file")
	ErrTruncated = errors.New("file is truncated (completeness marker missing or wrong)")
	ErrGarbage   = errors.New("most lines do not parse (not a blocklist?)")
	// ErrTooBig: the input is over its Source.MaxBytes or Source.MaxEntries cap.
	ErrTooBig = errors.New("file is over its size cap")
)

// SkippedLine is a data line that could not be used.
type SkippedLine struct {
	Line   int
	Text   string // the line, cut to 80 bytes
	Reason string
}

func (s SkippedLine) String() string { return fmt.Sprintf("line %d: %s: %q", s.Line, s.Reason, s.Text) }

// maxReportedSkips bounds how many skipped lines are kept for the report: the count is exact,
// the sample is what a human needs to see what is wrong.
const maxReportedSkips = 10

// Parsed is the content of one source file.
type Parsed struct {
	Format Format // the format used (detected when the source said FormatAuto)

	// Accepted entries in file order, not merged (Ranges gives them merged). IPv4-mapped
	// IPv6 entries are in v4.
	v4 []range4
	v6 []range6
	// Exceptions (ipset "nomatch"): addresses carved out of this list.
	except4 []range4
	except6 []range6
	// compacted: v4 and v6 are normalized (sorted, merged, exceptions removed), except4 and
	// except6 empty.
	compacted bool

	Lines        int // lines read
	Entries      int // data lines accepted
	Filtered     int // data lines dropped on purpose (ipsum count below Source.MinCount)
	Skipped      int // data lines that could not be used
	SkippedLines []SkippedLine
	// Unmatched are, for FormatMMDB, the countries and ASNs of the selection that no network
	// of the database has: they select nothing.
	Unmatched geoip.Selection

	LoadTime time.Duration // reading, parsing and checking the source
}

// Bytes is the memory the parsed ranges hold; the manager keeps them for the next rebuild.
func (p *Parsed) Bytes() int {
	return (cap(p.v4)+cap(p.except4))*int(unsafe.Sizeof(range4{})) + (cap(p.v6)+cap(p.except6))*int(unsafe.Sizeof(range6{}))
}

// compact keeps of p only what a build needs: its ranges normalized, without duplicates or
// exceptions, in slices of their own size. A list of millions of repeated entries shrinks to
// its distinct ranges.
func (p *Parsed) compact() {
	if p.compacted {
		return
	}
	p.v4 = own(subtract4(merge4InPlace(p.v4), merge4InPlace(p.except4)))
	p.v6 = own(subtract6(merge6InPlace(p.v6), merge6InPlace(p.except6)))
	p.except4, p.except6, p.compacted = nil, nil, true
}

// own returns s in an array of its own length: merging leaves the result at the start of an
// array as long as its input, which may be mostly duplicates.
func own[T any](s []T) []T {
	if cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return slices.Clone(s)
}

// ranges4 and ranges6 return p's normalized ranges. They may be p's own slices: do not
// modify them.
func (p *Parsed) ranges4() []range4 {
	if p.compacted {
		return p.v4
	}
	return normalize4(p.v4, p.except4)
}

func (p *Parsed) ranges6() []range6 {
	if p.compacted {
		return p.v6
	}
	return normalize6(p.v6, p.except6)
}

// Ranges yields the addresses the list covers, exceptions removed, as inclusive ranges in
// ascending order, IPv4 first: sorted, disjoint and not adjacent, whatever the file held.
func (p *Parsed) Ranges() iter.Seq2[netip.Addr, netip.Addr] {
	return func(yield func(first, last netip.Addr) bool) {
		for _, r := range p.ranges4() {
			if !yield(addrOf4(r.Lo), addrOf4(r.Hi)) {
				return
			}
		}
		for _, r := range p.ranges6() {
			if !yield(r.Lo.addr(), r.Hi.addr()) {
				return
			}
		}
	}
}

type parser struct {
	src        *Source
	p          *Parsed
	min4, min6 int

	expect    int // FireHOL "Entries : N" or "# END N entries"; -1 when absent
	expectAt  int
	sawEOF    bool // Spamhaus "; EOF"
	eofLine   int
	records   int // Spamhaus JSON metadata "records"; -1 when absent
	recordsAt int
	dataAfter int // first data line after a trailer marker

	maxEntries   int
	err          error // ends the parse: a cap was reached
	unterminated bool  // the last line had no newline and was skipped
}

// cutShort reports whether an unterminated last line s must be skipped: a data line in a
// format whose completeness marker cannot vouch for it. The Spamhaus formats' required
// trailer can (a cut file lacks it), so their last line is read as usual, and so is a
// comment line, which may be a trailer such as "# END 3 entries" without its newline.
func (ps *parser) cutShort(s []byte) bool {
	switch ps.p.Format {
	case FormatSpamhausDROP, FormatSpamhausJSON:
		return false
	}
	return len(s) > 0 && s[0] != '#' && s[0] != ';'
}

func (ps *parser) skip(line []byte, reason string) {
	ps.p.Skipped++
	if len(ps.p.SkippedLines) < maxReportedSkips {
		if len(line) > 80 {
			line = line[:80]
		}
		ps.p.SkippedLines = append(ps.p.SkippedLines, SkippedLine{ps.p.Lines, string(trimSpace(line)), reason})
	}
}

func (ps *parser) line(s []byte) {
	if len(s) == 0 {
		return
	}
	if ps.trailerSeen() && ps.dataAfter == 0 && s[0] != '#' && s[0] != ';' {
		ps.dataAfter = ps.p.Lines
	}
	switch ps.p.Format {
	case FormatSpamhausJSON:
		ps.jsonLine(s)
		return
	case FormatIPSetSave:
		ps.ipsetLine(s)
		return
	}
	if s[0] == '#' {
		ps.commentLine(s[1:])
		return
	}
	if s[0] == ';' {
		if bytes.Equal(trimSpace(s[1:]), []byte("EOF")) {
			ps.sawEOF, ps.eofLine = true, ps.p.Lines
		}
		return
	}
	switch ps.p.Format {
	case FormatIpsum:
		ps.ipsumLine(s)
	case FormatRange:
		ps.rangeLine(s)
	default: // plain, netset, spamhaus-drop
		if e, ok := parseIPv4Entry(s); ok {
			ps.addEntry(s, e, nil, false)
			return
		}
		if !onlyAddrBytes(s) { // a comment, a second field or a range to read first
			s = stripComment(s, true)
			if len(s) == 0 {
				return
			}
			if !bytesContains(s, '-') {
				if i := indexBlank(s); i >= 0 {
					s = s[:i]
				}
			}
		}
		ps.add(s, s, false)
	}
}

// commentLine looks for FireHOL's "Entries : N ..." header and a "END N entries" trailer.
func (ps *parser) commentLine(c []byte) {
	c = trimSpace(c)
	if rest, ok := bytes.CutPrefix(c, []byte("Entries")); ok && ps.expect < 0 {
		rest = trimSpace(rest)
		if rest, ok = bytes.CutPrefix(rest, []byte(":")); ok {
			if n, ok := leadingInt(trimSpace(rest)); ok {
				ps.expect, ps.expectAt = n, ps.p.Lines
			}
		}
		return
	}
	if rest, ok := bytes.CutPrefix(c, []byte("END ")); ok {
		if n, ok := leadingInt(trimSpace(rest)); ok {
			ps.expect, ps.expectAt = n, ps.p.Lines
			ps.sawEOF, ps.eofLine = true, ps.p.Lines
		}
	}
}

func leadingInt(s []byte) (int, bool) {
	n, i := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 12; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, i > 0
}

func (ps *parser) ipsumLine(s []byte) {
	s = stripComment(s, false)
	if len(s) == 0 {
		return
	}
	f := fields(s)
	if len(f) < 2 {
		ps.skip(s, "missing count")
		return
	}
	n, err := strconv.Atoi(string(f[1]))
	if err != nil || n < 0 {
		ps.skip(s, "bad count")
		return
	}
	if n < ps.src.MinCount {
		ps.p.Filtered++
		return
	}
	ps.add(s, f[0], false)
}

func (ps *parser) rangeLine(s []byte) {
	s = stripComment(s, false)
	if len(s) == 0 {
		return
	}
	if bytesContains(s, '-') && !bytes.ContainsAny(s, "\t") {
		ps.add(s, s, false)
		return
	}
	f := fields(s)
	switch {
	case len(f) >= 3 && string(f[1]) == "-":
		ps.addRange(s, f[0], f[2])
	case len(f) >= 2:
		ps.addRange(s, f[0], f[1])
	default:
		ps.add(s, f[0], false)
	}
}

func (ps *parser) addRange(line, a, b []byte) {
	e, err := parseRange(a, b)
	ps.addEntry(line, e, err, false)
}

type spamhausJSON struct {
	CIDR    string `json:"cidr"`
	Type    string `json:"type"`
	Records *int   `json:"records"`
}

func (ps *parser) jsonLine(s []byte) {
	var v spamhausJSON
	if err := json.Unmarshal(s, &v); err != nil {
		ps.skip(s, "bad JSON")
		return
	}
	if v.Type == "metadata" {
		if v.Records != nil {
			ps.records, ps.recordsAt = *v.Records, ps.p.Lines
		} else {
			ps.records, ps.recordsAt = -2, ps.p.Lines
		}
		return
	}
	if v.CIDR == "" {
		ps.skip(s, "no cidr field")
		return
	}
	ps.add(s, []byte(v.CIDR), false)
}

func (ps *parser) ipsetLine(s []byte) {
	if s[0] == '#' {
		return
	}
	f := fields(s)
	switch string(f[0]) {
	case "create", "flush", "destroy", "swap", "rename", "COMMIT":
		return
	case "add":
	default:
		ps.skip(s, "not an ipset add command")
		return
	}
	if len(f) < 3 {
		ps.skip(s, "add without an entry")
		return
	}
	if bytesContains(f[2], ',') {
		ps.skip(s, "ipset entry with port or interface is not an address")
		return
	}
	nomatch := false
	for _, o := range f[3:] {
		if string(o) == "nomatch" {
			nomatch = true
		}
	}
	ps.add(s, f[2], nomatch)
}

func (ps *parser) add(line, tok []byte, except bool) {
	e, err := parseEntry(tok)
	ps.addEntry(line, e, err, except)
}

func (ps *parser) addEntry(line []byte, e entry, err error, except bool) {
	if err != nil {
		ps.skip(line, err.Error())
		return
	}
	if !except && e.widerThan(ps.min4, ps.min6) {
		ps.skip(line, "prefix shorter than the minimum allowed for this list")
		return
	}
	if ps.p.Entries >= ps.maxEntries {
		ps.err = fmt.Errorf("%w: more than %d entries (max-entries)", ErrTooBig, ps.maxEntries)
		return
	}
	ps.p.Entries++
	switch {
	case e.v6 && except:
		ps.p.except6 = append(ps.p.except6, e.r6)
	case e.v6:
		ps.p.v6 = append(ps.p.v6, e.r6)
	case except:
		ps.p.except4 = append(ps.p.except4, e.r4)
	default:
		ps.p.v4 = append(ps.p.v4, e.r4)
	}
}

func (ps *parser) trailerSeen() bool { return ps.sawEOF || ps.records != -1 }

// finish applies the completeness checks. It returns the line an error is about.
func (ps *parser) finish() (int, error) {
	p := ps.p
	data := p.Entries + p.Skipped + p.Filtered
	if ps.dataAfter > 0 {
		return ps.dataAfter, fmt.Errorf("%w: data after the end marker", ErrTruncated)
	}
	if ps.expect >= 0 && data != ps.expect {
		return ps.expectAt, fmt.Errorf("%w: header says %d entries, file has %d", ErrTruncated, ps.expect, data)
	}
	switch p.Format {
	case FormatSpamhausDROP:
		if !ps.sawEOF {
			return 0, fmt.Errorf("%w: no \"; EOF\" line", ErrTruncated)
		}
	case FormatSpamhausJSON:
		if ps.records == -1 {
			return 0, fmt.Errorf("%w: no metadata line", ErrTruncated)
		}
		if ps.records != data {
			return ps.recordsAt, fmt.Errorf("%w: metadata says %d records, file has %d", ErrTruncated, ps.records, data)
		}
	}
	// An unterminated last line says nothing about whether the file is a blocklist.
	if skipped := p.Skipped - btoi(ps.unterminated); skipped > 0 && skipped >= p.Entries+p.Filtered {
		line := 0
		if len(p.SkippedLines) > 0 {
			line = p.SkippedLines[0].Line
		}
		return line, fmt.Errorf("%w: %d of %d data lines skipped", ErrGarbage, p.Skipped, data)
	}
	return 0, nil
}

// onlyAddrBytes reports whether s holds only the bytes of an address or prefix: hex digits,
// ':', '.' and '/'.
func onlyAddrBytes(s []byte) bool {
	for _, c := range s {
		if hexDigits[c] < 0 && c != ':' && c != '.' && c != '/' {
			return false
		}
	}
	return true
}

// indexBlank returns the index of the first space or tab in s, -1 if none. Not
// bytes.IndexAny: that builds its set of bytes at every call, once per line of a feed.
func indexBlank(s []byte) int {
	for i, c := range s {
		if c == ' ' || c == '\t' {
			return i
		}
	}
	return -1
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
