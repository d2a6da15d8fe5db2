package blocklist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortUint64SortsLikeSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	gens := []struct {
		name string
		key  func(i int) uint64
	}{
		{"random", func(int) uint64 { return rng.Uint64() }},
		{"ranges as gen-list writes them", func(int) uint64 {
			lo := rng.Uint32()
			if rng.IntN(10) == 0 {
				lo &^= 0xff
				return uint64(lo)<<32 | uint64(lo|0xff)
			}
			return uint64(lo)<<32 | uint64(lo)
		}},
		{"few distinct", func(int) uint64 { return uint64(rng.IntN(5)) << 40 }},
		{"all equal", func(int) uint64 { return 0x0102030405060708 }},
		{"low byte only", func(int) uint64 { return uint64(rng.IntN(256)) }},
		{"descending", func(i int) uint64 { return ^uint64(i) }},
		{"one /16", func(int) uint64 { return 0xc0a8<<48 | rng.Uint64()>>16 }},
	}
	for _, g := range gens {
		for _, n := range []int{0, 1, 2, radixInsertionMax, radixInsertionMax + 1, 1000, 100_000} {
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = g.key(i)
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			sortUint64(keys)
			if !slices.Equal(keys, want) {
				t.Fatalf("%s, %d keys: not sorted as slices.Sort sorts them", g.name, n)
			}
		}
	}
}

// BenchmarkSortUint64 sorts 1.8M keys as a 2M-entry list's IPv4 merge does, by radix and by
// slices.Sort.
func BenchmarkSortUint64(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 3))
	src := make([]uint64, 1_800_000)
	for i := range src {
		lo := rng.Uint32()
		src[i] = uint64(lo)<<32 | uint64(lo)
	}
	keys := make([]uint64, len(src))
	for _, c := range []struct {
		name string
		sort func([]uint64)
	}{{"radix", sortUint64}, {"slices.Sort", slices.Sort[[]uint64]}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				copy(keys, src)
				c.sort(keys)
			}
		})
	}
}
