package blocklist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"syscall"
	"time"
)

// Errors of reading a file; test with errors.Is.
var (
	// ErrChanged: the file changed under the reader (written in place, or replaced by a
	// rename); the next poll retries it.
	ErrChanged = errors.New("file changed while it was being read")
	// ErrTimeout: reading the file took longer than its time budget.
	ErrTimeout = errors.New("file took longer to read than its time budget")
)

// DefaultLoadTimeout is the time budget of ParseFile, and of a Manager's loads unless
// Options.LoadTimeout says otherwise. A 2M-entry list loads in about half a second.
const DefaultLoadTimeout = 30 * time.Second

// LoadError is a failure to load one source file. Its Err is, where one applies, ErrEmpty,
// ErrTruncated, ErrGarbage, ErrChanged, ErrTooBig, ErrTimeout or ErrShrunk; test with
// errors.Is.
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

// maxLineLen bounds the length of a line; longer lines are skipped, not buffered.
const maxLineLen = 64 << 10

// ParseFile reads and parses src.Path within DefaultLoadTimeout. It never returns a partial
// result: on error the Parsed is nil and the error is a *LoadError.
//
// A URL source is downloaded once into a temporary directory (nothing is cached) and parsed
// from there.
func ParseFile(src Source) (*Parsed, error) { return ParseFileWith(src, Options{}) }

// ParseFileWith is ParseFile as NewManager with opts loads src at its start, without a state
// directory: opts.MaxBytes and MaxEntries cap a source that sets none, opts.LoadTimeout is the
// time budget, and a URL source is downloaded with opts.Feed as the template (its User-Agent,
// timeouts and retries). `spoaguard -check` loads each list so, with the agent's options.
func ParseFileWith(src Source, opts Options) (*Parsed, error) {
	opts.setDefaults()
	opts.capSource(&src)
	if err := src.checkOptions(); err != nil {
		return nil, &LoadError{Name: src.Name, Path: src.Path, Err: err}
	}
	if src.IsURL() {
		return fetchOnce(src, opts)
	}
	p, _, err := parseFileStat(src, time.Now().Add(opts.LoadTimeout))
	return p, err
}

// parseRecovered is parse with a panic turned into an error: a parser bug met in one feed file
// must cost that file's reload (its previous contents are kept), not the agent and every
// other list. The parsers are fuzzed (FuzzParse); this is the second line of defence.
func parseRecovered(r io.Reader, src Source, deadline time.Time, size int64) (p *Parsed, line int, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, line, err = nil, 0, fmt.Errorf("parser failure (a bug, please report it with the file): %v", v)
		}
	}()
	return parse(r, src, deadline, size)
}

// parseFileStat parses src and returns the identity of the file it read, checking that the file
// did not change under the reader (written in place, or replaced by a rename).
//
// Only a regular file is read. It is opened non-blocking, so that a path that has become a
// FIFO (or a device) is refused by the fstat that follows instead of blocking the open until
// a writer comes, which may be never.
func parseFileStat(src Source, deadline time.Time) (*Parsed, fileID, error) {
	lerr := func(line int, err error) error {
		return &LoadError{Name: src.Name, Path: src.Path, Line: line, Err: err}
	}
	f, err := os.OpenFile(src.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fileID{}, lerr(0, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fileID{}, lerr(0, err)
	}
	if !before.Mode().IsRegular() {
		return nil, fileID{}, lerr(0, fmt.Errorf("not a regular file (%s)", before.Mode().Type()))
	}
	if max := src.maxBytes(); before.Size() > max {
		return nil, fileID{}, lerr(0, fmt.Errorf("%w: %d bytes, the cap is %d (max-bytes)", ErrTooBig, before.Size(), max))
	}
	p, line, err := parseRecovered(f, src, deadline, before.Size())
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
// none). Gzip-compressed input is detected and decompressed. The input, and the input after
// decompression, may not exceed src's MaxBytes, nor hold more than its MaxEntries entries.
func Parse(r io.Reader, src Source) (*Parsed, int, error) { return parse(r, src, time.Time{}, 0) }

// parse is Parse that gives up at deadline (none if zero). size, when known, is the input's
// size in bytes.
func parse(r io.Reader, src Source, deadline time.Time, size int64) (*Parsed, int, error) {
	if src.Format == FormatMMDB {
		p, err := parseMMDB(newGuardReader(r, src.maxBytes(), deadline), &src)
		return p, 0, err
	}
	br := bufio.NewReaderSize(newGuardReader(r, src.maxBytes(), deadline), maxLineLen)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(newGuardReader(zr, src.maxBytes(), deadline), maxLineLen)
	}
	head, err := br.Peek(maxLineLen)
	format := src.Format
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, 0, err
		}
		if !src.AllowEmpty {
			return nil, 0, ErrEmpty
		}
		if format == FormatAuto {
			format = FormatPlain
		}
		return &Parsed{Format: format}, 0, nil
	}
	if format == FormatAuto {
		format = detectFormat(head)
		if src.MinCount > 0 && format != FormatIpsum {
			return nil, 0, fmt.Errorf("min-count applies to format ipsum only, and the file's format is %s (detected)", format)
		}
	}
	ps := parser{src: &src, p: &Parsed{Format: format}, expect: -1, records: -1, maxEntries: src.maxEntries()}
	ps.min4, ps.min6 = src.minPrefixes()
	if size >= 1<<20 {
		// Size a big file's entries from its size and its first lines, rather than letting
		// append copy a growing array of millions, whose old copies a reload's peak memory
		// would hold. Compaction trims what is left over.
		v4, v6 := estimateEntries(head, size)
		ps.p.v4 = make([]range4, 0, min(v4, int64(ps.maxEntries)))
		ps.p.v6 = make([]range6, 0, min(v6, int64(ps.maxEntries)))
	}
	if err := ps.run(br); err != nil {
		return nil, ps.p.Lines, err
	}
	if line, err := ps.finish(); err != nil {
		return nil, line, err
	}
	return ps.p, 0, nil
}

