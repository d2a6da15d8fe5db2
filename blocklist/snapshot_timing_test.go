package blocklist

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Benchmarks for lookups and builds. The figures in PERFORMANCE.md come from
//
//	go test -run '^$' -bench . -benchmem -count 5 ./blocklist/
//
// Lookups walk a fixed array of 64Ki addresses in order, so every lookup is a different address
// (as with real clients) and the measured time includes the cache misses a big table causes.

const probeCount = 1 << 16

// SyntheticV4 returns n IPv4 entries: 90% single addresses, 10% prefixes /16../31, random.
func SyntheticV4(n int, seed uint64) *Parsed {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := &Parsed{V4: make([]Range4, 0, n)}
	for range n {
		a := rng.Uint32()
		if rng.IntN(10) == 0 {
			p.V4 = append(p.V4, prefixRange4(a, 16+rng.IntN(16)))
		} else {
			p.V4 = append(p.V4, Range4{a, a})
		}
	}
	p.Entries = n
	return p
}

// SyntheticV6 returns n IPv6 entries in 2000::/3: 90% single addresses, 10% prefixes /32../64.
func SyntheticV6(n int, seed uint64) *Parsed {
	rng := rand.New(rand.NewPCG(seed, 2))
	p := &Parsed{V6: make([]Range6, 0, n)}
	for range n {
		a := Uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64()}
		if rng.IntN(10) == 0 {
			p.V6 = append(p.V6, prefixRange6(a, 32+rng.IntN(33)))
		} else {
			p.V6 = append(p.V6, Range6{a, a})
		}
	}
	p.Entries = n
	return p
}

// probes returns addresses that hit (drawn from the entries) or miss (random, checked).
func probes(s *Snapshot, p *Parsed, hit bool, v6 bool) [][]byte {
	rng := rand.New(rand.NewPCG(9, 9))
	out := make([][]byte, 0, probeCount)
	for len(out) < probeCount {
		var b []byte
		if v6 {
			var a Uint128
			if hit {
				a = p.V6[rng.IntN(len(p.V6))].Lo
			} else {
				a = Uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64()}
			}
			x := a.Addr().As16()
			b = x[:]
		} else {
			var a uint32
			if hit {
				a = p.V4[rng.IntN(len(p.V4))].Lo
			} else {
				a = rng.Uint32()
			}
			b = binary.BigEndian.AppendUint32(nil, a)
		}
		if (s.Lookup(b).Matched != 0) == hit {
			out = append(out, b)
		}
	}
	return out
}

func benchLookups(b *testing.B, s *Snapshot, addrs [][]byte) {
	b.ReportAllocs()
	b.ResetTimer()
	var n uint64
	for i := 0; i < b.N; i++ {
		n += s.Lookup(addrs[i&(probeCount-1)]).Matched
	}
	sink = n
}

var sink uint64

func realParsedMerged(b *testing.B) (*Parsed, *Parsed, []List) {
	lists := realLists(b)
	var v4, v6 Parsed
	for _, l := range lists {
		v4.V4 = append(v4.V4, l.Parsed.V4...)
		v6.V6 = append(v6.V6, l.Parsed.V6...)
	}
	return &v4, &v6, lists
}

func BenchmarkLookupRealFeeds(b *testing.B) {
	v4, v6, lists := realParsedMerged(b)
	for _, bloom := range []struct {
		name string
		opts BuildOptions
	}{{"set", BuildOptions{BloomMinExact: -1}}, {"bloom+set", BuildOptions{BloomMinExact: 1}}} {
		s, err := Build(lists, bloom.opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			hit, v6 bool
		}{{"v4-hit", true, false}, {"v4-miss", false, false}, {"v6-hit", true, true}, {"v6-miss", false, true}} {
			p := v4
			if c.v6 {
				p = v6
			}
			addrs := probes(s, p, c.hit, c.v6)
			b.Run(bloom.name+"/"+c.name, func(b *testing.B) { benchLookups(b, s, addrs) })
		}
	}
}

// BenchmarkLookupSynthetic measures lookups at growing sizes, with and without the bloom filter,
// to find where the filter starts to pay (the crossover behind DefaultBloomMinExact).
func BenchmarkLookupSynthetic(b *testing.B) {
	for _, n := range []int{100_000, 500_000, 2_000_000} {
		for _, fam := range []string{"v4", "v6"} {
			p := SyntheticV4(n, 1)
			if fam == "v6" {
				p = SyntheticV6(n, 1)
			}
			for _, bloom := range []struct {
				name string
				opts BuildOptions
			}{{"set", BuildOptions{BloomMinExact: -1}}, {"bloom+set", BuildOptions{BloomMinExact: 1}}} {
				s, err := Build([]List{{Name: "syn", Parsed: p}}, bloom.opts)
				if err != nil {
					b.Fatal(err)
				}
				for _, hit := range []bool{true, false} {
					name := "miss"
					if hit {
						name = "hit"
					}
					addrs := probes(s, p, hit, fam == "v6")
					b.Run(fam+"/"+itoa(n)+"/"+bloom.name+"/"+name, func(b *testing.B) { benchLookups(b, s, addrs) })
				}
			}
		}
	}
}

func itoa(n int) string {
	switch {
	case n%1_000_000 == 0:
		return string(rune('0'+n/1_000_000)) + "M"
	default:
		return string(rune('0'+n/100_000)) + "00k"
	}
}

// BenchmarkBuild2M builds a snapshot from 2M parsed IPv4 entries and reports the memory the
// snapshot holds per entry (Stats.Bytes, and the heap growth it caused).
func BenchmarkBuild2M(b *testing.B) {
	p := SyntheticV4(2_000_000, 1)
	lists := []List{{Name: "syn", Parsed: p}}
	b.ReportAllocs()
	var s *Snapshot
	for i := 0; i < b.N; i++ {
		var err error
		s, err = Build(lists, BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(len(p.V4)), "bytes/entry")
	var before, after runtime.MemStats
	s = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, _ = Build(lists, BuildOptions{})
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(p.V4)), "heap-bytes/entry")
	runtime.KeepAlive(s)
}
