package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// clientBody is a body as Client writes it, with comments that need escapes.
func clientBody() string {
	bans := []Ban{
		{Addr: "203.0.113.7", TTL: TTL(time.Hour), Comment: "ssh"},
		{Addr: "198.51.100.0/24", TTL: TTL(90 * time.Second), Action: "allow", List: "ops", Observe: true,
			Comment: `say "hi" \ to C:\temp <b>&amp; ünï €𝄞 ` + "\u2028\x00\x01\t\n\r\x1f\x7f"},
		{Addr: "192.0.2.1-192.0.2.9", List: "ops"},
		{Addr: "2001:db8::/64", Action: "deny", List: "api", Comment: "fail2ban sshd"},
	}
	b, err := json.Marshal(map[string][]Ban{"bans": bans})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// postCases are POST bodies and whether the fast path takes them.
var postCases = []struct {
	name string
	in   string
	fast bool
}{
	{"Client's body", clientBody(), true},
	{"one entry", `{"addr": "203.0.113.7", "ttl": "1h", "comment": "ssh"}`, true},
	{"a list", `{"bans": [{"addr": "203.0.113.7"}, {"addr": "198.51.100.0/24", "ttl": 3600, "list": "scanners"}, {"addr": "192.0.2.1-192.0.2.9", "action": "allow"}]}`, true},
	{"whitespace everywhere", " \t\r\n{ \"bans\" :\n[ { \"addr\" : \"a\" ,\t\"ttl\" : 1.5e3 } ,{\"addr\":\"b\"}\n] }\n", true},
	{"every field in another order", `{"comment":"c","observe":true,"list":"l","action":"deny","ttl":"1h30m","addr":"a"}`, true},
	{"an empty list", `{"bans": []}`, true},
	{"an empty object", `{}`, true},
	{"an empty entry", `{"bans": [{}]}`, true},
	{"fields beside the list", `{"addr": "a", "bans": [{"addr": "b"}]}`, true},
	{"null expires and created", `{"addr": "a", "expires": null, "created": null}`, true},
	{"simple escapes", `{"addr":"a","comment":"\"\\\/\b\f\n\r\t","list":"\u00e9\u20AC\u0000"}`, true},
	{"raw unicode", `{"addr":"a","comment":"ünï €𝄞 ` + "\u2028\x7f" + `"}`, true},
	{"an unknown action", `{"addr":"a","action":"block"}`, true},
	{"observe false", `{"addr":"a","observe":false}`, true},
	{"ttl numbers", `{"bans":[{"ttl":0},{"ttl":-0},{"ttl":0.5},{"ttl":1E2},{"ttl":2e-3},{"ttl":1e+1},{"ttl":3153600000}]}`, true},
	{"a ttl with an escape", `{"addr": "a", "ttl": "1\u0068"}`, true},
	{"ttl strings", `{"bans":[{"ttl":"0"},{"ttl":"1s"},{"ttl":"1s"},{"ttl":"1.5h"},{"ttl":"+1m"},{"ttl":"100ms"}]}`, true},
	{"a repeated field: the last value stands", `{"addr": "a", "ttl": "1h", "addr": "b", "ttl": 60}`, true},
	{"a repeated field in an entry", `{"bans": [{"addr": "a", "list": "x", "addr": "b"}]}`, true},
	{"a repeated null expires", `{"addr": "a", "expires": null, "expires": null}`, true},

	{"a bad ttl", `{"addr": "a", "ttl": "soon"}`, false},
	{"a negative ttl", `{"addr": "a", "ttl": -5}`, false},
	{"a ttl that rounds to no expiry", `{"addr": "a", "ttl": 1e-10}`, false},
	{"a ttl string that rounds to no expiry", `{"addr": "a", "ttl": "0.5ns"}`, false},
	{"a ttl over the maximum", `{"addr": "a", "ttl": 1e10}`, false},
	{"a ttl with an escape Go's syntax lacks", `{"addr": "a", "ttl": "1\/s"}`, false},
	{"a null ttl", `{"addr": "a", "ttl": null}`, false},
	{"a bool ttl", `{"addr": "a", "ttl": true}`, false},
	{"a ttl with a leading zero", `{"addr": "a", "ttl": 01}`, false},
	{"a ttl with a bare fraction", `{"addr": "a", "ttl": 1.}`, false},
	{"a ttl with a bare exponent", `{"addr": "a", "ttl": 1e}`, false},
	{"a hex ttl", `{"addr": "a", "ttl": 0x10}`, false},
	{"expires set", `{"addr": "a", "expires": "2030-01-01T00:00:00Z"}`, false},
	{"created set", `{"addr": "a", "created": "2030-01-01T00:00:00Z"}`, false},
	{"null bans", `{"addr": "a", "bans": null}`, false},
	{"a null entry", `{"bans": [null]}`, false},
	{"a null string", `{"addr": null}`, false},
	{"a null observe", `{"addr": "a", "observe": null}`, false},
	{"an unknown field", `{"addr": "a", "expiry": "1h"}`, false},
	{"an unknown field in a list", `{"bans": [{"addr": "a", "ip": "x"}]}`, false},
	{"a list in a list", `{"bans": [{"bans": []}]}`, false},
	{"a case-variant key", `{"Addr": "a"}`, false},
	{"a case-variant list key", `{"BANS": []}`, false},
	{"an escaped key", `{"\u0061ddr": "a"}`, false},
	{"a repeated list, merged by encoding/json", `{"bans": [{"addr": "a", "list": "x"}], "bans": [{"addr": "b"}]}`, false},
	{"a number as a string", `{"addr": 5}`, false},
	{"a string as a bool", `{"addr": "a", "observe": "true"}`, false},
	{"a list that is an object", `{"bans": {"addr": "a"}}`, false},
	{"a surrogate pair", `{"addr":"a","comment":"\ud834\udd1e"}`, false},
	{"a lone surrogate", `{"addr":"a","comment":"\ud834"}`, false},
	{"invalid UTF-8", "{\"addr\":\"a\xff\"}", false},
	{"a raw control character", "{\"addr\":\"a\nb\"}", false},
	{"a bad escape", `{"addr":"\x41"}`, false},
	{"a trailing comma", `{"bans": [{"addr": "a"},]}`, false},
	{"a trailing comma in an object", `{"addr": "a",}`, false},
	{"trailing data", `{"addr": "a"} x`, false},
	{"a closing bracket after the object", `{"addr": "a"} ]`, false},
	{"two objects", `{"addr": "a"} {"addr": "b"}`, false},
	{"truncated", `{"bans": [{"addr": "a"`, false},
	{"truncated string", `{"addr": "a`, false},
	{"a list at the top", `[{"addr": "a"}]`, false},
	{"null", `null`, false},
	{"not JSON", `addr=1.2.3.4`, false},
	{"nothing", ``, false},
	{"a byte-order mark", "\ufeff{}", false},
}

func TestDecodePostFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range postCases {
		t.Run(c.name, func(t *testing.T) {
			_, ok := decodePostFast([]byte(c.in))
			if ok != c.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, c.fast)
			}
			checkDecodePost(t, []byte(c.in))
		})
	}
}

