package decision

import "bytes"

// maxAddrText is longer than any textual address HAProxy can send us (an IPv6 address with
// an embedded IPv4 part is at most 45 bytes).
const maxAddrText = 64

// parseAddrText parses an address sent as a STRING, as from req.hdr(x-forwarded-for), into
// ip, returning its length (4 or 16; 0 if b is not an address). Spaces around it and square
// brackets are ignored and, when the value is still a comma-separated list, its last element
// (the one the nearest proxy added) is used, as HAProxy's hdr() does by default. Zones are
// refused. It accepts exactly what netip.ParseAddr accepts without a zone (FuzzParseAddrText)
// but never allocates, not even for the error netip would build for bad input, which a
// client controls.
func parseAddrText(b []byte, ip *[16]byte) int {
	if i := bytes.LastIndexByte(b, ','); i >= 0 {
		b = b[i+1:]
	}
	b = trimASCIISpace(b)
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > maxAddrText {
		return 0
	}
	if bytes.IndexByte(b, ':') < 0 { // common case first: X-Forwarded-For mostly holds IPv4
		if v4, ok := parseIPv4(b); ok {
			copy(ip[:4], v4[:])
			return 4
		}
		return 0
	}
	if parseIPv6(b, ip) {
		return 16
	}
	return 0
}

// trimASCIISpace trims the white space HTTP and list syntax use. Not bytes.TrimSpace: it
// also trims Unicode spaces (U+0085, U+00A0), which would let "\u00a0::1" pass as ::1.
func trimASCIISpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseIPv4 parses dotted decimal, strictly: four fields, no leading zeros.
func parseIPv4(s []byte) (ip [4]byte, ok bool) {
	field, digits, val := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 { // leading zero
				return ip, false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return ip, false
			}
		case c == '.' && digits > 0 && field < 3:
			ip[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(val)
	return ip, true
}

// parseIPv6 parses RFC 4291 text (with "::" and an optional trailing dotted IPv4 part), the
// way netip.ParseAddr does.
func parseIPv6(s []byte, ip *[16]byte) bool {
	*ip = [16]byte{}
	ellipsis := -1 // where "::" stands, in bytes of ip
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, s = 0, s[2:]
		if len(s) == 0 {
			return true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			c := s[off]
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c - '0')
			case c >= 'a' && c <= 'f':
				d = int(c-'a') + 10
			case c >= 'A' && c <= 'F':
				d = int(c-'A') + 10
			default:
				goto groupEnd
			}
			if off == 4 {
				return false // more than 4 hex digits
			}
			acc = acc<<4 | d
		}
	groupEnd:
		if off == 0 {
			return false
		}
		if off < len(s) && s[off] == '.' { // trailing IPv4 part
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return false
			}
			copy(ip[i:], v4[:])
			i, s = i+4, nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return false // a second "::"
			}
			ellipsis, s = i, s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return false
	}
	if i < 16 {
		if ellipsis < 0 {
			return false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return false // "::" must stand for at least one group
	}
	return true
}
