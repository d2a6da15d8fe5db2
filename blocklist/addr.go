package blocklist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
)

// ParseAddr parses b, the whole of which must be one address: IPv4 in dotted decimal (four
// fields 0..255 without leading zeros: 010 is octal to some tools and decimal to others) or
// IPv6 as RFC 4291 writes it ("::" and a trailing dotted IPv4 part allowed). An IPv4-mapped
// IPv6 address (::ffff:a.b.c.d) is returned as the IPv4 address it maps, as lookups treat it.
// Zones, white space and anything else are refused.
//
// It accepts exactly what netip.ParseAddr accepts without a zone (FuzzParseAddr) but never
// allocates, not even for the error netip builds for bad input, which a client or a feed
// controls; and it takes bytes, saving the string conversion netip needs.
func ParseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok { // the common case: feeds and X-Forwarded-For are mostly IPv4
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], a)
		return netip.AddrFrom4(ip), true
	}
	var ip [16]byte
	if !parseIPv6(b, &ip) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip).Unmap(), true
}

// SplitAddr reads addr as the lookups take it, 4 or 16 bytes in network order (what the SPOP
// codec yields for IPV4/IPV6 values): an IPv4 address, and an IPv4-mapped IPv6 one, gives
// family 4 and the IPv4 address in the low 32 bits of lo; any other IPv6 address gives family
// 16 and its two halves; any other length gives family 0. It inlines, for the lookups' hot path.
func SplitAddr(addr []byte) (family int, hi, lo uint64) {
	switch len(addr) {
	case 4:
		return 4, 0, uint64(binary.BigEndian.Uint32(addr))
	case 16:
		hi, lo = binary.BigEndian.Uint64(addr[:8]), binary.BigEndian.Uint64(addr[8:])
		if hi == 0 && lo>>32 == 0xffff {
			return 4, 0, lo
		}
		return 16, hi, lo
	}
	return 0, 0, 0
}

// ParseLastAddr parses the last element of a comma-separated list of addresses, the element
// the nearest proxy appended to an X-Forwarded-For header (HAProxy's hdr() picks the same
// one). ASCII white space and square brackets around the element are ignored; the address
// itself is parsed by ParseAddr. It does not allocate.
func ParseLastAddr(b []byte) (netip.Addr, bool) {
	if i := bytes.LastIndexByte(b, ','); i >= 0 {
		b = b[i+1:]
	}
	b = trimSpace(b)
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	return ParseAddr(b)
}

// parseIPv4 parses dotted decimal as ParseAddr describes, into a number.
func parseIPv4(s []byte) (uint32, bool) {
	a, n, ok := scanIPv4(s)
	return a, ok && n == len(s)
}

// scanIPv4 parses the dotted decimal address s starts with and returns its length in bytes.
// It fails when the address is not valid or is followed by a digit, as in 1.2.3.4567.
func scanIPv4(s []byte) (a uint32, n int, ok bool) {
	i := 0
	for part := range 4 {
		if part > 0 {
			if i >= len(s) || s[i] != '.' {
				return 0, 0, false
			}
			i++
		}
		if i >= len(s) || s[i]-'0' > 9 {
			return 0, 0, false
		}
		v := uint32(s[i] - '0')
		i++
		if v != 0 { // no leading zeros: a field that starts with 0 is 0
			if i < len(s) && s[i]-'0' <= 9 {
				v = v*10 + uint32(s[i]-'0')
				i++
				if i < len(s) && s[i]-'0' <= 9 {
					v = v*10 + uint32(s[i]-'0')
					i++
				}
			}
		}
		if v > 255 || (i < len(s) && s[i]-'0' <= 9) {
			return 0, 0, false
		}
		a = a<<8 | v
	}
	return a, i, true
}

// parseIPv6 parses RFC 4291 text (with "::" and an optional trailing dotted IPv4 part) into
// ip, the way netip.ParseAddr does, zones excepted.
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
			d := hexDigit(s[off])
			if d < 0 {
				break
			}
			if off == 4 {
				return false // more than 4 hex digits
			}
			acc = acc<<4 | d
		}
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
			binary.BigEndian.PutUint32(ip[i:], v4)
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

