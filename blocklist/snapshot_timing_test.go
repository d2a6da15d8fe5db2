package blocklist

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// Benchmarks for lookups and builds. PERFORMANCE.md quotes them, each with its command; all
// of them run with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./blocklist/
//
// Lookups walk a fixed array of 64Ki addresses in order, so every lookup is a different address
// (as with real clients) and the measured time includes the cache misses a big table causes.

const probeCount = 1 << 16

// SyntheticV4 returns n IPv4 entries: 90% single addresses, 10% prefixes /16../31, random.
func SyntheticV4(n int, seed uint64) *Parsed {
	rng := rand.New(rand.NewPCG(seed, 1))
	single := func(a uint32) range4 { return range4{a, a} }
	return &Parsed{v4: synthetic(n, rng, rng.Uint32, single, prefixRange4, 16, 31), Entries: n}
}

// SyntheticV6 returns n IPv6 entries in 2000::/3: 90% single addresses, 10% prefixes /32../64.
func SyntheticV6(n int, seed uint64) *Parsed {
	rng := rand.New(rand.NewPCG(seed, 2))
	draw := func() uint128 { return uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64()} }
	single := func(a uint128) range6 { return range6{a, a} }
	return &Parsed{v6: synthetic(n, rng, draw, single, prefixRange6, 32, 64), Entries: n}
}

// synthetic returns n ranges of one family: each on an address from draw, 90% of them that
// address alone and 10% a prefix of minBits..maxBits around it.
func synthetic[A, R any](n int, rng *rand.Rand, draw func() A, single func(A) R, prefix func(A, int) R, minBits, maxBits int) []R {
	out := make([]R, 0, n)
	for range n {
		a := draw()
		if rng.IntN(10) == 0 {
			out = append(out, prefix(a, minBits+rng.IntN(maxBits-minBits+1)))
		} else {
			out = append(out, single(a))
		}
	}
	return out
}

// probes returns addresses that hit (drawn from the entries) or miss (random, checked).
func probes(s *Snapshot, p *Parsed, hit bool, v6 bool) [][]byte {
	rng := rand.New(rand.NewPCG(9, 9))
	out := make([][]byte, 0, probeCount)
	for len(out) < probeCount {
		var b []byte
		if v6 {
			var a uint128
			if hit {
				a = p.v6[rng.IntN(len(p.v6))].Lo
			} else {
				a = uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64()}
			}
			x := a.addr().As16()
			b = x[:]
		} else {
			var a uint32
			if hit {
				a = p.v4[rng.IntN(len(p.v4))].Lo
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
	cpu := testutil.StartCPUTimer()
	b.ResetTimer()
	var n uint64
	for i := 0; i < b.N; i++ {
		n += s.Lookup(addrs[i&(probeCount-1)]).Matched
	}
	cpu.Report(b)
	sink = n
}

var sink uint64

func realParsedMerged(b *testing.B) (*Parsed, *Parsed, []List) {
	lists := realLists(b)
	var v4, v6 Parsed
	for _, l := range lists {
		v4.v4 = append(v4.v4, l.Parsed.v4...)
		v6.v6 = append(v6.v6, l.Parsed.v6...)
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
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1_000 == 0:
		return strconv.Itoa(n/1_000) + "k"
	}
	return strconv.Itoa(n)
}

// BenchmarkExactSet measures the exact sets alone, with and without the bloom filter in front,
// at growing sizes: the filter can only pay on a miss, once the set no longer fits in cache.
// This is the measurement behind DefaultBloomMinExact.
func BenchmarkExactSet(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000, 4_000_000} {
		rng := rand.New(rand.NewPCG(uint64(n), 5))
		in4 := make([]exactEntry4, n)
		in6 := make([]exactEntry6, n)
		for i := range n {
			in4[i] = exactEntry4{rng.Uint32() | 1, 1}
			in6[i] = exactEntry6{uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64() | 1}, 1}
		}
		// Probes: hits drawn from the set, misses are even (every entry is odd).
		hit4, miss4 := make([]uint32, probeCount), make([]uint32, probeCount)
		hit6, miss6 := make([]uint128, probeCount), make([]uint128, probeCount)
		for i := range probeCount {
			hit4[i], miss4[i] = in4[rng.IntN(n)].addr, rng.Uint32()&^1
			hit6[i] = in6[rng.IntN(n)].addr
			miss6[i] = uint128{0x2000<<48 | rng.Uint64()>>3, rng.Uint64() &^ 1}
		}
		for _, bloom := range []struct {
			name string
			min  int
		}{{"set", -1}, {"bloom+set", 1}} {
			var e4 exact4
			var e6 exact6
			in := newInterner()
			if err := e4.build(slices.Clone(in4), in, bloom.min); err != nil {
				b.Fatal(err)
			}
			if err := e6.build(slices.Clone(in6), in, bloom.min); err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct {
				name string
				a4   []uint32
				a6   []uint128
				want uint16
			}{{"v4/hit", hit4, nil, 1}, {"v4/miss", miss4, nil, 0}, {"v6/hit", nil, hit6, 1}, {"v6/miss", nil, miss6, 0}} {
				b.Run(c.name+"/"+itoa(n)+"/"+bloom.name, func(b *testing.B) {
					b.ReportAllocs()
					cpu := testutil.StartCPUTimer()
					var got uint64
					for i := 0; i < b.N; i++ {
						if c.a4 != nil {
							got += uint64(e4.lookup(c.a4[i&(probeCount-1)]))
						} else {
							got += uint64(e6.lookup(c.a6[i&(probeCount-1)]))
						}
					}
					cpu.Report(b)
					if want := uint64(c.want) * uint64(b.N); got != want {
						b.Fatalf("%d of %d lookups matched", got, b.N)
					}
				})
			}
		}
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
	b.ReportMetric(float64(st.Bytes)/float64(len(p.v4)), "bytes/entry")
	var before, after runtime.MemStats
	s = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, _ = Build(lists, BuildOptions{})
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(p.v4)), "heap-bytes/entry")
	runtime.KeepAlive(s)
}

