// Package geoip selects networks from a MaxMind-format database (GeoLite2/GeoIP2 Country or ASN,
// DB-IP's compatible files) by country or autonomous system, so that a country or ASN list can
// be served from the same immutable range snapshot as every other list: the database is walked
// once per load, never looked up per request.
//
// The country of a network is its record's country.iso_code and its ASN the record's
// autonomous_system_number, as in MaxMind's GeoLite2 databases. IPv4 networks come out as IPv4
// prefixes wherever the database stores them: in the IPv4 subtree of an IPv6 database (::/96,
// which the aliases ::ffff:0:0/96, 2001::/32 and 2002::/16 point at and which are walked once),
// or in an IPv4-mapped subtree that holds its own records.
package geoip

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MaxDatabaseSize bounds the database read into memory. A full GeoIP2 City database is about
// 130 MB, a Country one about 10 MB.
const MaxDatabaseSize = 512 << 20

// Selection says which networks of a database a list keeps: those whose country is one of
// Countries or whose ASN is one of ASNs.
type Selection struct {
	Countries []string // ISO 3166-1 alpha-2 codes, upper case
	ASNs      []uint32
}

// Empty says whether the selection selects nothing.
func (s Selection) Empty() bool { return len(s.Countries) == 0 && len(s.ASNs) == 0 }

func (s Selection) String() string {
	parts := make([]string, 0, 2)
	if len(s.Countries) > 0 {
		parts = append(parts, "countries="+strings.Join(s.Countries, "+"))
	}
	if len(s.ASNs) > 0 {
		as := make([]string, len(s.ASNs))
		for i, a := range s.ASNs {
			as[i] = strconv.FormatUint(uint64(a), 10)
		}
		parts = append(parts, "asns="+strings.Join(as, "+"))
	}
	return strings.Join(parts, ",")
}

// ParseCountry checks one ISO 3166-1 alpha-2 code ("cn" or "CN") and returns it in upper case.
// The codes written by mistake for a country's own (UK, EL) are refused with the right one:
// no record has them, so a list of them would match nothing, and an inverted one everything.
func ParseCountry(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2 || !isLetter(s[0]) || !isLetter(s[1]) {
		return "", fmt.Errorf("geoip: country %q: want a two-letter ISO 3166-1 code such as CN", s)
	}
	code := strings.ToUpper(s)
	if m, ok := notISO[code]; ok {
		return "", fmt.Errorf("geoip: country %q: the ISO 3166-1 code of %s is %s (%s is not a country code of the databases)", s, m.country, m.code, code)
	}
	return code, nil
}

// notISO are the codes that stand for a country outside ISO 3166-1 (in domain names, in EU
// usage), with the country's ISO code.
var notISO = map[string]struct{ country, code string }{
	"UK": {"the United Kingdom", "GB"},
	"EL": {"Greece", "GR"},
}

// ParseASN parses an autonomous system number, "64496" or "AS64496".
func ParseASN(s string) (uint32, error) {
	t := strings.TrimSpace(s)
	if len(t) > 2 && strings.EqualFold(t[:2], "as") {
		t = t[2:]
	}
	n, err := strconv.ParseUint(t, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("geoip: ASN %q: want a number from 1 to 4294967295, such as 64496 or AS64496", s)
	}
	return uint32(n), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Stats describe one walk of a database.
type Stats struct {
	DatabaseType string    // from the metadata, e.g. GeoLite2-Country
	Built        time.Time // the metadata's build epoch
	Networks     int       // networks with a record
	Selected     int       // networks kept
	Bytes        int       // size of the database
	// Unmatched are the selection's countries and ASNs that no network of the database has: a
	// code the database does not use (XX), an ASN absent from it. Each selects nothing.
	Unmatched Selection
}

// ErrNoSuchField is a selection by a field no record of the database has: countries= on an ASN
// database, or asns= on a Country one.
var ErrNoSuchField = errors.New("no record of the database has the selected field")

// Read reads a whole database from r (at most MaxDatabaseSize bytes) and walks it with Walk.
func Read(r io.Reader, sel Selection, keep func(netip.Prefix)) (Stats, error) {
	return read(r, MaxDatabaseSize, sel, keep)
}

func read(r io.Reader, limit int64, sel Selection, keep func(netip.Prefix)) (Stats, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Stats{}, err
	}
	if int64(len(data)) > limit {
		return Stats{}, fmt.Errorf("geoip: database larger than %d bytes", limit)
	}
	return Walk(data, sel, keep)
}

