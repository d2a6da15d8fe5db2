package blocklist

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Entry is one address, prefix or a-b range, parsed by the rules of a list line: IPv4-mapped
// IPv6 becomes IPv4, host bits of a prefix are masked, zones are refused. It is what other
// sources of entries (the live set) parse with, so that an address means the same wherever
// it is written.
type Entry struct {
	// First and Last bound the entry, inclusive, in one family (IPv4 for mapped addresses).
	First, Last netip.Addr
	// Bits is the prefix length (32 or 128 for a single address), -1 for an a-b range of
	// more than one address.
	Bits int
}

// ParseEntry parses "addr", "addr/len" or "a-b" as a list file line's entry is parsed.
func ParseEntry(s string) (Entry, error) {
	e, err := parseEntry(trimSpace([]byte(s)))
	if err != nil {
		return Entry{}, fmt.Errorf("%q: %w", s, err)
	}
	if e.bits < 0 { // "a-a" is the single address a, "a-b" covering exactly a/n is a/n
		e.bits = e.prefixLen()
	}
	if e.v6 {
		return Entry{First: e.r6.Lo.addr(), Last: e.r6.Hi.addr(), Bits: e.bits}, nil
	}
	return Entry{First: addrOf4(e.r4.Lo), Last: addrOf4(e.r4.Hi), Bits: e.bits}, nil
}

func addrOf4(a uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
}

// WiderThan reports whether e covers more addresses than a /min4 (IPv4) or /min6 (IPv6)
// prefix: the minimum-prefix rule of list files (DefaultMinPrefixV4, DefaultMinPrefixV6).
func (e Entry) WiderThan(min4, min6 int) bool {
	in := entry{v6: e.First.Is6(), bits: e.Bits}
	if in.v6 {
		in.r6 = range6{u128FromAddr(e.First), u128FromAddr(e.Last)}
	} else {
		lo, hi := e.First.As4(), e.Last.As4()
		in.r4 = range4{binary.BigEndian.Uint32(lo[:]), binary.BigEndian.Uint32(hi[:])}
	}
	return in.widerThan(min4, min6)
}

// String is the entry's canonical text: "addr" for a single address, "addr/len" for a
// prefix, "first-last" for a range. Two spellings of one entry have the same String.
func (e Entry) String() string {
	switch {
	case e.First == e.Last:
		return e.First.String()
	case e.Bits >= 0:
		return netip.PrefixFrom(e.First, e.Bits).String()
	}
	return e.First.String() + "-" + e.Last.String()
}
