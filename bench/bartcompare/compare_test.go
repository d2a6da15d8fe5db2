package bartcompare

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaissmai/bart"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// dataset is one set of prefixes loaded into every structure under test.
type dataset struct {
	name     string
	prefixes []netip.Prefix
	lists    []blocklist.List
}

func realFeeds(t testing.TB) dataset {
	srcs := []blocklist.Source{
		{Name: "firehol", Path: "firehol_level1_2021-06-28.netset", AllowShortPrefixes: true},
		{Name: "ipsum", Path: "stamparm_ipsum.txt"},
		{Name: "bogons4", Path: "cymru_fullbogons-ipv4_2024-03-10.txt", AllowShortPrefixes: true},
		{Name: "bogons6", Path: "cymru_fullbogons-ipv6_2024-03-10.txt.gz", AllowShortPrefixes: true},
		{Name: "tor", Path: "tor_exit_nodes_mixed_v4v6_2022-03.txt"},
		{Name: "dshield", Path: "dshield_block_2026-08-22.txt"},
	}
	d := dataset{name: "real"}
	for _, s := range srcs {
		s.Path = filepath.Join("..", "..", "testdata", "feeds", s.Path)
		p, err := blocklist.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		d.lists = append(d.lists, blocklist.List{Name: s.Name, Kind: s.Kind, Parsed: p})
		for first, last := range p.Ranges() {
			if first.Is4() {
				d.prefixes = append(d.prefixes, rangePrefixes4(u32(first), u32(last))...)
			} else {
				d.prefixes = append(d.prefixes, rangePrefixes6(first, last)...)
			}
		}
	}
	return d
}

// synthetic returns n random prefixes of one family: 90% single addresses, 10% shorter
// prefixes (/16../31 IPv4, /32../64 IPv6 in 2000::/3), the same mix as the blocklist package's
// own benchmarks.
func synthetic(n int, v6 bool) dataset {
	rng := rand.New(rand.NewPCG(1, 1))
	d := dataset{name: "synthetic"}
	var text strings.Builder
	for range n {
		var pfx netip.Prefix
		if v6 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], 0x2000<<48|rng.Uint64()>>3)
			binary.BigEndian.PutUint64(b[8:], rng.Uint64())
			bits := 128
			if rng.IntN(10) == 0 {
				bits = 32 + rng.IntN(33)
			}
			pfx = netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
		} else {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			bits := 32
			if rng.IntN(10) == 0 {
				bits = 16 + rng.IntN(16)
			}
			pfx = netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked()
		}
		d.prefixes = append(d.prefixes, pfx)
		text.WriteString(pfx.String())
		text.WriteByte('\n')
	}
	p, _, err := blocklist.Parse(strings.NewReader(text.String()), blocklist.Source{Format: blocklist.FormatPlain})
	if err != nil {
		panic(err)
	}
	d.lists = []blocklist.List{{Name: "synthetic", Parsed: p}}
	return d
}

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// bounds returns the first and last address of a masked prefix.
func bounds(p netip.Prefix) (lo, hi netip.Addr) {
	lo = p.Addr()
	b := lo.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	hi, _ = netip.AddrFromSlice(b)
	return lo, hi
}

// rangePrefixes4 splits an inclusive IPv4 range into prefixes (for bart, which only takes
// prefixes; the real feeds' ranges are DShield /24s).
func rangePrefixes4(lo, hi uint32) []netip.Prefix {
	var out []netip.Prefix
	for a := uint64(lo); a <= uint64(hi); {
		n := 32
		for n > 0 && a&(1<<(33-n)-1) == 0 && a+1<<(33-n)-1 <= uint64(hi) {
			n--
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(a))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(b), n))
		a += 1 << (32 - n)
	}
	return out
}

func rangePrefixes6(lo, hi netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for {
		n := 128
		for n > 0 {
			p := netip.PrefixFrom(lo, n-1).Masked()
			l, h := bounds(p)
			if l != lo || h.Compare(hi) > 0 {
				break
			}
			n--
		}
		p := netip.PrefixFrom(lo, n)
		out = append(out, p)
		_, end := bounds(p)
		if end == hi {
			return out
		}
		lo = end.Next()
	}
}