// Walk verifies the database in data (a truncated or corrupt one is refused before any network
// is kept) and calls keep for each network the selection matches, in the database's order.
// On error the caller must discard what keep collected. data is not retained.
func Walk(data []byte, sel Selection, keep func(netip.Prefix)) (Stats, error) {
	if sel.Empty() {
		return Stats{}, errors.New("geoip: empty selection: give countries or asns")
	}
	db, err := maxminddb.OpenBytes(data)
	if err != nil {
		return Stats{}, fmt.Errorf("geoip: %w", err)
	}
	defer db.Close()
	st := Stats{DatabaseType: db.Metadata.DatabaseType, Bytes: len(data),
		Built: time.Unix(int64(db.Metadata.BuildEpoch), 0).UTC()}
	md := db.Metadata
	if err := checkTree(data, md.NodeCount, md.RecordSize, md.IPVersion); err != nil {
		return st, fmt.Errorf("geoip: %s database is corrupt: %w", st.DatabaseType, err)
	}
	if err := db.Verify(); err != nil {
		return st, fmt.Errorf("geoip: %s database is corrupt: %w", st.DatabaseType, err)
	}
	countries := make(map[string]bool, len(sel.Countries))
	for _, c := range sel.Countries {
		countries[c] = true
	}
	asns := make(map[uint64]bool, len(sel.ASNs))
	for _, a := range sel.ASNs {
		asns[uint64(a)] = true
	}
	// Many networks share one record (a Country database has ~250 records for ~400k
	// networks): decide once per record offset.
	byRecord := map[uintptr]verdict{}
	sawField := false
	matched := map[string]bool{}    // countries of the selection seen
	matchedASN := map[uint64]bool{} // ASNs of the selection seen
	for res := range db.Networks() {
		if err := res.Err(); err != nil {
			return st, fmt.Errorf("geoip: walking the %s database: %w", st.DatabaseType, err)
		}
		st.Networks++
		v, seen := byRecord[res.Offset()]
		if !seen {
			if v, err = decide(res, countries, asns); err != nil {
				return st, fmt.Errorf("geoip: record of %s: %w", res.Prefix(), err)
			}
			byRecord[res.Offset()] = v
			if v.country != "" {
				matched[v.country] = true
			}
			if v.asn != 0 {
				matchedASN[v.asn] = true
			}
		}
		sawField = sawField || v.hasField
		if !v.keep {
			continue
		}
		st.Selected++
		keep(unmapPrefix(res.Prefix()))
	}
	if !sawField && st.Networks > 0 {
		return st, fmt.Errorf("geoip: %w (%s in a %s database)", ErrNoSuchField, sel, st.DatabaseType)
	}
	for _, c := range sel.Countries {
		if !matched[c] {
			st.Unmatched.Countries = append(st.Unmatched.Countries, c)
		}
	}
	for _, a := range sel.ASNs {
		if !matchedASN[uint64(a)] {
			st.Unmatched.ASNs = append(st.Unmatched.ASNs, a)
		}
	}
	return st, nil
}

// verdict is what one record means for the selection.
type verdict struct {
	keep     bool   // the record matches the selection
	hasField bool   // the record has a selected field at all
	country  string // the selected country the record matches, if any
	asn      uint64 // the selected ASN the record matches, if any
}

// decide reads the fields the selection needs from one record.
func decide(res maxminddb.Result, countries map[string]bool, asns map[uint64]bool) (v verdict, err error) {
	if len(countries) > 0 {
		var iso string
		if err := res.DecodePath(&iso, "country", "iso_code"); err != nil {
			return v, err
		}
		v.hasField = v.hasField || iso != ""
		if iso = strings.ToUpper(iso); countries[iso] {
			v.keep, v.country = true, iso
		}
	}
	if len(asns) > 0 {
		var asn uint64
		if err := res.DecodePath(&asn, "autonomous_system_number"); err != nil {
			return v, err
		}
		v.hasField = v.hasField || asn != 0
		if asns[asn] {
			v.keep, v.asn = true, asn
		}
	}
	return v, nil
}

// unmapPrefix turns a prefix inside ::ffff:0:0/96 into the IPv4 prefix it stands for; the
// snapshot keeps IPv4-mapped entries in its IPv4 table, where lookups of both forms find them.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
