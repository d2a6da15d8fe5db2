package blocklist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrChanged is the error of a load that saw the file change under it (written in place, or
// replaced by a rename); the next poll retries it.
var ErrChanged = errors.New("file changed while it was being read")

// LoadError is a failure to load one source file. Its Err is, where one applies, ErrEmpty,
// ErrTruncated, ErrGarbage, ErrChanged or ErrShrunk; test with errors.Is.
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