// checkDecodePost checks that where the fast path takes in, encoding/json takes it too and
// agrees, that the strings decoded are not views of in, and that decodePost's result and
// error are those of encoding/json alone.
func checkDecodePost(t *testing.T, in []byte) {
	t.Helper()
	body := bytes.Clone(in)
	fast, ok := decodePostFast(body)
	want, err := decodePostJSON(in)
	if ok {
		if err != nil {
			t.Fatalf("%q: the fast path took what encoding/json refuses: %v", in, err)
		}
		for i := range body {
			body[i] = 'x' // a view of the body would change with it
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q:\nfast path:     %s\nencoding/json: %s", in, dumpPost(fast), dumpPost(want))
		}
	}
	got, gotErr := decodePost(in)
	var wantBans []Ban
	if err == nil {
		wantBans, err = want.entries()
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(err) || !reflect.DeepEqual(got, wantBans) {
		t.Fatalf("%q: decodePost %+v, %v; want %+v, %v", in, got, gotErr, wantBans, err)
	}
}

func dumpPost(p postBody) string {
	if p.Bans == nil {
		return fmt.Sprintf("%+v, no list", p.Ban)
	}
	return fmt.Sprintf("%+v, list %+v", p.Ban, *p.Bans)
}

func TestDecodePostSharesEqualStrings(t *testing.T) {
	p, ok := decodePostFast([]byte(`{"bans": [{"addr": "a", "action": "allow", "list": "scanners", "comment": "ssh"}, {"addr": "b", "action": "allow", "list": "scanners", "comment": "ssh"}]}`))
	if !ok {
		t.Fatal("not handled")
	}
	a, b := (*p.Bans)[0], (*p.Bans)[1]
	for _, s := range [][2]string{{a.Action, b.Action}, {a.List, b.List}, {a.Comment, b.Comment}} {
		if s[0] != s[1] || unsafe.StringData(s[0]) != unsafe.StringData(s[1]) {
			t.Errorf("%q and %q are two copies", s[0], s[1])
		}
	}
}

func TestDecodePostOfBenchmarkBodiesAllocatesLittle(t *testing.T) {
	body := banBody(unlisted, 100, "1s", "")
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := decodePost(body); err != nil {
			t.Fatal(err)
		}
	})
	// One string per address, the list and its pointer: encoding/json makes more than 200.
	if allocs > 105 {
		t.Errorf("%v allocations for 100 entries, want at most 105", allocs)
	}
}

func TestDecodePostSizesTheListByTheBodyNotByItsFirstEntry(t *testing.T) {
	// A first entry of 3 bytes and a megabyte of comment after it: a list sized for entries
	// of the first one's length would be 32 times the body.
	body := []byte(`{"bans": [{}, {"addr": "a", "comment": "` + strings.Repeat("x", 1<<20) + `"}]}`)
	bans, err := decodePost(body)
	if err != nil || len(bans) != 2 {
		t.Fatal(len(bans), err)
	}
	if n := cap(bans) * int(unsafe.Sizeof(Ban{})); n > 4*len(body) {
		t.Errorf("a list of %d bytes for a body of %d", n, len(body))
	}
}

func FuzzDecodePost(f *testing.F) {
	for _, c := range postCases {
		f.Add([]byte(c.in))
	}
	f.Add(banBody(unlisted, 3, "1s", ""))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecodePost(t, in)
	})
}
