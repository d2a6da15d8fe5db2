package blocklist

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/spoaguard/spoaguard/geoip"
)

// parseMMDB keeps the networks of a MaxMind-format database that src's selection picks, as the
// list's ranges (or, with Invert, every address except them, as exceptions to the whole
// address space). The database is walked here, once per load: lookups never touch it.
//
// The minimum-prefix guard does not apply: a country's networks are legitimately large, and
// they come from a structured database, not from lines a stray edit could widen.
func parseMMDB(r io.Reader, src *Source) (*Parsed, error) {
	sel := src.selection()
	if sel.Empty() {
		return nil, errors.New("format mmdb needs a selection: countries or asns")
	}
	p := &Parsed{Format: FormatMMDB}
	v4, v6 := &p.v4, &p.v6
	if src.Invert {
		v4, v6 = &p.except4, &p.except6
	}
	st, err := geoip.Read(r, sel, func(pfx netip.Prefix) {
		a := pfx.Addr()
		if a.Is4() {
			b := a.As4()
			*v4 = append(*v4, prefixRange4(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), pfx.Bits()))
			return
		}
		*v6 = append(*v6, prefixRange6(u128FromAddr(a), pfx.Bits()))
	})
	if err != nil {
		return nil, err
	}
	if max := src.maxEntries(); st.Selected > max {
		return nil, fmt.Errorf("%w: %d networks selected, the cap is %d (max-entries)", ErrTooBig, st.Selected, max)
	}
	if src.Invert {
		p.v4 = []range4{{0, ^uint32(0)}}
		p.v6 = []range6{{uint128{}, uint128{^uint64(0), ^uint64(0)}}}
	}
	p.Lines, p.Entries = st.Networks, st.Selected
	p.Filtered = st.Networks - st.Selected
	p.Unmatched = st.Unmatched
	return p, nil
}

// selection is the source's country or ASN selection in geoip's terms.
func (s *Source) selection() geoip.Selection {
	return geoip.Selection{Countries: s.Countries, ASNs: s.ASNs}
}