// hexDigit returns the value of hex digit c, -1 if c is not one: a table, as a chain of
// range tests mispredicts on the mix of digits and letters of IPv6 text.
func hexDigit(c byte) int { return int(hexDigits[c]) }

var hexDigits = func() (t [256]int8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = int8(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = int8(c-'a') + 10
		case c >= 'A' && c <= 'F':
			t[c] = int8(c-'A') + 10
		default:
			t[c] = -1
		}
	}
	return t
}()

var (
	errBadAddr     = errors.New("not an IP address")
	errZone        = errors.New("addresses with a zone are refused")
	errBadPrefix   = errors.New("bad prefix length")
	errMixedFamily = errors.New("range mixes IPv4 and IPv6")
	errBackwards   = errors.New("range end is before its start")
)

// entry is one parsed address, prefix or range, in exactly one family.
type entry struct {
	v6   bool
	r4   range4
	r6   range6
	bits int // prefix length (for the minimum-prefix check); -1 for an a-b range
}

// parseAddr parses one address as ParseAddr does, with the reason when it is not one.
func parseAddr(s []byte) (a4 uint32, a6 uint128, v6 bool, err error) {
	if a, ok := parseIPv4(s); ok {
		return a, uint128{}, false, nil
	}
	var ip [16]byte
	if !parseIPv6(s, &ip) {
		// netip accepts "addr%zone"; say why such an entry is refused.
		if i := bytes.IndexByte(s, '%'); i > 0 && i < len(s)-1 && parseIPv6(s[:i], &ip) {
			return 0, uint128{}, false, errZone
		}
		return 0, uint128{}, false, errBadAddr
	}
	a := u128From16(ip[:])
	if a.Hi == 0 && a.Lo>>32 == 0xffff {
		return uint32(a.Lo), uint128{}, false, nil
	}
	return 0, a, true, nil
}

// parseEntry parses "addr", "addr/len" or "a-b". Host bits of a prefix are masked.
func parseEntry(s []byte) (entry, error) {
	for i, c := range s {
		switch c {
		case '/':
			return parsePrefix(s[:i], s[i+1:])
		case '-':
			return parseRange(trimSpace(s[:i]), trimSpace(s[i+1:]))
		}
	}
	a4, a6, v6, err := parseAddr(s)
	if err != nil {
		return entry{}, err
	}
	if v6 {
		return entry{v6: true, r6: range6{a6, a6}, bits: 128}, nil
	}
	return entry{r4: range4{a4, a4}, bits: 32}, nil
}

func parsePrefix(as, ns []byte) (entry, error) {
	mapped := false
	a4, a6, v6, err := parseAddr(as)
	if err != nil {
		return entry{}, err
	}
	if !v6 && len(as) > 0 && bytesContains(as, ':') {
		mapped = true
	}
	n, ok := parsePrefixLen(ns)
	if !ok {
		return entry{}, errBadPrefix
	}
	switch {
	case mapped:
		// ::ffff:a.b.c.d/n: the prefix counts IPv6 bits.
		if n > 128 {
			return entry{}, errBadPrefix
		}
		if n < 96 {
			// Wider than the mapped block: keep it as the IPv6 prefix it is.
			u := uint128{0, 0xffff<<32 | uint64(a4)}
			return entry{v6: true, r6: prefixRange6(u, n), bits: n}, nil
		}
		n -= 96
		fallthrough
	case !v6:
		if n > 32 {
			return entry{}, errBadPrefix
		}
		return entry{r4: prefixRange4(a4, n), bits: n}, nil
	}
	if n > 128 {
		return entry{}, errBadPrefix
	}
	return entry{v6: true, r6: prefixRange6(a6, n), bits: n}, nil
}

