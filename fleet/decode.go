package fleet

import (
	"strconv"
	"strings"

	"github.com/spoaguard/spoaguard/internal/jsonscan"
)

// The fast decoder reads the JSON of records and log batches as the agents write it: the
// fields of Record and Change, in any order and with any whitespace, a repeated field's last
// value standing as with encoding/json; strings with any escape but a surrogate \u;
// integers that fit an int64. Every follower decodes every batch, and a full sync decodes
// every record, so this is most of a follower's CPU under a high write rate. Anything else
// (null, unknown or case-variant keys, a repeated rec, floats, surrogates, invalid UTF-8,
// syntax errors) is "not handled": the caller then decodes the input with
// encoding/json, whose result and error stand. Where the fast path answers, its result is
// the one encoding/json gives (FuzzDecodeChanges, FuzzDecodeRecord).
//
// The decoded strings are copies, never views of the input: the live set keeps a record's
// list and comment as long as the entry lives, and a view would keep the whole batch alive.
// Copies are shared where they can be: a change's key and its record's address, and a list
// or comment equal to the previous record's (the records of one batch or one page of a scan
// mostly share both).

// decoder reads one input at a time; its shared strings carry over from one input to the
// next, so that a scan's records share their lists and comments.
type decoder struct {
	jsonscan.Scanner
	list string // the last list decoded
	note string // the last comment decoded
	recs []Record
}

// decodeChangesFast decodes a log batch's changes, or reports false when the input is not
// in the fast subset.
func decodeChangesFast(s string) ([]Change, bool) {
	var d decoder
	d.Reset(s)
	cs := []Change{} // encoding/json gives an empty slice, not nil, for []
	ok := d.Elements(func() bool {
		cs = append(cs, Change{})
		return d.change(&cs[len(cs)-1])
	})
	if !ok || !d.End() {
		return nil, false
	}
	return cs, true
}

// record decodes one record (NS:entries' value) into r, or reports false when s is not in
// the fast subset. key is the entry's hash field: the record's address is that same string
// when they are equal.
func (d *decoder) record(s, key string, r *Record) bool {
	d.Reset(s)
	*r = Record{}
	return d.object(r, key) && d.End()
}

// change decodes one element of a batch into c, which is zero.
func (d *decoder) change(c *Change) bool {
	return d.Members(func(name string) (ok bool) {
		switch name {
		case "op":
			var op string
			op, ok = d.Text(string(Put), string(Delete))
			c.Op = Op(op)
		case "key":
			if c.Record != nil {
				c.Key, ok = d.Text(c.Record.Addr)
			} else {
				c.Key, ok = d.Text()
			}
		case "rec":
			if d.Peek() != '{' || c.Record != nil {
				// null and other types, and a repeat (encoding/json merges it into the
				// record before): encoding/json's
				return false
			}
			c.Record = d.newRecord()
			ok = d.object(c.Record, c.Key)
		}
		return ok
	})
}

// object decodes a record object into r, which is zero. Its address is addr when equal.
func (d *decoder) object(r *Record, addr string) bool {
	return d.Members(func(name string) (ok bool) {
		switch name {
		case "addr":
			r.Addr, ok = d.Text(addr)
		case "action":
			r.Action, ok = d.Text("deny", "allow")
		case "list":
			r.List, ok = d.Shared(&d.list)
		case "observe":
			r.Observe, ok = d.Bool()
		case "expires":
			r.Expires, ok = d.int()
		case "comment":
			r.Comment, ok = d.Shared(&d.note)
		case "created":
			r.Created, ok = d.int()
		}
		return ok
	})
}

// newRecord returns a zero record from a slab: a batch's records cost a few allocations,
// not one each.
func (d *decoder) newRecord() *Record {
	if len(d.recs) == cap(d.recs) {
		d.recs = make([]Record, 0, min(max(2*cap(d.recs), 16), 1024))
	}
	d.recs = d.recs[:len(d.recs)+1]
	return &d.recs[len(d.recs)-1]
}

// int reads an integer that fits an int64, as encoding/json reads one into an int64 field:
// a fraction, an exponent or an overflow is left to it. Up to 18 digits cannot overflow and
// are read here, in one pass (timestamps have 13); longer ones by strconv.
func (d *decoder) int() (int64, bool) {
	v, ok := d.Number()
	if !ok {
		return 0, false
	}
	digits := strings.TrimPrefix(v, "-")
	if len(digits) > 18 {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(v) {
		n = -n
	}
	return n, true
}