// estimateEntries estimates how many IPv4 and IPv6 entries a file of size bytes holds from
// head, its first bytes: head's data lines with and without a ':', scaled from head's length
// to the file's. A line counts as IPv6 only if it starts as an address does, so that the
// ':'s of JSON or of comments do not size an array of IPv6 entries the file does not hold.
//
// Each count is raised by twice its sampling error and 1/32: an array sized a little short
// would be copied into one a quarter larger, and that copy compacted again, three copies of
// the list's entries at once. The margin stays within what compaction lets an array keep.
func estimateEntries(head []byte, size int64) (v4, v6 int64) {
	n := int64(len(head))
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		switch {
		case len(line) == 0 || line[0] == '#' || line[0] == ';':
		case bytes.IndexByte(line, ':') < 0:
			v4++
		case hexDigits[line[0]] >= 0 || line[0] == ':':
			v6++
		}
	}
	n = max(n, 1)
	scale := func(k int64) int64 {
		return int64((float64(k) + 2*math.Sqrt(float64(k)) + float64(k)/32) * float64(size) / float64(n))
	}
	return scale(v4), scale(v6)
}

// guardReader ends a read with ErrTooBig past left bytes, and with ErrTimeout past deadline
// (checked once per read: one buffer fill of the line reader).
type guardReader struct {
	r         io.Reader
	left, max int64
	deadline  time.Time
}

func newGuardReader(r io.Reader, max int64, deadline time.Time) *guardReader {
	return &guardReader{r: r, left: max, max: max, deadline: deadline}
}

func (g *guardReader) Read(b []byte) (int, error) {
	if !g.deadline.IsZero() && time.Now().After(g.deadline) {
		return 0, ErrTimeout
	}
	if g.left < 0 {
		return 0, fmt.Errorf("%w: more than %d bytes (max-bytes)", ErrTooBig, g.max)
	}
	if int64(len(b)) > g.left+1 {
		b = b[:g.left+1] // one byte more than allowed tells "at the cap" from "over it"
	}
	n, err := g.r.Read(b)
	g.left -= int64(n)
	if g.left < 0 {
		return n, fmt.Errorf("%w: more than %d bytes (max-bytes)", ErrTooBig, g.max)
	}
	return n, err
}

func (ps *parser) run(br *bufio.Reader) error {
	first := true
	for ps.err == nil {
		if !first {
			ps.addrLines(br)
			if ps.err != nil {
				break
			}
		}
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
			if err == io.EOF && ps.cutShort(trimSpace(line)) {
				// A file caught mid-write can end inside a line, and 203.0.113.4 cut
				// from 203.0.113.45 is someone else's valid address.
				ps.skip(line, "unterminated last line (the file may be cut short)")
				ps.unterminated = true
				return nil
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
	return ps.err
}

// addrLines reads the lines buffered in br that each hold one address or prefix and nothing
// else, up to the first line that does not or is not whole in the buffer: most of a big
// feed, read without the line parser's search for the end of the line, trimming and choice
// of parser, and an IPv4 line in one pass. Only for the formats whose parser reads such a
// line as one entry, and until a trailer is seen (a data line after it is an error).
func (ps *parser) addrLines(br *bufio.Reader) {
	switch ps.p.Format {
	case FormatPlain, FormatNetset, FormatSpamhausDROP:
	default:
		return
	}
	if ps.trailerSeen() {
		return
	}
	b, _ := br.Peek(br.Buffered())
	pos := 0
	for ps.err == nil {
		e, n, ok := scanIPv4Entry(b[pos:])
		end := pos + n // the line's '\n', or the '\r' of its "\r\n"
		if end < len(b) && b[end] == '\r' {
			end++
		}
		if ok && end < len(b) && b[end] == '\n' {
			ps.p.Lines++
			ps.addEntry(b[pos:pos+n], e, nil, false)
			pos = end + 1
			continue
		}
		// An IPv6 line: the line parser would find it all address bytes and parse it.
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSuffix(b[pos:pos+i], []byte("\r"))
		if len(line) == 0 || !onlyAddrBytes(line) {
			break
		}
		ps.p.Lines++
		ps.add(line, line, false)
		pos += i + 1
	}
	_, _ = br.Discard(pos)
}

// fileID is what polling compares: a change of any field means the file was rewritten,
// replaced by a rename or a symlink swap, or touched.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

func idOf(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id
}