// parsePrefixLen parses a prefix length: one to three decimal digits, no leading zero.
func parsePrefixLen(ns []byte) (int, bool) {
	if len(ns) == 0 || len(ns) > 3 || (len(ns) > 1 && ns[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range ns {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseIPv4Entry parses s when the whole of it is an IPv4 address or an IPv4 prefix, the
// lines most of a big feed is made of, into what parseEntry returns for it. It reports false
// for anything else, which parseEntry then reads (or refuses, with the reason).
func parseIPv4Entry(s []byte) (entry, bool) {
	e, n, ok := scanIPv4Entry(s)
	return e, ok && n == len(s)
}

// scanIPv4Entry parses the IPv4 address or prefix s starts with, as parseIPv4Entry does, and
// returns its length in bytes. What follows it is the caller's to check.
func scanIPv4Entry(s []byte) (e entry, n int, ok bool) {
	a, i, ok := scanIPv4(s)
	if !ok {
		return entry{}, 0, false
	}
	if i == len(s) || s[i] != '/' {
		return entry{r4: range4{a, a}, bits: 32}, i, true
	}
	j := i + 1
	for j < len(s) && j-i <= 3 && s[j]-'0' <= 9 {
		j++
	}
	bits, ok := parsePrefixLen(s[i+1 : j])
	if !ok || bits > 32 {
		return entry{}, 0, false
	}
	return entry{r4: prefixRange4(a, bits), bits: bits}, j, true
}

func parseRange(as, bs []byte) (entry, error) {
	a4, a6, av6, err := parseAddr(as)
	if err != nil {
		return entry{}, err
	}
	b4, b6, bv6, err := parseAddr(bs)
	if err != nil {
		return entry{}, err
	}
	if av6 != bv6 {
		return entry{}, errMixedFamily
	}
	if av6 {
		if b6.less(a6) {
			return entry{}, errBackwards
		}
		return entry{v6: true, r6: range6{a6, b6}, bits: -1}, nil
	}
	if b4 < a4 {
		return entry{}, errBackwards
	}
	return entry{r4: range4{a4, b4}, bits: -1}, nil
}

// widerThan reports whether e covers more addresses than a /min4 (IPv4) or /min6 (IPv6) prefix.
func (e *entry) widerThan(min4, min6 int) bool {
	if e.bits >= 0 {
		if e.v6 {
			return e.bits < min6
		}
		return e.bits < min4
	}
	if !e.v6 {
		return min4 > 0 && e.r4.size() > uint64(1)<<(32-min4)
	}
	if min6 <= 0 {
		return false
	}
	// size-1 = Hi-Lo; wider than /min6 when Hi-Lo >= 2^(128-min6).
	lo, b := bits.Sub64(e.r6.Hi.Lo, e.r6.Lo.Lo, 0)
	hi := e.r6.Hi.Hi - e.r6.Lo.Hi - b
	sh := 128 - min6
	if sh >= 64 {
		return hi >= uint64(1)<<(sh-64)
	}
	return hi != 0 || lo >= uint64(1)<<sh
}

// prefixLen returns the length of the prefix covering exactly e's range (32 or 128 for a
// single address), -1 when no prefix does.
func (e *entry) prefixLen() int {
	if !e.v6 {
		host := e.r4.Hi - e.r4.Lo // a prefix's host part: ones in its low bits, zeros in Lo
		if host&(host+1) != 0 || e.r4.Lo&host != 0 {
			return -1
		}
		return 32 - bits.OnesCount32(host)
	}
	lo, b := bits.Sub64(e.r6.Hi.Lo, e.r6.Lo.Lo, 0)
	hi := e.r6.Hi.Hi - e.r6.Lo.Hi - b
	lo1, c := bits.Add64(lo, 1, 0)
	if hi&(hi+c) != 0 || lo&lo1 != 0 || e.r6.Lo.Hi&hi != 0 || e.r6.Lo.Lo&lo != 0 {
		return -1
	}
	return 128 - bits.OnesCount64(hi) - bits.OnesCount64(lo)
}

// isSpace reports whether c is ASCII white space, the only white space feed lines and HTTP
// headers use. Unicode spaces (U+0085, U+00A0) are not: trimming them, as bytes.TrimSpace
// does, would let "\u00a0::1" pass as ::1.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// trimSpace trims the ASCII white space of isSpace.
func trimSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func bytesContains(s []byte, c byte) bool {
	for _, x := range s {
		if x == c {
			return true
		}
	}
	return false
}