// BenchmarkLoad2M parses and builds a 2M-entry list file like `spoaguard-bench gen-list`'s
// (10% IPv6, 10% prefixes), as a Manager load does: ParseFile, compaction, Build.
//
//	go test -run '^$' -bench Load2M -benchtime 5x -count 5 ./blocklist/
func BenchmarkLoad2M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "list.txt")
	rng := rand.New(rand.NewPCG(1, 3))
	var text []byte
	for i := range 2_000_000 {
		var a netip.Prefix
		if i%10 == 9 {
			var ip [16]byte
			binary.BigEndian.PutUint64(ip[:8], 0x2000<<48|rng.Uint64()>>3)
			binary.BigEndian.PutUint64(ip[8:], rng.Uint64())
			a = netip.PrefixFrom(netip.AddrFrom16(ip), 128)
			if rng.IntN(10) == 0 {
				a = netip.PrefixFrom(a.Addr(), 48).Masked()
			}
		} else {
			var ip [4]byte
			binary.BigEndian.PutUint32(ip[:], rng.Uint32())
			a = netip.PrefixFrom(netip.AddrFrom4(ip), 32)
			if rng.IntN(10) == 0 {
				a = netip.PrefixFrom(a.Addr(), 24).Masked()
			}
		}
		if a.IsSingleIP() {
			text = a.Addr().AppendTo(text)
		} else {
			text = a.AppendTo(text)
		}
		text = append(text, '\n')
	}
	if err := os.WriteFile(path, text, 0o644); err != nil {
		b.Fatal(err)
	}
	text = nil
	b.ReportAllocs()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	cpu := testutil.StartCPUTimer()
	b.ResetTimer()
	for range b.N {
		p, err := ParseFile(Source{Name: "l", Path: path})
		if err != nil {
			b.Fatal(err)
		}
		p.compact()
		if _, err := Build([]List{{Name: "l", Parsed: p}}, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
	// The process's CPU, garbage collection on other threads included.
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	used := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N)
	b.ReportMetric(float64(used.Milliseconds()), "process-cpu-ms/op")
}
