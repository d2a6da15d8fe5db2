package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Ban is an entry as the API reads it (POST /v1/bans).
type Ban struct {
	Addr    string `json:"addr"`
	TTL     TTL    `json:"ttl,omitzero"`
	Action  string `json:"action,omitempty"` // deny (default) or allow
	List    string `json:"list,omitempty"`   // default api
	Observe bool   `json:"observe,omitempty"`
	Comment string `json:"comment,omitempty"`
	// The agent's (Listed); a POST may only send them null, as Client writes expires.
	Expires *time.Time `json:"expires"`
	Created *time.Time `json:"created,omitempty"`
}

// Listed is an entry as GET /v1/bans writes it: every field for every entry, an empty
// comment and observe false too, so that a script reads each without a case for its absence.
type Listed struct {
	Addr    string     `json:"addr"`
	Action  string     `json:"action"`
	List    string     `json:"list"`
	Observe bool       `json:"observe"`
	Comment string     `json:"comment"`
	Expires *time.Time `json:"expires"` // null for an entry that does not expire
	Created time.Time  `json:"created"`
}

// maxTTL keeps an expiry representable.
const maxTTL = 100 * 365 * 24 * time.Hour

// TTL is a duration written as a Go duration string ("1h30m") or a number of seconds. Zero
// is no expiry.
type TTL time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (t *TTL) UnmarshalJSON(b []byte) error {
	d, err := parseTTL(string(b))
	if err != nil {
		return err
	}
	*t = d
	return nil
}

// parseTTL reads a ttl from its JSON text: a string or a number.
func parseTTL(b string) (TTL, error) {
	var d time.Duration
	var nonzero bool // what is written is not 0: it must not become "no expiry" by rounding
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(b) // a duration has no escapes; json's own decoder costs a tenth of a large POST
		if err != nil {
			return 0, fmt.Errorf("ttl %s: want a duration such as \"1h\" or a number of seconds", b)
		}
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("ttl %q: want a duration such as \"1h\" or a number of seconds", s)
		}
		nonzero = strings.ContainsAny(s, "123456789")
	} else {
		secs, err := strconv.ParseFloat(b, 64)
		if err != nil || math.IsNaN(secs) {
			return 0, fmt.Errorf("ttl %s: want a duration such as \"1h\" or a number of seconds", b)
		}
		if secs > maxTTL.Seconds() {
			return 0, fmt.Errorf("ttl %s: longer than %s", b, maxTTL)
		}
		d, nonzero = time.Duration(secs*float64(time.Second)), secs != 0
	}
	if d == 0 && nonzero {
		return 0, fmt.Errorf("ttl %s: shorter than 1ns (0 is no expiry)", b)
	}
	if d < 0 || d > maxTTL {
		return 0, fmt.Errorf("ttl %s: want 0 (no expiry) up to %s", time.Duration(d), maxTTL)
	}
	return TTL(d), nil
}

// ParseTTL reads a ttl as a command line gives it: a duration such as "1h", or a number of
// seconds (fail2ban's bantime), with the API's bounds.
func ParseTTL(s string) (TTL, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return parseTTL(s)
	}
	return parseTTL(strconv.Quote(s))
}

// Set implements flag.Value with ParseTTL.
func (t *TTL) Set(s string) error {
	d, err := ParseTTL(s)
	if err != nil {
		return err
	}
	*t = d
	return nil
}

// String implements flag.Value.
func (t *TTL) String() string { return time.Duration(*t).String() }

// MarshalJSON implements json.Marshaler: a duration string.
func (t TTL) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(t).String()) }

// postBody is the body of POST /v1/bans: one entry, or a list of them under "bans".
type postBody struct {
	Bans *[]Ban `json:"bans"`
	Ban
}

// decodePost decodes a POST body strictly: unknown fields and trailing data are errors. The
// bodies the API's own clients write take the fast path (decodePostFast); any other body is
// decoded by encoding/json.
func decodePost(body []byte) ([]Ban, error) {
	p, ok := decodePostFast(body)
	if !ok {
		var err error
		if p, err = decodePostJSON(body); err != nil {
			return nil, err
		}
	}
	return p.entries()
}

// entries are the body's entries: the one entry, or the list.
func (p *postBody) entries() ([]Ban, error) {
	if p.Bans == nil {
		if p.Addr == "" {
			return nil, errors.New(`want one entry {"addr": ...} or {"bans": [...]}`)
		}
		return []Ban{p.Ban}, nil
	}
	if p.Ban != (Ban{}) {
		return nil, errors.New(`an entry's fields beside "bans": send one entry or a list`)
	}
	return *p.Bans, nil
}

