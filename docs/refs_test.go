// Package docs holds the project's prose (PROTOCOL.md, RELIABILITY.md) and the tests that keep
// every reference in the repository's comments and documents pointing at something that is
// there: a cited file exists, a cited anchor exists in its document, and no comment or
// document names a tracker issue or a work session.
package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// source is one file's citable text: the comments of code and scripts, all of a document.
type source struct {
	path  string // relative to the module root, with slashes
	lines []string
}

// sources reads every file whose comments or text can cite something. testdata/ holds
// fixtures, not prose, except its READMEs; this file is left out too.
func sources(t *testing.T) []source {
	t.Helper()
	var out []source
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, ".."+string(filepath.Separator)))
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		comment := commentMarker(rel)
		if comment == "" || strings.Contains(rel, "testdata/") && !strings.HasSuffix(rel, "README.md") ||
			rel == "docs/refs_test.go" { // its test cases are the patterns, not citations
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		s := source{path: rel}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if comment != "all" {
				i := strings.Index(line, comment)
				if i < 0 {
					line = ""
				} else {
					line = line[i:]
				}
			}
			s.lines = append(s.lines, line)
		}
		out = append(out, s)
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("read %d files: not run from the docs directory?", len(out))
	}
	return out
}

// commentMarker says which part of a file is prose: "all" for documents, the comment marker
// for code and scripts, "" for files that are neither.
func commentMarker(path string) string {
	switch filepath.Ext(path) {
	case ".md":
		return "all"
	case ".go":
		return "//"
	case ".sh", ".cfg", ".conf", ".yml", ".yaml", ".service":
		return "#"
	}
	return ""
}

// repoPath matches a path inside the repository as comments and documents write it: at least
// one directory, then a file with one of the extensions a reference can have.
var repoPath = regexp.MustCompile(`(?:^|[\s(\[` + "`" + `"'])((?:\.\./)*(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]+\.(?:md|go|sh|cfg|conf|json|hex|txt|yml|yaml))\b`)

// bareDoc matches a document named without a directory (PERFORMANCE.md, README.md): it must
// be beside the file that names it, at the module root, or in docs/.
var bareDoc = regexp.MustCompile(`(?:^|[\s(\[` + "`" + `"'])([A-Za-z0-9_-]+\.md)\b`)

// docAnchor matches a cited section: a document and one of its anchors.
var docAnchor = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Z]+\.md)#([a-z0-9-]+)`)

// localAnchor matches a Markdown link to a section of the same document.
var localAnchor = regexp.MustCompile(`\]\(#([a-z0-9-]+)\)`)

func TestCitedFilesExist(t *testing.T) {
	top := topLevelDirs(t)
	for _, s := range sources(t) {
		for n, line := range s.lines {
			for _, m := range repoPath.FindAllStringSubmatch(line, -1) {
				ref := m[1]
				first, _, _ := strings.Cut(strings.TrimLeft(ref, "./"), "/")
				if !strings.HasPrefix(ref, "../") && !top[first] {
					continue // a name a program writes (out/list.txt), not a file of the repository
				}
				if !exists(s.path, ref) {
					t.Errorf("%s:%d cites %s, which is not in the repository", s.path, n+1, ref)
				}
			}
			for _, m := range bareDoc.FindAllStringSubmatch(line, -1) {
				if !exists(s.path, m[1]) && !exists(s.path, "docs/"+m[1]) {
					t.Errorf("%s:%d cites %s, which is not in the repository", s.path, n+1, m[1])
				}
			}
		}
	}
}

