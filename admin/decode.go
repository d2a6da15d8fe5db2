package admin

import (
	"slices"
	"unsafe"

	"github.com/spoaguard/spoaguard/internal/jsonscan"
)

// The fast decoder reads POST /v1/bans bodies as Client, scripts and the benchmarks write
// them: one entry or {"bans": [...]}; each entry with the fields addr, ttl (a string or a
// number), action, list, observe and comment, and expires and created when null (Client
// writes "expires": null); in any order, with any whitespace, a repeated field's last value
// standing as with encoding/json. At 10,000 bans a second, encoding/json's decoding of the
// bodies is most of the API's cost on the agent's CPUs, and its garbage makes the collector
// stop the event loops. Anything else (other nulls, an expires or created time, unknown or
// case-variant keys, a repeated bans, surrogates, invalid UTF-8, a ttl that TTL refuses,
// syntax errors, trailing data) is "not handled": decodePost then decodes the body with
// encoding/json, whose result and error stand. Where the fast path answers, its result is
// the one encoding/json gives (FuzzDecodePost).
//
// The decoded strings are copies, never views of the body: the live set keeps an entry's
// list and comment as long as the entry lives, and a view would keep the whole body alive.
// An action, list or comment equal to the previous entry's is that same string.

// minEntryLen is the length of about the shortest entry that has an address and a ttl,
// {"addr":"1.2.3.4","ttl":"1h"}, with its comma.
const minEntryLen = 32

// postDecoder reads one body.
type postDecoder struct {
	jsonscan.Scanner
	action string // the last action decoded
	list   string // the last list decoded
	note   string // the last comment decoded
	ttlIn  string // the last ttl's text (a view of the body) and its value
	ttlOut TTL
}

// decodePostFast decodes a POST body, or reports false when it is not in the fast subset.
func decodePostFast(body []byte) (postBody, bool) {
	var d postDecoder
	// The body is only read while it is decoded, and every string kept is a copy.
	d.Reset(unsafe.String(unsafe.SliceData(body), len(body)))
	var p postBody
	ok := d.Members(func(name string) bool {
		if name == "bans" {
			if p.Bans != nil {
				return false // encoding/json decodes a repeat into the entries decoded before
			}
			bans, ok := d.bans()
			p.Bans = &bans
			return ok
		}
		return d.member(&p.Ban, name)
	})
	return p, ok && d.End()
}

// bans reads the list of entries.
func (d *postDecoder) bans() ([]Ban, bool) {
	bans := []Ban{} // encoding/json gives an empty slice, not nil, for []
	start := 0      // the offset of the first entry
	ok := d.Elements(func() bool {
		switch len(bans) {
		case 0:
			start = d.Pos()
		case 1:
			// The entries of one body are alike: size the list from the first one's length,
			// rather than copying it at every doubling (a 100,000-entry list 17 times). A
			// first entry shorter than any real one ({}) would size it for entries of a few
			// bytes: taking minEntryLen keeps the list within 3 times the body's size.
			bans = slices.Grow(bans, (d.Len()-d.Pos())/max(d.Pos()-start, minEntryLen)+1)
		}
		bans = append(bans, Ban{})
		b := &bans[len(bans)-1]
		return d.Members(func(name string) bool { return d.member(b, name) })
	})
	if !ok {
		return nil, false // null and other types, and what an entry does not handle: encoding/json's
	}
	return bans, true
}

// member reads the value of the entry's member name into b.
func (d *postDecoder) member(b *Ban, name string) (ok bool) {
	switch name {
	case "addr":
		b.Addr, ok = d.Text()
	case "ttl":
		b.TTL, ok = d.ttl()
	case "action":
		b.Action, ok = d.Shared(&d.action)
	case "list":
		b.List, ok = d.Shared(&d.list)
	case "observe":
		b.Observe, ok = d.Bool()
	case "comment":
		b.Comment, ok = d.Shared(&d.note)
	case "expires", "created":
		ok = d.Null() // Client writes expires null; a time is encoding/json's
	}
	return ok // false for unknown and case-variant names: encoding/json's
}

// ttl reads a ttl with TTL.UnmarshalJSON's own parsing of its text. A ttl that parsing
// refuses is not handled: encoding/json gives the error, or an earlier one it meets first.
func (d *postDecoder) ttl() (TTL, bool) {
	var text string
	switch d.Peek() {
	case '"':
		start := d.Pos()
		if _, _, ok := d.Str(); !ok {
			return 0, false
		}
		text = d.Since(start)
	default:
		var ok bool
		if text, ok = d.Number(); !ok {
			return 0, false // null, true and false: encoding/json's
		}
	}
	if text != d.ttlIn {
		t, err := parseTTL(text)
		if err != nil {
			return 0, false
		}
		d.ttlIn, d.ttlOut = text, t // the entries of one body mostly share their ttl
	}
	return d.ttlOut, true
}
