package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// encodingJSON is what encoding/json writes for v, without its HTML escaping.
func encodingJSON(t testing.TB, v any) string {
	t.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// encodeRecords are records whose strings need every kind of escape.
var encodeRecords = []Record{
	{Addr: "203.0.113.7", Action: "deny", List: "api", Created: 1796112133928},
	{Addr: "198.51.100.0/24", Action: "allow", List: "ops", Observe: true, Expires: 1796115733928, Comment: "fail2ban sshd", Created: -1},
	{Addr: "2001:db8::/64", Comment: `say "hi" \ to C:\temp\ <b>&amp;</b>`},
	{Addr: "192.0.2.1-192.0.2.9", Comment: "ünï €𝄞 \u2028 \u2029 \ufffd \x7f"},
	{Addr: "k", Comment: "\x00\x01\b\t\n\v\f\r\x1b\x1f"},
	{Addr: "k", Comment: "invalid \xff UTF-8 \xc3 \xe2\x80 \xed\xa0\x80 end\xe2"},
	{Expires: -9223372036854775808, Created: 9223372036854775807},
	{},
}

func TestEncodeIsEncodingJSONs(t *testing.T) {
	for _, r := range encodeRecords {
		if got, want := string(appendRecord(nil, &r)), encodingJSON(t, &r); got != want {
			t.Errorf("appendRecord:\n got %s\nwant %s", got, want)
		}
	}
	cs := []Change{{Op: Delete, Key: "203.0.113.7"}, {Op: "other \"op\"", Key: "k\n"}}
	for i := range encodeRecords {
		cs = append(cs, Change{Op: Put, Key: encodeRecords[i].Addr, Record: &encodeRecords[i]})
	}
	cs = append(cs, Change{Op: Delete, Key: "k", Record: &encodeRecords[0]})
	for _, batch := range [][]Change{nil, {}, cs} {
		if got, want := string(appendChanges(nil, batch, nil)), encodingJSON(t, batch); got != want && batch != nil {
			t.Errorf("appendChanges:\n got %s\nwant %s", got, want)
		}
	}
}

func TestEncodedBatchHoldsEachRecordsEncoding(t *testing.T) {
	cs := []Change{{Op: Delete, Key: "k"}}
	for i := range encodeRecords {
		cs = append(cs, Change{Op: Put, Key: encodeRecords[i].Addr, Record: &encodeRecords[i]})
	}
	recs := make([][2]int, len(cs))
	b := appendChanges([]byte("prefix"), cs, recs)
	if recs[0] != [2]int{} {
		t.Errorf("a delete without a record has the span %v", recs[0])
	}
	for i, c := range cs[1:] {
		span := recs[i+1]
		if got, want := string(b[span[0]:span[1]]), string(appendRecord(nil, c.Record)); got != want {
			t.Errorf("change %d's span holds %s, want %s", i+1, got, want)
		}
	}
}

func TestEncodedRecordsAndBatchesDecodeOnTheFastPath(t *testing.T) {
	var d decoder
	var cs []Change
	for i := range encodeRecords {
		r := &encodeRecords[i]
		in := string(appendRecord(nil, r))
		var fast, want Record
		if !d.record(in, r.Addr, &fast) {
			t.Fatalf("the fast path refuses the encoding of %+v: %s", r, in)
		}
		if err := json.Unmarshal([]byte(in), &want); err != nil || fast != want {
			t.Fatalf("%s: fast path %+v, encoding/json %+v, %v", in, fast, want, err)
		}
		if !strings.Contains(r.Comment, "invalid") && fast != *r {
			t.Errorf("%s decodes to %+v, want %+v", in, fast, *r)
		}
		cs = append(cs, Change{Op: Put, Key: r.Addr, Record: r}, Change{Op: Delete, Key: r.Addr + `"\`})
	}
	in := string(appendChanges(nil, cs, nil))
	got, ok := decodeChangesFast(in)
	var want []Change
	if err := json.Unmarshal([]byte(in), &want); !ok || err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nfast path (%v) %s\nencoding/json (%v) %s", in, ok, dump(got), err, dump(want))
	}
}

func TestWriteRefusesWhatFollowersWouldRefuse(t *testing.T) {
	f := &Fleet{} // never reached: the batch is refused before anything is sent
	for _, cs := range [][]Change{
		{{Op: Put, Key: "203.0.113.7"}},
		{{Op: Delete}},
		{{Op: "upsert", Key: "203.0.113.7"}},
	} {
		if err := f.Write(context.Background(), cs); err == nil || !strings.HasPrefix(err.Error(), "changes[0]: ") {
			t.Errorf("Write(%+v): %v, want the batch refused", cs, err)
		}
	}
}

func FuzzEncodeRecord(f *testing.F) {
	for _, r := range encodeRecords {
		f.Add(r.Addr, r.Action, r.List, r.Observe, r.Expires, r.Comment, r.Created)
	}
	f.Fuzz(func(t *testing.T, addr, action, list string, observe bool, expires int64, comment string, created int64) {
		r := Record{Addr: addr, Action: action, List: list, Observe: observe, Expires: expires, Comment: comment, Created: created}
		enc := appendRecord(nil, &r)
		if got, want := string(enc), encodingJSON(t, &r); got != want {
			t.Fatalf("appendRecord:\n got %q\nwant %q", got, want)
		}
		c := []Change{{Op: Op(action), Key: addr, Record: &r}}
		if got, want := string(appendChanges(nil, c, nil)), encodingJSON(t, c); got != want {
			t.Fatalf("appendChanges:\n got %q\nwant %q", got, want)
		}
		var d decoder
		var fast Record
		if !d.record(string(enc), addr, &fast) {
			t.Fatalf("the fast path refuses the encoding of %+v: %q", r, enc)
		}
	})
}
