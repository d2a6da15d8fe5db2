package fleet

import (
	"strconv"
	"unicode/utf8"
)

// The encoder writes records and batches in the layout docs/FLEET.md documents: Record's and
// Change's fields in their declared order, the omitempty ones left out when empty, strings
// escaped as encoding/json escapes them (without its HTML escaping of <, > and &, which no
// reader of Redis needs). Its output is encoding/json's, byte for byte, with SetEscapeHTML
// false (TestEncodeIsEncodingJSONs, FuzzEncodeRecord); Write encodes each record once and
// the batch around it, where encoding/json marshalled every record twice.

// appendRecord appends r's JSON to dst.
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, `{"addr":`...)
	dst = appendString(dst, r.Addr)
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, r.Action)
	dst = append(dst, `,"list":`...)
	dst = appendString(dst, r.List)
	if r.Observe {
		dst = append(dst, `,"observe":true`...)
	}
	if r.Expires != 0 {
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, r.Expires, 10)
	}
	if r.Comment != "" {
		dst = append(dst, `,"comment":`...)
		dst = appendString(dst, r.Comment)
	}
	dst = append(dst, `,"created":`...)
	dst = strconv.AppendInt(dst, r.Created, 10)
	return append(dst, '}')
}

// appendChanges appends the JSON array of cs to dst. recs, when not nil, gets for each
// change the span of dst that holds its record's JSON (zero without a record), so that the
// record's bytes serve twice.
func appendChanges(dst []byte, cs []Change, recs [][2]int) []byte {
	dst = append(dst, '[')
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"op":`...)
		dst = appendString(dst, string(c.Op))
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, c.Key)
		if c.Record != nil {
			dst = append(dst, `,"rec":`...)
			start := len(dst)
			dst = appendRecord(dst, c.Record)
			if recs != nil {
				recs[i] = [2]int{start, len(dst)}
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendString appends s as a JSON string, escaped as encoding/json escapes it: ", \ and the
// control characters, U+2028 and U+2029 (which JavaScript reads as line ends), and each byte
// of invalid UTF-8 as U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	plain := 0 // s[plain:i] needs no escape
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[plain:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			plain = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, s[plain:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[plain:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&15])
		default:
			i += n
			continue
		}
		i += n
		plain = i
	}
	dst = append(dst, s[plain:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"
