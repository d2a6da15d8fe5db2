package fleet

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// agentBatch is a batch as json.Marshal writes it, with comments that need escapes.
func agentBatch() string {
	cs := []Change{
		{Op: Put, Key: "203.0.113.7", Record: &Record{Addr: "203.0.113.7", Action: "deny", List: "api", Created: 1796112133928}},
		{Op: Put, Key: "198.51.100.0/24", Record: &Record{Addr: "198.51.100.0/24", Action: "allow", List: "ops", Observe: true,
			Expires: 1796115733928, Comment: `say "hi" \ to C:\temp <b>&amp; ünï €𝄞 ` + "\u2028\x00\x01\t\n\r\x1f\x7f", Created: -1}},
		{Op: Delete, Key: "192.0.2.1-192.0.2.9"},
		{Op: Put, Key: "2001:db8::/64", Record: &Record{Addr: "2001:db8::/64", Action: "deny", List: "api", Comment: "fail2ban sshd"}},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// changesCases are log batches and whether the fast path takes them.
var changesCases = []struct {
	name string
	in   string
	fast bool
}{
	{"json.Marshal's output", agentBatch(), true},
	{"empty", `[]`, true},
	{"whitespace everywhere", " \t\r\n[ {\n\"op\" : \"put\" ,\t\"key\":\"203.0.113.7\", \"rec\" : { \"addr\":\"203.0.113.7\" , \"action\":\"deny\",\"list\":\"api\",\"created\":1 } } ,{\"op\":\"del\",\"key\":\"x\"}\n]\n", true},
	{"another key order", `[{"rec":{"created":5,"comment":"c","list":"l","action":"allow","expires":7,"observe":false,"addr":"a"},"key":"a","op":"put"}]`, true},
	{"simple escapes", `[{"op":"put","key":"k","rec":{"addr":"k","comment":"\"\\\/\b\f\n\r\t","list":"\u00e9\u20AC\u0000"}}]`, true},
	{"raw unicode", `[{"op":"put","key":"k","rec":{"addr":"k","comment":"ünï €𝄞 ` + "\u2028\x7f" + `"}}]`, true},
	{"an empty change", `[{}]`, true},
	{"an empty record", `[{"op":"put","key":"k","rec":{}}]`, true},
	{"a record in a delete", `[{"op":"del","key":"k","rec":{"addr":"k"}}]`, true},
	{"an unknown op", `[{"op":"upsert","key":"k"}]`, true},
	{"negative and zero numbers", `[{"op":"put","key":"k","rec":{"addr":"k","expires":-0,"created":-123456789012345678}}]`, true},
	{"the largest numbers", `[{"op":"put","key":"k","rec":{"addr":"k","expires":-9223372036854775808,"created":9223372036854775807}}]`, true},
	{"a repeated key: the last value stands", `[{"op":"put","key":"k","op":"del","key":"j"}]`, true},
	{"a repeated field in a record", `[{"op":"put","key":"k","rec":{"addr":"k","list":"a","addr":"j","list":"b"}}]`, true},

	{"null", `null`, false},
	{"a null change", `[null]`, false},
	{"a null record", `[{"op":"put","key":"k","rec":null}]`, false},
	{"a null string", `[{"op":null,"key":"k"}]`, false},
	{"a case-variant key", `[{"Op":"put","key":"k","rec":{"addr":"k"}}]`, false},
	{"a case-variant record key", `[{"op":"put","key":"k","rec":{"ADDR":"k"}}]`, false},
	{"an unknown key", `[{"op":"put","key":"k","rec":{"addr":"k","ttl":5}}]`, false},
	{"an escaped key", `[{"o\u0070":"put","key":"k"}]`, false},
	{"a repeated record, merged by encoding/json", `[{"op":"put","key":"k","rec":{"addr":"k","list":"a"},"rec":{"addr":"j"}}]`, false},
	{"a fraction", `[{"op":"put","key":"k","rec":{"addr":"k","expires":1.5}}]`, false},
	{"an exponent", `[{"op":"put","key":"k","rec":{"addr":"k","expires":1e3}}]`, false},
	{"an overflow", `[{"op":"put","key":"k","rec":{"addr":"k","created":9223372036854775808}}]`, false},
	{"a negative overflow", `[{"op":"put","key":"k","rec":{"addr":"k","created":-9223372036854775809}}]`, false},
	{"a leading zero", `[{"op":"put","key":"k","rec":{"addr":"k","created":01}}]`, false},
	{"a number as a string", `[{"op":"put","key":"k","rec":{"addr":"k","created":"1"}}]`, false},
	{"a string as a number", `[{"op":"put","key":5}]`, false},
	{"a bool as a string", `[{"op":"put","key":"k","rec":{"addr":"k","observe":"true"}}]`, false},
	{"a surrogate pair", `[{"op":"put","key":"k","rec":{"addr":"k","comment":"\ud834\udd1e"}}]`, false},
	{"a lone surrogate", `[{"op":"put","key":"k","rec":{"addr":"k","comment":"\ud834"}}]`, false},
	{"invalid UTF-8", "[{\"op\":\"put\",\"key\":\"k\xff\"}]", false},
	{"invalid UTF-8 after an escape", "[{\"op\":\"put\",\"key\":\"\\n\xc3\"}]", false},
	{"a raw control character", "[{\"op\":\"put\",\"key\":\"a\nb\"}]", false},
	{"a bad escape", `[{"op":"put","key":"\x41"}]`, false},
	{"a short \\u", `[{"op":"put","key":"\u12"}]`, false},
	{"a trailing comma", `[{"op":"del","key":"k"},]`, false},
	{"a trailing comma in an object", `[{"op":"del","key":"k",}]`, false},
	{"trailing data", `[{"op":"del","key":"k"}] x`, false},
	{"two values", `[][]`, false},
	{"truncated", `[{"op":"put","key":"k","rec":{"addr":"k"`, false},
	{"truncated string", `[{"op":"put","key":"k`, false},
	{"an object", `{"op":"put"}`, false},
	{"not JSON", `not json`, false},
	{"nothing", ``, false},
	{"a byte-order mark", "\ufeff[]", false},
}

func TestDecodeChangesFastPathAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range changesCases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := decodeChangesFast(c.in); ok != c.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, c.fast)
			}
			checkDecodeChanges(t, c.in)
		})
	}
}