const probeCount = 1 << 16

// probes returns addresses of one family that the snapshot finds (hit) or not (miss).
func probes(s *blocklist.Snapshot, d dataset, v6, hit bool) []netip.Addr {
	rng := rand.New(rand.NewPCG(9, 9))
	var pool []netip.Prefix
	for _, p := range d.prefixes {
		if p.Addr().Is6() == v6 {
			pool = append(pool, p)
		}
	}
	out := make([]netip.Addr, 0, probeCount)
	for len(out) < probeCount {
		var a netip.Addr
		switch {
		case hit:
			a = pool[rng.IntN(len(pool))].Addr()
		case v6:
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], 0x2000<<48|rng.Uint64()>>3)
			binary.BigEndian.PutUint64(b[8:], rng.Uint64())
			a = netip.AddrFrom16(b)
		default:
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			a = netip.AddrFrom4(b)
		}
		if (s.Lookup(a.AsSlice()).Matched != 0) == hit {
			out = append(out, a)
		}
	}
	return out
}

var sink uint64

// lookups runs loop, b.N lookups of one structure, as the benchmark name, with its CPU time
// reported; what loop returns is kept so that the lookups are not optimised away.
func lookups(b *testing.B, name string, loop func(n int) uint64) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		cpu := testutil.StartCPUTimer()
		sink = loop(b.N)
		cpu.Report(b)
	})
}

func benchDataset(b *testing.B, d dataset, families []bool) {
	snap, err := blocklist.Build(d.lists, blocklist.BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	lite := new(bart.Lite)
	fast := new(bart.Fast[uint64])
	table := new(bart.Table[uint64])
	for _, p := range d.prefixes {
		lite.Insert(p)
		fast.Insert(p, 1)
		table.Insert(p, 1)
	}
	for _, v6 := range families {
		for _, hit := range []bool{true, false} {
			addrs := probes(snap, d, v6, hit)
			raw := make([][]byte, len(addrs))
			for i, a := range addrs {
				raw[i] = a.AsSlice()
			}
			// Sanity: bart must agree with the snapshot on membership.
			for _, a := range addrs[:1000] {
				if lite.Contains(a) != hit {
					b.Fatalf("bart and the snapshot disagree on %v", a)
				}
			}
			name := "v4"
			if v6 {
				name = "v6"
			}
			if hit {
				name += "-hit"
			} else {
				name += "-miss"
			}
			// Each loop calls its structure directly; only the whole loop is behind a func.
			lookups(b, name+"/snapshot", func(n int) (sum uint64) {
				for i := 0; i < n; i++ {
					sum += snap.Lookup(raw[i&(probeCount-1)]).Matched
				}
				return sum
			})
			lookups(b, name+"/bart.Lite", func(n int) uint64 {
				ok := false
				for i := 0; i < n; i++ {
					ok = ok != lite.Contains(addrs[i&(probeCount-1)])
				}
				if ok {
					return 1
				}
				return 0
			})
			lookups(b, name+"/bart.Fast", func(n int) (sum uint64) {
				for i := 0; i < n; i++ {
					v, _ := fast.Lookup(addrs[i&(probeCount-1)])
					sum += v
				}
				return sum
			})
			lookups(b, name+"/bart.Table", func(n int) (sum uint64) {
				for i := 0; i < n; i++ {
					v, _ := table.Lookup(addrs[i&(probeCount-1)])
					sum += v
				}
				return sum
			})
		}
	}
}

func BenchmarkRealFeeds(b *testing.B) { benchDataset(b, realFeeds(b), []bool{false, true}) }

func BenchmarkSynthetic2Mv4(b *testing.B) {
	benchDataset(b, synthetic(2_000_000, false), []bool{false})
}

func BenchmarkSynthetic2Mv6(b *testing.B) { benchDataset(b, synthetic(2_000_000, true), []bool{true}) }