func TestCitedAnchorsExist(t *testing.T) {
	anchors := map[string]map[string]bool{} // document path → its anchors
	anchorsOf := func(doc string) map[string]bool {
		if a, ok := anchors[doc]; ok {
			return a
		}
		a := readAnchors(t, filepath.Join("..", doc))
		anchors[doc] = a
		return a
	}
	for _, s := range sources(t) {
		for n, line := range s.lines {
			for _, m := range docAnchor.FindAllStringSubmatch(line, -1) {
				doc := resolve(s.path, m[1])
				if doc == "" {
					t.Errorf("%s:%d cites %s, which is not in the repository", s.path, n+1, m[1])
					continue
				}
				if !anchorsOf(doc)[m[2]] {
					t.Errorf("%s:%d cites %s#%s: %s has no such anchor", s.path, n+1, m[1], m[2], doc)
				}
			}
			if strings.HasSuffix(s.path, ".md") {
				for _, m := range localAnchor.FindAllStringSubmatch(line, -1) {
					if !anchorsOf(s.path)[m[1]] {
						t.Errorf("%s:%d links to #%s, which is not an anchor of the file", s.path, n+1, m[1])
					}
				}
			}
		}
	}
}

// history matches wording that tells how the code came to be rather than what it is.
var history = regexp.MustCompile(`(?i)\b(?:issue|task) #?[0-9]+|\b(?:first|second|third|previous|last|this|earlier|later) session\b|\bsession [0-9]`)

func TestNoTrackerIssueOrWorkSessionNamed(t *testing.T) {
	for _, s := range sources(t) {
		for n, line := range s.lines {
			if m := history.FindString(line); m != "" {
				t.Errorf("%s:%d names %q: say what is, not how it came to be", s.path, n+1, m)
			}
		}
	}
}

// TestTheCheckersFindWhatTheyLookFor pins the patterns above. The cases split the words they
// look for, so that a grep of the repository for them finds nothing here either.
func TestTheCheckersFindWhatTheyLookFor(t *testing.T) {
	tests := []struct {
		name string
		re   *regexp.Regexp
		line string
		want string // the first submatch, or the match when the pattern has none
	}{
		{"a path in a comment", repoPath, "// see testdata/spop/README.md.", "testdata/spop/README.md"},
		{"a relative Markdown link", repoPath, "[x](../../docs/PROTOCOL.md)", "../../docs/PROTOCOL.md"},
		{"a path in backquotes", repoPath, "`server/limits_test.go` plays", "server/limits_test.go"},
		{"a bare file name is not a path", repoPath, "// see PERFORMANCE.md", ""},
		{"a bare document name", bareDoc, "// rules in SPEC" + ".md §5", "SPEC" + ".md"},
		{"a document in a path is not bare", bareDoc, "// see docs/PROTOCOL.md", ""},
		{"a cited section", docAnchor, "(docs/PROTOCOL.md#max-frame-size)", "docs/PROTOCOL.md"},
		{"a tracker issue", history, "// Hostile peers (issue " + "#7).", "issue " + "#7"},
		{"a work session", history, "taken in the second " + "session", "second " + "session"},
		{"a protocol session is not history", history, "// session is the protocol state", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if m := tt.re.FindStringSubmatch(tt.line); m != nil {
				got = m[0]
				if len(m) > 1 {
					got = m[1]
				}
			}
			if got != tt.want {
				t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func topLevelDirs(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			top[e.Name()] = true
		}
	}
	return top
}

// resolve returns the module-relative path of ref as written in the file at from: relative to
// that file's directory, or to the module root. It returns "" when neither exists.
func resolve(from, ref string) string {
	for _, p := range []string{filepath.Join(filepath.Dir(from), ref), ref} {
		p = filepath.ToSlash(filepath.Clean(p))
		if _, err := os.Stat(filepath.Join("..", p)); err == nil {
			return p
		}
	}
	return ""
}

func exists(from, ref string) bool { return resolve(from, ref) != "" }

// readAnchors returns the anchors of a Markdown document: its <a id> marks and the slugs
// GitHub gives its headings.
func readAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]bool{}
	for _, m := range regexp.MustCompile(`<a (?:id|name)="([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
		a[m[1]] = true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			a[slug(h)] = true
		}
	}
	return a
}

// slug is GitHub's anchor for a heading: lower case, spaces to hyphens, punctuation dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
