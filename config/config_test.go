package config

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

type strings_ []string

func (s *strings_) String() string     { return strings.Join(*s, ",") }
func (s *strings_) Set(v string) error { *s = append(*s, v); return nil }
func (s *strings_) Repeatable() bool   { return true }

// flags is a flag set like the agent's: any flag defined on it has a key.
type flags struct {
	fs       *flag.FlagSet
	stateDir string
	limit    int
	wait     time.Duration
	on       bool
	listen   strings_
}

func newFlags() *flags {
	f := &flags{fs: flag.NewFlagSet("t", flag.ContinueOnError)}
	f.fs.StringVar(&f.stateDir, "state-dir", "", "")
	f.fs.IntVar(&f.limit, "limit", 1, "")
	f.fs.DurationVar(&f.wait, "wait", time.Second, "")
	f.fs.BoolVar(&f.on, "on", true, "")
	f.fs.Var(&f.listen, "listen", "")
	f.fs.String("config", "", "")
	return f
}

func load(t *testing.T, body string, args ...string) (*flags, *File, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	testutil.WriteFile(t, path, body)
	f := newFlags()
	if err := f.fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	file, err := Load(path, f.fs, "config")
	return f, file, err
}

func TestEveryFlagHasAKey(t *testing.T) {
	f, file, err := load(t, "state-dir: /var/lib/x\nlimit: 10\nwait: 1m30s\non: false\nlisten: [a, b]\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.stateDir != "/var/lib/x" || f.limit != 10 || f.wait != 90*time.Second || f.on || f.listen.String() != "a,b" {
		t.Errorf("got %+v", f)
	}
	if file.Line("wait") != 3 || file.Line("absent") != 0 {
		t.Errorf("Line(wait)=%d Line(absent)=%d, want 3 and 0", file.Line("wait"), file.Line("absent"))
	}
}

func TestCommandLineWins(t *testing.T) {
	f, file, err := load(t, "limit: 3\nlisten: [a]\n", "-limit", "4", "-listen", "c")
	if err != nil {
		t.Fatal(err)
	}
	if f.limit != 4 || f.listen.String() != "c" || file.Line("limit") != 0 {
		t.Errorf("limit=%d listen=%s line=%d, want the command line's 4 and c", f.limit, f.listen.String(), file.Line("limit"))
	}
}

