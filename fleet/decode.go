package fleet

import (
	"strings"
	"unicode/utf8"
)

// The fast decoder reads the JSON of records and log batches as the agents write it: the
// fields of Record and Change, each once, in any order and with any whitespace; strings with
// any escape but a surrogate \u; integers of up to 18 digits. Every follower decodes every
// batch, and a full sync decodes every record, so this is most of a follower's CPU under a
// high write rate. Anything else (null, unknown or case-variant keys, floats, surrogates,
// invalid UTF-8, syntax errors) is "not handled": the caller then decodes the input with
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
	s    string
	i    int
	list string // the last list decoded
	note string // the last comment decoded
	recs []Record
}

// decodeChangesFast decodes a log batch's changes, or reports false when the input is not
// in the fast subset.
func decodeChangesFast(s string) ([]Change, bool) {
	d := decoder{s: s}
	if !d.byte('[') {
		return nil, false
	}
	cs := []Change{} // encoding/json gives an empty slice, not nil, for []
	if d.ws(); d.peek() == ']' {
		d.i++
		return cs, d.end()
	}
	for {
		cs = append(cs, Change{})
		if !d.change(&cs[len(cs)-1]) {
			return nil, false
		}
		switch d.ws(); d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return cs, d.end()
		default:
			return nil, false
		}
	}
}

// record decodes one record (NS:entries' value) into r, or reports false when s is not in
// the fast subset. key is the entry's hash field: the record's address is that same string
// when they are equal.
func (d *decoder) record(s, key string, r *Record) bool {
	d.s, d.i = s, 0
	*r = Record{}
	return d.object(r, key) && d.end()
}

// Member bits, to refuse a repeated name: encoding/json merges a repeat into what it
// decoded before, which the fast path leaves to it.
const (
	fAddr = 1 << iota
	fAction
	fList
	fObserve
	fExpires
	fComment
	fCreated
	fOp
	fKey
	fRec
)

// change decodes one element of a batch into c, which is zero.
func (d *decoder) change(c *Change) bool {
	return d.members(func(name string) (bit int, ok bool) {
		switch name {
		case "op":
			var op string
			op, ok = d.text(string(Put), string(Delete))
			c.Op = Op(op)
			return fOp, ok
		case "key":
			if c.Record != nil {
				c.Key, ok = d.text(c.Record.Addr)
			} else {
				c.Key, ok = d.text()
			}
			return fKey, ok
		case "rec":
			if d.peek() != '{' {
				return fRec, false // null and other types: encoding/json's
			}
			c.Record = d.newRecord()
			return fRec, d.object(c.Record, c.Key)
		}
		return 0, false
	})
}

// object decodes a record object into r, which is zero. Its address is addr when equal.
func (d *decoder) object(r *Record, addr string) bool {
	return d.members(func(name string) (bit int, ok bool) {
		switch name {
		case "addr":
			r.Addr, ok = d.text(addr)
			return fAddr, ok
		case "action":
			r.Action, ok = d.text("deny", "allow")
			return fAction, ok
		case "list":
			r.List, ok = d.text(d.list)
			d.list = r.List
			return fList, ok
		case "observe":
			r.Observe, ok = d.bool()
			return fObserve, ok
		case "expires":
			r.Expires, ok = d.int()
			return fExpires, ok
		case "comment":
			r.Comment, ok = d.text(d.note)
			d.note = r.Comment
			return fComment, ok
		case "created":
			r.Created, ok = d.int()
			return fCreated, ok
		}
		return 0, false
	})
}

// members reads an object, calling member with each member's name and the reader at its
// value; member reads the value and returns the name's bit and whether it took the value.
func (d *decoder) members(member func(name string) (bit int, ok bool)) bool {
	if !d.byte('{') {
		return false
	}
	if d.ws(); d.peek() == '}' {
		d.i++
		return true
	}
	seen := 0
	for {
		name, ok := d.name()
		if !ok {
			return false
		}
		bit, ok := member(name)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.ws(); d.peek() != ',' {
			return d.byte('}')
		}
		d.i++
	}
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

// name reads an object member's name and its colon. Names with escapes are not handled.
func (d *decoder) name() (string, bool) {
	d.ws()
	v, fresh, ok := d.str()
	if !ok || fresh || !d.byte(':') {
		return "", false
	}
	d.ws()
	return v, true
}

// str reads a string. Without escapes v is a view of the input (fresh false), to be copied
// if kept; with them v is newly built (fresh true).
func (d *decoder) str() (v string, fresh, ok bool) {
	s := d.s
	if d.i >= len(s) || s[d.i] != '"' {
		return "", false, false
	}
	start := d.i + 1
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return s[start:i], false, true
		case c == '\\':
			return d.escaped(start, i)
		case c < 0x20:
			return "", false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false, false // encoding/json replaces it with U+FFFD
			}
			i += n
		}
	}
	return "", false, false
}

// escaped reads the rest of a string that has an escape at esc, from its start.
func (d *decoder) escaped(start, esc int) (string, bool, bool) {
	s := d.s
	b := make([]byte, 0, esc-start+16)
	b = append(b, s[start:esc]...)
	for i := esc; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(b), true, true
		case c == '\\':
			if i+1 >= len(s) {
				return "", false, false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				b = append(b, s[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(s[i+2:])
				if !ok || utf8.RuneLen(r) < 0 {
					return "", false, false // surrogates (pairs or not): encoding/json's
				}
				b = utf8.AppendRune(b, r)
				i += 4
			default:
				return "", false, false
			}
			i += 2
		case c < 0x20:
			return "", false, false
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false, false
			}
			b = append(b, s[i:i+n]...)
			i += n
		}
	}
	return "", false, false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// int reads an integer of at most 18 digits, which cannot overflow an int64. A fraction or
// an exponent ends the number where the caller expects a separator, which it refuses.
func (d *decoder) int() (int64, bool) {
	s, i := d.s, d.i
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start := i
	var v int64
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	if n := i - start; n == 0 || n > 18 || n > 1 && s[start] == '0' {
		return 0, false
	}
	d.i = i
	if neg {
		v = -v
	}
	return v, true
}

// bool reads true or false.
func (d *decoder) bool() (bool, bool) {
	switch rest := d.s[d.i:]; {
	case strings.HasPrefix(rest, "true"):
		d.i += 4
		return true, true
	case strings.HasPrefix(rest, "false"):
		d.i += 5
		return false, true
	}
	return false, false
}

// ws skips JSON's whitespace.
func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek is the next byte, 0 at the end.
func (d *decoder) peek() byte {
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// byte reads c after whitespace.
func (d *decoder) byte(c byte) bool {
	if d.ws(); d.peek() == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (d *decoder) end() bool {
	d.ws()
	return d.i == len(d.s)
}

// text reads a string: the first of shared that is equal to it, or else a copy.
func (d *decoder) text(shared ...string) (string, bool) {
	v, fresh, ok := d.str()
	if !ok {
		return "", false
	}
	for _, s := range shared {
		if v == s {
			return s, true
		}
	}
	if fresh {
		return v, true
	}
	return strings.Clone(v), true
}
