package blocklist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Errors a load can fail with; test with errors.Is. The returned error is a *LoadError that says
// which source, which file and (where relevant) which line.
var (
	ErrEmpty     = errors.New("empty file")
	ErrTruncated = errors.New("file is truncated (completeness marker missing or wrong)")
	ErrGarbage   = errors.New("most lines do not parse (not a blocklist?)")
	ErrShrunk    = errors.New("file shrank too much since the last good load; held back")
	ErrChanged   = errors.New("file changed while it was being read")
)

// LoadError is a failure to load one source file.
type LoadError struct {
	Name string // source name
	Path string
	Line int // 0 when the error is not about one line
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s: line %d: %v", e.Name, e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Name, e.Path, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

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

// maxLineLen bounds the length of a line; longer lines are skipped, not buffered.
const maxLineLen = 64 << 10

// Parsed is the content of one source file.
type Parsed struct {
	Format Format // the format used (detected when the source said FormatAuto)

	// Accepted entries in file order, not merged. IPv4-mapped IPv6 entries are in V4.
	V4 []Range4
	V6 []Range6
	// Exceptions (ipset "nomatch"): addresses carved out of this list.
	Except4 []Range4
	Except6 []Range6

	Lines        int // lines read
	Entries      int // data lines accepted
	Filtered     int // data lines dropped on purpose (ipsum count below Source.MinCount)
	Skipped      int // data lines that could not be used
	SkippedLines []SkippedLine
}

// Addresses4 returns how many distinct IPv4 addresses the list covers (exceptions removed).
func (p *Parsed) Addresses4() uint64 {
	var n uint64
	for _, r := range normalize4(p.V4, p.Except4) {
		n += r.Size()
	}
	return n
}

// ParseFile reads and parses src.Path. It never returns a partial result: on error the Parsed
// is nil and the error is a *LoadError.
func ParseFile(src Source) (*Parsed, error) {
	p, _, err := parseFileStat(src)
	return p, err
}

// parseRecovered is Parse with a panic turned into an error: a parser bug met in one feed file
// must cost that file's reload (its previous contents are kept), not the agent and every
// other list. The parsers are fuzzed (FuzzParse); this is the second line of defence.
func parseRecovered(r io.Reader, src Source) (p *Parsed, line int, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, line, err = nil, 0, fmt.Errorf("parser failure (a bug, please report it with the file): %v", v)
		}
	}()
	return Parse(r, src)
}

// parseFileStat parses src and returns the identity of the file it read, checking that the file
// did not change under the reader (written in place, or replaced by a rename).
func parseFileStat(src Source) (*Parsed, fileID, error) {
	lerr := func(line int, err error) error {
		return &LoadError{Name: src.Name, Path: src.Path, Line: line, Err: err}
	}
	f, err := os.Open(src.Path)
	if err != nil {
		return nil, fileID{}, lerr(0, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fileID{}, lerr(0, err)
	}
	if !before.Mode().IsRegular() {
		return nil, fileID{}, lerr(0, errors.New("not a regular file"))
	}
	p, line, err := parseRecovered(f, src)
	if err != nil {
		return nil, fileID{}, lerr(line, err)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fileID{}, lerr(0, err)
	}
	id := idOf(before)
	if id != idOf(after) {
		return nil, fileID{}, lerr(0, ErrChanged)
	}
	if now, err := os.Stat(src.Path); err != nil || idOf(now) != id {
		return nil, fileID{}, lerr(0, ErrChanged)
	}
	return p, id, nil
}

// Parse parses a feed from r. On error it returns the line number the error is about (0 if
// none). Gzip-compressed input is detected and decompressed.
func Parse(r io.Reader, src Source) (*Parsed, int, error) {
	br := bufio.NewReaderSize(r, maxLineLen)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, maxLineLen)
	}
	head, err := br.Peek(maxLineLen)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, 0, err
		}
		return nil, 0, ErrEmpty
	}
	format := src.Format
	if format == FormatAuto {
		format = detectFormat(head)
	}
	ps := parser{src: &src, p: &Parsed{Format: format}, expect: -1, records: -1}
	ps.min4, ps.min6 = src.minPrefixes()
	if err := ps.run(br); err != nil {
		return nil, ps.p.Lines, err
	}
	if line, err := ps.finish(); err != nil {
		return nil, line, err
	}
	return ps.p, 0, nil
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
}

func (ps *parser) run(br *bufio.Reader) error {
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			ps.p.Lines++
			ps.skip(line, "line too long")
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(line) > 0 {
			ps.p.Lines++
			if first {
				line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
				first = false
			}
			ps.line(trimSpace(line))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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

// stripComment cuts s at the first '#' (and ';' when semicolons are comments too).
func stripComment(s []byte, semicolon bool) []byte {
	for i, c := range s {
		if c == '#' || (semicolon && c == ';') {
			return trimSpace(s[:i])
		}
	}
	return s
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
		s = stripComment(s, true)
		if len(s) == 0 {
			return
		}
		if !bytesContains(s, '-') {
			if i := bytes.IndexAny(s, " \t"); i >= 0 {
				s = s[:i]
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

// fields splits s at the ASCII white space trimSpace removes. Not bytes.Fields: it also
// splits at Unicode spaces (U+2003, U+00A0, ...), so a line that trimSpace left non-empty
// could have no field at all, and callers index f[0].
func fields(s []byte) [][]byte {
	return bytes.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
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
	ps.p.Entries++
	switch {
	case e.v6 && except:
		ps.p.Except6 = append(ps.p.Except6, e.r6)
	case e.v6:
		ps.p.V6 = append(ps.p.V6, e.r6)
	case except:
		ps.p.Except4 = append(ps.p.Except4, e.r4)
	default:
		ps.p.V4 = append(ps.p.V4, e.r4)
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
	if p.Skipped > 0 && p.Skipped >= p.Entries+p.Filtered {
		line := 0
		if len(p.SkippedLines) > 0 {
			line = p.SkippedLines[0].Line
		}
		return line, fmt.Errorf("%w: %d of %d data lines skipped", ErrGarbage, p.Skipped, data)
	}
	return 0, nil
}

// detectFormat guesses the format from the start of a file.
func detectFormat(head []byte) Format {
	firehol := false
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		line = trimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case '#':
			if bytes.Contains(line, []byte("Entries")) || bytes.Contains(line, []byte("firehol")) {
				firehol = true
			}
			continue
		case ';':
			continue
		case '{':
			return FormatSpamhausJSON
		}
		if bytes.HasPrefix(line, []byte("create ")) || bytes.HasPrefix(line, []byte("add ")) {
			return FormatIPSetSave
		}
		if bytes.Contains(line, []byte(";")) && bytes.Contains(line, []byte("SBL")) {
			return FormatSpamhausDROP
		}
		f := fields(stripComment(line, true))
		if len(f) >= 2 {
			if _, err := strconv.Atoi(string(f[1])); err == nil {
				return FormatIpsum
			}
			if _, _, _, err := parseAddr(f[1]); err == nil {
				return FormatRange
			}
		}
		if firehol {
			return FormatNetset
		}
		return FormatPlain
	}
	if firehol {
		return FormatNetset
	}
	return FormatPlain
}
