package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unsafe"
)

// numberCases are inputs and whether all of each is one JSON number.
var numberCases = []struct {
	in   string
	want bool
}{
	{"0", true}, {"-0", true}, {"7", true}, {"1234567890", true}, {"1.5", true}, {"-0.25", true},
	{"1e3", true}, {"1E+3", true}, {"2e-07", true}, {"0.5e1", true},
	{"", false}, {"-", false}, {"01", false}, {"-01", false}, {"1.", false}, {".5", false},
	{"1e", false}, {"1e+", false}, {"+1", false}, {"0x10", false}, {"1_000", false},
	{"Infinity", false}, {"NaN", false}, {"1.5.5", false}, {"1e5e5", false},
}

func TestNumberReadsJSONsGrammar(t *testing.T) {
	for _, c := range numberCases {
		if got := isNumber(c.in); got != c.want {
			t.Errorf("%q: a number: %v, want %v", c.in, got, c.want)
		}
	}
}

// isNumber reports whether all of s is one number, as Number reads it.
func isNumber(s string) bool {
	var d Scanner
	d.Reset(s)
	v, ok := d.Number()
	return ok && d.End() && v == s
}

func FuzzNumber(f *testing.F) {
	for _, c := range numberCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var n json.Number
		want := json.Unmarshal([]byte(s), &n) == nil && len(s) > 0 && s[0] != '"' && s == n.String()
		if got := isNumber(s); got != want {
			t.Fatalf("%q: a number: %v, encoding/json: %v", s, got, want)
		}
	})
}

func TestSharedIsOneCopyOfEqualStrings(t *testing.T) {
	var d Scanner
	d.Reset(`"ops" "ops" "api"`)
	var last string
	a, _ := d.Shared(&last)
	b, _ := d.Shared(&last)
	c, ok := d.Shared(&last)
	if !ok || a != "ops" || b != "ops" || c != "api" || last != "api" {
		t.Fatalf("read %q %q %q (%v), last %q; want ops ops api, last api", a, b, c, ok, last)
	}
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two equal strings in a row are two copies")
	}
}

// Members passes every member's name in order, a repeated one again: what a repeat means is
// the decoder's to say.
func TestMembersPassesEveryName(t *testing.T) {
	var d Scanner
	d.Reset(` {"a": 1, "b" :{"a":2}, "a":3 } `)
	var names []string
	var member func(string) bool
	member = func(name string) bool {
		names = append(names, name)
		if d.Peek() == '{' {
			return d.Members(member)
		}
		_, ok := d.Number()
		return ok
	}
	ok := d.Members(member)
	if got := strings.Join(names, " "); !ok || !d.End() || got != "a b a a" {
		t.Errorf("names %q (%v), want a b a a", got, ok)
	}
}