// checkDecodeChanges checks that where the fast path takes in, encoding/json takes it too
// and agrees, and that decodeChanges' result and error are those of encoding/json alone.
func checkDecodeChanges(t *testing.T, in string) {
	t.Helper()
	if fast, ok := decodeChangesFast(in); ok {
		var want []Change
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%q: the fast path took what encoding/json refuses: %v", in, err)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q:\nfast path:     %s\nencoding/json: %s", in, dump(fast), dump(want))
		}
	}
	got, err := decodeChanges(in)
	want, wantErr := decodeChangesJSON(in)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decodeChanges %s, %v; want %s, %v", in, dump(got), err, dump(want), wantErr)
	}
}

// decodeChangesJSON is decodeChanges with encoding/json alone.
func decodeChangesJSON(s string) ([]Change, error) {
	var cs []Change
	if err := json.Unmarshal([]byte(s), &cs); err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	if err := validateChanges(cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// recordCases are records (NS:entries' values); the fast path takes the first ones.
var recordCases = []string{
	`{"addr":"203.0.113.7","action":"deny","list":"api","observe":true,"expires":1796115733928,"comment":"a \"b\" \\ \u00e9\n","created":1796112133928}`,
	` { "created" : 1 , "addr" : "k" } `,
	`{"addr":"k"}`,
	`{"addr":"j"}`,
	`{}`,
	`{"list":"api"}`,
	`{"addr":"k","addr":"j"}`,

	`{"addr":"k","list":null}`,
	`{"Addr":"k"}`,
	`{"addr":"k","ttl":1}`,
	`{"addr":"k","expires":1.0}`,
	`{"addr":"k","expires":12345678901234567890}`,
	"{\"addr\":\"k\xff\"}",
	`{"addr":"k"} {}`,
	`[{"addr":"k"}]`,
	`"k"`,
	`null`,
	``,
}

func TestDecodeRecordFastPathAgreesWithEncodingJSON(t *testing.T) {
	ins := recordCases
	for _, c := range changesCases {
		if cs, err := decodeChangesJSON(c.in); err == nil {
			for _, ch := range cs {
				if ch.Record != nil {
					b, _ := json.Marshal(ch.Record)
					ins = append(ins, string(b))
				}
			}
		}
	}
	var d decoder
	for i, in := range ins {
		var r Record
		if ok := d.record(in, "k", &r); i < len(recordCases) && ok != (i < 7) {
			t.Errorf("%q: fast path took it: %v", in, ok)
		}
		checkDecodeRecord(t, in)
	}
}

// checkDecodeRecord checks that where decodeRecord's fast path takes in, encoding/json takes
// it too and agrees, and that decodeRecord's result and error are encoding/json's.
func checkDecodeRecord(t *testing.T, in string) {
	t.Helper()
	var d decoder
	var fast Record
	ok := d.record(in, "k", &fast)
	var want Record
	err := json.Unmarshal([]byte(in), &want)
	if ok && (err != nil || fast != want) {
		t.Fatalf("%q: fast path %+v, encoding/json %+v, %v", in, fast, want, err)
	}
	var got Record
	gotErr := decodeRecord(&d, in, "k", &got)
	if err == nil && want.Addr == "" {
		err = errNoAddr
	}
	if fmt.Sprint(gotErr) != fmt.Sprint(err) || err == nil && got != want {
		t.Fatalf("%q: decodeRecord %+v, %v; want %+v, %v", in, got, gotErr, want, err)
	}
}

func TestDecodeChangesCostsAboutOneAllocationPerChange(t *testing.T) {
	in := benchBatch(1000)
	if _, ok := decodeChangesFast(in); !ok {
		t.Fatal("the fast path does not take the agents' batch")
	}
	// One copy per change for its key and address, which share it; the list and comment are
	// shared by the batch; the changes and the records are slabs.
	allocs := testing.AllocsPerRun(10, func() { decodeChangesFast(in) })
	if allocs > 1000+30 {
		t.Errorf("decoding 1000 puts: %v allocations, want at most 1030", allocs)
	}
}

// benchBatch is a batch of n puts, as one agent's API writes it.
func benchBatch(n int) string {
	cs := make([]Change, n)
	for i := range cs {
		addr := fmt.Sprintf("100.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		cs[i] = Change{Op: Put, Key: addr, Record: &Record{Addr: addr, Action: "deny", List: "api",
			Expires: 1796115733928 + int64(i), Comment: "fail2ban sshd", Created: 1796112133928 + int64(i)}}
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzDecodeChanges(f *testing.F) {
	for _, c := range changesCases {
		f.Add(c.in)
	}
	f.Fuzz(checkDecodeChanges)
}

func FuzzDecodeRecord(f *testing.F) {
	for _, in := range recordCases {
		f.Add(in)
	}
	f.Fuzz(checkDecodeRecord)
}

// dump shows changes with their records.
func dump(cs []Change) string {
	b, _ := json.Marshal(cs)
	return fmt.Sprintf("%d changes (nil: %v) %s", len(cs), cs == nil, b)
}
