package blocklist

import "net/netip"

// Overlapping returns the prefixes of pfxs that share at least one address with an entry of
// the list (exceptions are not subtracted). It is for reports such as spoaguard -check warning
// that a deny list covers private or loopback ranges; it walks every entry per prefix.
func (p *Parsed) Overlapping(pfxs []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, pfx := range pfxs {
		pfx = pfx.Masked()
		a := pfx.Addr()
		if a.Is4() {
			r := prefixRange4(uint32FromAddr(a), pfx.Bits())
			for _, e := range p.v4 {
				if e.Lo <= r.Hi && e.Hi >= r.Lo {
					out = append(out, pfx)
					break
				}
			}
			continue
		}
		r := prefixRange6(u128FromAddr(a), pfx.Bits())
		for _, e := range p.v6 {
			if !r.Hi.less(e.Lo) && !e.Hi.less(r.Lo) {
				out = append(out, pfx)
				break
			}
		}
	}
	return out
}

func uint32FromAddr(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