func TestLists(t *testing.T) {
	_, file, err := load(t, `
lists:
  - name: drop
    kind: deny
    path: /feeds/drop, v4.txt
    format: spamhaus-drop
    options: {min-prefix-v4: 12, allow-short: false}
  - {name: office, kind: allow, path: office.txt, options: {allow-short: true}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Lists) != 2 {
		t.Fatalf("lists %+v", file.Lists)
	}
	d, o := file.Lists[0], file.Lists[1]
	if d.Line != 3 || d.Source.Path != "/feeds/drop, v4.txt" || d.Source.Format != blocklist.FormatSpamhausDROP || d.Source.MinPrefixV4 != 12 || d.Source.Kind != blocklist.Deny {
		t.Errorf("first list %+v", d)
	}
	if o.Source.Kind != blocklist.Allow || !o.Source.AllowShortPrefixes || o.Source.Path != filepath.Join(filepath.Dir(file.Path), "office.txt") {
		t.Errorf("second list %+v", o)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"limit: 1\nlimt: 2\n", `c.yaml:2: unknown key "limt"`},
		{"limit: 1\nlimit: 2\n", ":2: limit: given twice (first at line 1)"},
		{"limit: 1\n---\nlimit: x\n", ":2: a second YAML document"},
		{"limit: 1\n-limit: 2\n", ":2: -limit: given twice (first at line 1)"},
		{"lists:\n  - {name: x, kind: deny, path: x, options: {min-count: 3, min-count: 4}}\n", ":2: option min-count given twice"},
		{"limit: 1\n...\n---\n", ":3: a second YAML document"},
		{"wait: soon\n", `:1: wait: "soon": parse error: want a duration`},
		{"on: yes\n", `:1: on: "yes": parse error: want true or false`},
		{"config: x\n", ":1: config: only on the command line"},
		{"limit: {a: 1}\n", ":1: limit: want a single value"},
		{"listen: [a, [b]]\n", ":1: listen: want a single value"},
		{"limit: 1\nlisten: []\n", ":2: listen: an empty sequence"},
		{"state-dir: &a x\nlisten: *a\n", ":2: listen: aliases are not supported"},
		{"- limit\n", ":1: the file must be a mapping"},
		{"lists: {name: x}\n", ":1: lists: want a sequence"},
		{"lists:\n  - name: x\n    kind: deny\n", `:2: list entry "x": path is required`},
		{"lists:\n  - name: x\n    kind: block\n", `:3: kind "block": want deny or allow`},
		{"lists:\n  - name: x y\n", `:2: list name "x y"`},
		{"lists:\n  - name: x\n    colour: red\n", `:3: list entry: unknown field "colour"`},
		{"lists:\n  - name: x\n    format: csv\n", `:3: format "csv": want auto, plain`},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options:\n      min-count: -1\n", `:6: option min-count: "-1" is not a positive integer`},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options:\n      speed: 1\n", `:6: option speed: unknown option`},
		{"lists:\n  - name: x\n    options: {observe: true}\n    kind: allow\n    path: x\n", `:3: option observe: observe applies to deny lists only`},
		{"lists:\n  - name: x\n    kind: deny\n    url: /var/lib/x.txt\n", `:4: url "/var/lib/x.txt": want an http:// or https:// URL`},
		{"lists:\n  - name: x\n    kind: deny\n    path: /x\n    url: https://example.com/x\n", ":5: list entry: give path or url, not both"},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options: {countries: [CN, CHN]}\n", `:5: option countries: geoip: country "CHN"`},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options: {asns: [64496, {a: 1}]}\n", ":5: asns: want a single value"},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options: {refresh: 0s}\n", `:5: option refresh: "0s" is not a positive duration`},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    format: netset\n    options: {min-count: 3}\n",
			`:2: list entry "x": min-count applies to format ipsum only, not netset`},
		{"lists:\n  - name: y\n    kind: deny\n    path: x\n    options: {countries: [CN], min-count: 3}\n",
			`:2: list entry "y": min-count applies to format ipsum only, not mmdb`},
		{"lists:\n  - name: x\n    kind: deny\n    path: x\n    options: {refresh: 1h}\n",
			`:2: list entry "x": refresh and stale-after apply to http:// and https:// sources only`},
	} {
		_, _, err := load(t, tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

func TestAnnotate(t *testing.T) {
	_, file, err := load(t, "\nlimit: 0\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"-limit 0: must be positive", file.Path + ":2: -limit 0: must be positive"},
		{"-wait 0s: must be positive", "-wait 0s: must be positive"}, // not set by the file
		{"something else", "something else"},
	} {
		if got := file.Annotate(errString(tc.in)).Error(); got != tc.want {
			t.Errorf("Annotate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestLargeFileRefused(t *testing.T) {
	_, _, err := load(t, "# "+strings.Repeat("x", MaxFileSize)+"\n")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("got %v", err)
	}
}

// TestURLAndMMDBLists: the file's form of a downloaded list and of a country list, with the
// selection as a YAML sequence, gives the same sources as the flag's form.
func TestURLAndMMDBLists(t *testing.T) {
	_, file, err := load(t, `
lists:
  - name: firehol
    kind: deny
    url: https://iplists.example/firehol_level1.netset
    options: {refresh: 30m, stale-after: 6h}
  - name: relative-url
    kind: deny
    path: http://feeds.example/x.txt
  - name: geo
    kind: deny
    path: /var/lib/GeoLite2-Country.mmdb
    format: mmdb
    options:
      countries: [cn, RU]
      invert: true
  - name: asn
    kind: deny
    path: /var/lib/GeoLite2-ASN.mmdb
    format: mmdb
    options: {asns: [64496, AS64511]}
`)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{
		"firehol=https://iplists.example/firehol_level1.netset,refresh=30m,stale-after=6h",
		"relative-url=http://feeds.example/x.txt",
		"geo=/var/lib/GeoLite2-Country.mmdb,format=mmdb,countries=CN+ru,invert",
		"asn=/var/lib/GeoLite2-ASN.mmdb,format=mmdb,asns=64496+AS64511",
	}
	if len(file.Lists) != len(flags) {
		t.Fatalf("%d lists", len(file.Lists))
	}
	for i, spec := range flags {
		want, err := ParseListFlag(spec, blocklist.Deny)
		if err != nil {
			t.Fatal(err)
		}
		if got := file.Lists[i].Source; !got.Equal(want) {
			t.Errorf("file entry %d: %+v\nflag %s: %+v", i, got, spec, want)
		}
	}
	if g := file.Lists[2].Source; len(g.Countries) != 2 || g.Countries[0] != "CN" || g.Countries[1] != "RU" || !g.Invert {
		t.Errorf("geo %+v", g)
	}
	if f := file.Lists[0].Source; f.Refresh != 30*time.Minute || f.StaleAfter != 6*time.Hour {
		t.Errorf("firehol %+v", f)
	}
}

func TestParseListFlag(t *testing.T) {
	src, err := ParseListFlag("a=/x.txt,format=ipsum,min-count=3,allow-short", blocklist.Deny)
	if err != nil || src.Name != "a" || src.Path != "/x.txt" || src.Format != blocklist.FormatIpsum || src.MinCount != 3 || !src.AllowShortPrefixes {
		t.Errorf("got %+v, %v", src, err)
	}
	src, err = ParseListFlag("a=/x.txt,min-count=3", blocklist.Deny) // an auto-detected format is checked at load
	if err != nil || src.MinCount != 3 || src.Format != blocklist.FormatAuto {
		t.Errorf("min-count, format auto: got %+v, %v", src, err)
	}
	src, err = ParseListFlag("a=/x.txt,max-bytes=4096,max-entries=100,max-shrink=0.9,allow-empty", blocklist.Deny)
	if err != nil || src.MaxBytes != 4096 || src.MaxEntries != 100 || src.MaxShrink != 0.9 || !src.AllowEmpty {
		t.Errorf("limits: got %+v, %v", src, err)
	}
	for spec, want := range map[string]string{"a": "NAME=PATH", "a=": "empty path", "a=/x,nope": "unknown option", "=x": "NAME=PATH",
		"a=/x,max-shrink=0": "above 0", "a=/x,max-shrink=1.5": "above 0", "a=/x,max-entries=-1": "positive", "a=/x,allow-empty=no": "true or false",
		"a=/x,min-count=3,format=plain": `list "a": min-count applies to format ipsum only, not plain`,
		"a=/x,format=mmdb":              `list "a": format mmdb needs countries or asns`} {
		if _, err := ParseListFlag(spec, blocklist.Deny); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", spec, err, want)
		}
	}
}

// ListOptions, the text of the unknown-option error, names every option in the documented
// order, and each name it gives is one SetListOption applies.
func TestListOptionsNamesEveryOption(t *testing.T) {
	const want = "min-count, min-prefix-v4, min-prefix-v6, allow-short, observe, max-bytes, max-entries, max-shrink, allow-empty, refresh, stale-after, countries, asns, invert"
	if ListOptions() != want {
		t.Errorf("ListOptions() = %q, want %q", ListOptions(), want)
	}
	for _, name := range strings.Split(ListOptions(), ", ") {
		src := blocklist.Source{Kind: blocklist.Deny}
		if err := SetListOption(&src, name, ""); err != nil && strings.Contains(err.Error(), "unknown option") {
			t.Errorf("%s: %v", name, err)
		}
	}
	src := blocklist.Source{Kind: blocklist.Deny}
	if err := SetListOption(&src, "colour", "red"); err == nil || err.Error() != "unknown option (want "+want+")" {
		t.Errorf("unknown option: got %v", err)
	}
}