// decodePostJSON decodes a POST body with encoding/json.
func decodePostJSON(body []byte) (postBody, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p postBody
	if err := dec.Decode(&p); err != nil {
		return postBody{}, postError(body, err)
	}
	if dec.More() {
		return postBody{}, errors.New("malformed JSON: data after the object")
	}
	return p, nil
}

// postError says what is wrong with a body that encoding/json refused with err, naming the
// entry at fault as the checks of the entries do ("bans[i]: why"): in a list of 100,000, an
// unknown field or a bad ttl is otherwise not to be found. Only a refused body is decoded
// again, entry by entry.
func postError(body []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return jsonError(err)
	}
	var list struct {
		Bans *[]json.RawMessage `json:"bans"`
	}
	if json.Unmarshal(body, &list) != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return fmt.Errorf(`want one entry {"addr": ...} or {"bans": [...]}, not %s`, jsonValueName(typ.Value))
		}
		return jsonError(err) // "bans" is not a list
	}
	if list.Bans == nil {
		return fmt.Errorf("bans[0]: %w", entryError(body, err)) // the one entry's
	}
	for i, raw := range *list.Bans {
		if e := entryError(raw, nil); e != nil {
			return fmt.Errorf("bans[%d]: %w", i, e)
		}
	}
	if e := jsonError(err); strings.HasPrefix(e.Error(), "unknown field ") {
		f, _, _ := strings.Cut(strings.TrimPrefix(e.Error(), "unknown field "), ":")
		return fmt.Errorf(`unknown field %s beside "bans": a list is {"bans": [...]} alone`, f)
	}
	return jsonError(err) // beside the list
}

// postEntry is Ban as a POST may send it, with expires and created kept raw: a time there is
// refused as the checks of the entries refuse it, not as time's parsing would.
type postEntry struct {
	Addr    string          `json:"addr"`
	TTL     TTL             `json:"ttl"`
	Action  string          `json:"action"`
	List    string          `json:"list"`
	Observe bool            `json:"observe"`
	Comment string          `json:"comment"`
	Expires json.RawMessage `json:"expires"`
	Created json.RawMessage `json:"created"`
}

// entryError is what is wrong with the entry raw, or orig when the entry alone decodes.
func entryError(raw []byte, orig error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e postEntry
	if err := dec.Decode(&e); err != nil {
		return jsonError(err)
	}
	for _, t := range []json.RawMessage{e.Expires, e.Created} {
		if t != nil && string(t) != "null" {
			return errors.New("expires and created are set by the agent; send ttl")
		}
	}
	if orig != nil {
		return jsonError(orig)
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		what := fmt.Sprintf("want %s, not %s", jsonTypeName(typ.Type), jsonValueName(typ.Value))
		if typ.Field == "" {
			return errors.New(what)
		}
		return fmt.Errorf("%s: %s", typ.Field, what)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("malformed JSON: the body ends early")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return fmt.Errorf("%s: an entry has addr, ttl, action, list, observe and comment", msg)
	}
	return errors.New(msg)
}

// jsonTypeName is what a field of type t holds, in JSON's words.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another value"
}

// jsonValueName names a value as encoding/json's UnmarshalTypeError.Value describes it
// ("number", "string", "bool", "array", "object", or "number 5").
func jsonValueName(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "array", "object":
		return "an " + kind
	case "bool":
		return "true or false"
	case "number", "string":
		return "a " + kind
	}
	return v
}

// Check is the answer of GET /v1/check.
type Check struct {
	IP       string   `json:"ip"`
	Blocked  bool     `json:"blocked"`
	List     string   `json:"list"`
	Lists    []string `json:"lists"`
	Observed []string `json:"observed"`
	Matches  []Match  `json:"matches"`
}

// Match is one list covering the address checked. Every field is there in every match, as
// in Listed.
type Match struct {
	List    string     `json:"list"`
	Action  string     `json:"action"`
	Source  string     `json:"source"` // file or live
	Observe bool       `json:"observe"`
	Addr    string     `json:"addr"`    // the live entry; "" for a file list
	Expires *time.Time `json:"expires"` // the live entry's; null for none and for a file list
}

// Changed is the answer of POST /v1/bans.
type Changed struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
}

// Removed is the answer of DELETE /v1/bans.
type Removed struct {
	Removed int `json:"removed"`
}

// Listing is the answer of GET /v1/bans. Next, when set, is the after of the next page.
type Listing struct {
	Bans []Listed `json:"bans"`
	Next string   `json:"next,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}
