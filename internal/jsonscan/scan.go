// Package jsonscan reads the subset of JSON that the fast decoders of the agents' own bodies
// take: objects with exact, unescaped member names; strings with any escape but a surrogate
// \u; true, false and null; numbers as their text. On anything else (invalid UTF-8, a
// surrogate, a syntax error, another type than the one asked for) a reader reports false,
// and the decoder answers "not handled" so that its caller decodes the input with
// encoding/json, whose result and error stand. Where a reader answers, its value is the one
// encoding/json gives.
package jsonscan

import (
	"strings"
	"unicode/utf8"
)

// Scanner reads one input from its start. The strings it returns without copying are views
// of the input: Text copies them.
type Scanner struct {
	s string
	i int
}

// Reset makes the scanner read s from its start.
func (d *Scanner) Reset(s string) { d.s, d.i = s, 0 }

// Pos is the offset of the next byte to read.
func (d *Scanner) Pos() int { return d.i }

// Len is the length of the input.
func (d *Scanner) Len() int { return len(d.s) }

// Since is the input read from offset start, a view of the input.
func (d *Scanner) Since(start int) string { return d.s[start:d.i] }

// Members reads an object, calling member with each member's name and the scanner at its
// value; member reads the value and reports whether it took it. A repeated name is passed
// again: for a value that replaces the one before, as encoding/json's last value stands; a
// decoder refuses the repeat of a value that encoding/json merges into the one before.
func (d *Scanner) Members(member func(name string) bool) bool {
	if !d.Byte('{') {
		return false
	}
	if d.Byte('}') {
		return true
	}
	for {
		name, ok := d.name()
		if !ok || !member(name) {
			return false
		}
		if !d.Byte(',') {
			return d.Byte('}')
		}
	}
}

// Elements reads an array, calling elem with the scanner at each element; elem reads the
// element and reports whether it took it.
func (d *Scanner) Elements(elem func() bool) bool {
	if !d.Byte('[') {
		return false
	}
	if d.Byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !d.Byte(',') {
			return d.Byte(']')
		}
	}
}

// name reads an object member's name and its colon. Names with escapes are not handled.
func (d *Scanner) name() (string, bool) {
	v, fresh, ok := d.Str()
	if !ok || fresh || !d.Byte(':') {
		return "", false
	}
	return v, true
}

// Str reads a string after whitespace. Without escapes v is a view of the input (fresh
// false), to be copied if kept; with them v is newly built (fresh true).
func (d *Scanner) Str() (v string, fresh, ok bool) {
	d.ws()
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
func (d *Scanner) escaped(start, esc int) (string, bool, bool) {
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

// Text reads a string: the first of shared that is equal to it, or else a copy, never a
// view of the input.
func (d *Scanner) Text(shared ...string) (string, bool) {
	v, fresh, ok := d.Str()
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

// Shared reads a string, which is *last when equal to it, and makes it *last: the entries of
// one input mostly repeat their list and comment, which are then one copy.
func (d *Scanner) Shared(last *string) (string, bool) {
	v, ok := d.Text(*last)
	*last = v
	return v, ok
}

// Number reads a number after whitespace and returns its text, a view of the input, as
// JSON's grammar has it: an optional minus, an integer part without leading zeros, an
// optional fraction and an optional exponent.
func (d *Scanner) Number() (string, bool) {
	d.ws()
	s, i := d.s, d.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		if j := digits(s, i+1); j > i+1 {
			i = j
		} else {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if k := digits(s, j); k > j {
			i = k
		} else {
			return "", false
		}
	}
	v := s[d.i:i]
	d.i = i
	return v, true
}

// digits is the offset after the decimal digits of s from i.
func digits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// Bool reads true or false after whitespace.
func (d *Scanner) Bool() (bool, bool) {
	d.ws()
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

// Null reads null after whitespace.
func (d *Scanner) Null() bool {
	if d.ws(); strings.HasPrefix(d.s[d.i:], "null") {
		d.i += 4
		return true
	}
	return false
}

// ws skips JSON's whitespace.
func (d *Scanner) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// Peek is the next byte after whitespace, 0 at the end.
func (d *Scanner) Peek() byte {
	if d.ws(); d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

// Byte reads c after whitespace, and reports whether it was there.
func (d *Scanner) Byte(c byte) bool {
	if d.Peek() == c {
		d.i++
		return true
	}
	return false
}

// End reports whether only whitespace is left.
func (d *Scanner) End() bool {
	d.ws()
	return d.i == len(d.s)
}
