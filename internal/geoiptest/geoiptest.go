// Package geoiptest writes small MaxMind-format databases for tests, and full-size generated
// ones for benchmarks, with github.com/maxmind/mmdbwriter. Records have the shape of
// MaxMind's GeoLite2 Country and ASN databases.
package geoiptest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one network of a test database and its record: a Country record when Country is
// set, an ASN record when ASN is.
type Network struct {
	CIDR    string // IPv4, IPv6 or IPv4-mapped IPv6 ("::ffff:192.0.2.0/120")
	Country string
	ASN     uint32
}

// Options shape the database.
type Options struct {
	IPv4Only bool // an IPv4 database (IPVersion 4); default IPv6 with IPv4 aliased at ::ffff:0:0/96
	// NoAliasing builds an IPv6 database without the IPv4 aliases, so that an IPv4-mapped
	// network can hold a record of its own.
	NoAliasing bool
	Type       string // database type; default GeoLite2-Country, or GeoLite2-ASN when a network has an ASN
}

// Build returns the database holding nets.
func Build(tb testing.TB, nets []Network, opt Options) []byte {
	tb.Helper()
	b, err := build(nets, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Write writes the database holding nets to path, atomically (a temporary file, then a rename).
func Write(tb testing.TB, path string, nets []Network, opt Options) {
	tb.Helper()
	WriteBytes(tb, path, Build(tb, nets, opt))
}

// WriteBytes writes b to path through a temporary file and a rename, as a database updater does.
func WriteBytes(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

func build(nets []Network, opt Options) ([]byte, error) {
	typ := opt.Type
	if typ == "" {
		typ = "GeoLite2-Country"
		if len(nets) > 0 && nets[0].ASN != 0 {
			typ = "GeoLite2-ASN"
		}
	}
	wo := mmdbwriter.Options{DatabaseType: typ, IncludeReservedNetworks: true, IPVersion: 6,
		Description: map[string]string{"en": "spoaguard test database"}, Languages: []string{"en"},
		DisableIPv4Aliasing: opt.NoAliasing, RecordSize: 28}
	if opt.IPv4Only {
		wo.IPVersion = 4
	}
	tree, err := mmdbwriter.New(wo)
	if err != nil {
		return nil, err
	}
	records := map[Network]mmdbtype.Map{}
	for _, n := range nets {
		_, ipn, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return nil, err
		}
		key := Network{Country: n.Country, ASN: n.ASN}
		rec, ok := records[key]
		if !ok {
			rec = record(n)
			records[key] = rec
		}
		if err := tree.Insert(ipn, rec); err != nil {
			return nil, fmt.Errorf("%s: %w", n.CIDR, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func record(n Network) mmdbtype.Map {
	if n.ASN != 0 {
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(fmt.Sprintf("Example AS%d", n.ASN)),
		}
	}
	return mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String("XX"), "geoname_id": mmdbtype.Uint32(1)},
		"country": mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(2),
			"iso_code":   mmdbtype.String(n.Country),
			"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + n.Country)},
		},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)},
	}
}

// Countries are the codes FullCountry assigns, the first ones more often (as in real data, a
// few countries hold most networks).
var Countries = func() []string {
	var cs []string
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'J'; b++ {
			cs = append(cs, string([]rune{a, b}))
		}
	}
	return append([]string{"US", "CN", "DE", "GB", "RU", "JP", "FR", "BR", "KR", "NL"}, cs...)
}()

// FullCountry generates nets4 IPv4 and nets6 IPv6 networks of realistic sizes (IPv4 /19 to /29,
// IPv6 /29 to /48), separated by gaps so that none merge, each assigned a country from
// Countries with a skewed, deterministic draw. A full GeoLite2-Country database has about
// 300k IPv4 and 100k IPv6 networks; nets4 must be at most 500k to fit the IPv4 space.
func FullCountry(nets4, nets6 int) []Network {
	rng := rand.New(rand.NewPCG(1, 2))
	country := func() string {
		i := int(float64(len(Countries)) * rng.Float64() * rng.Float64() * rng.Float64())
		return Countries[i]
	}
	out := make([]Network, 0, nets4+nets6)
	cur := uint64(1) << 24 // 1.0.0.0
	for range min(nets4, 500_000) {
		bits := 19 + rng.IntN(11)
		size := uint64(1) << (32 - bits)
		cur = (cur + size - 1) &^ (size - 1)
		a := netip.AddrFrom4([4]byte{byte(cur >> 24), byte(cur >> 16), byte(cur >> 8), byte(cur)})
		out = append(out, Network{CIDR: netip.PrefixFrom(a, bits).String(), Country: country()})
		cur += size * uint64(2+rng.IntN(3)) // a gap of at least one network
	}
	cur6 := uint64(0x2400) << 48 // the top 64 bits, from 2400:: (2001::/32 and 2002::/16 alias IPv4)
	for range nets6 {
		bits := 29 + rng.IntN(20) // /29 to /48
		size := uint64(1) << (64 - bits)
		cur6 = (cur6 + size - 1) &^ (size - 1)
		var b [16]byte
		for i := range 8 {
			b[i] = byte(cur6 >> (56 - 8*i))
		}
		out = append(out, Network{CIDR: netip.PrefixFrom(netip.AddrFrom16(b), bits).String(), Country: country()})
		cur6 += size * uint64(2+rng.IntN(3))
	}
	return out
}

// FullCountryDB is a Country database of the size of a full GeoLite2-Country one, built once
// per process: FullCountry(300_000, 100_000), about 10 MB (a few seconds to generate).
var FullCountryDB = sync.OnceValue(func() []byte {
	b, err := build(FullCountry(300_000, 100_000), Options{})
	if err != nil {
		panic(err) // the generator's own networks: a bug here, not bad input
	}
	return b
})
