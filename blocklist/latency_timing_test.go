package blocklist

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkDependentLoad measures the machine, not the package: the latency of one load that
// depends on the one before, through a random cycle over a region of the given size (one word
// per 64-byte line). A lookup makes at least two such loads — its /16 index entry, then the
// bucket the entry points to — into tables of the sizes listed here (the index alone is
// 512 KiB; the real feeds' tables are 3.7 MB, 2M IPv4 entries 12 MB), which bounds what any
// lookup of random addresses can cost. PERFORMANCE.md#memory-floor gives the figures:
//
//	go test -run '^$' -bench DependentLoad -cpu 1 ./blocklist/
func BenchmarkDependentLoad(b *testing.B) {
	for _, kib := range []int{32, 256, 1 << 10, 4 << 10, 12 << 10, 48 << 10, 256 << 10} {
		b.Run(strconv.Itoa(kib)+"KiB", func(b *testing.B) {
			lines := kib << 10 / 64
			mem := make([]uint64, lines*8)
			perm := rand.New(rand.NewPCG(uint64(kib), 7)).Perm(lines)
			for i := range lines {
				mem[perm[i]*8] = uint64(perm[(i+1)%lines] * 8)
			}
			p := uint64(perm[0] * 8)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p = mem[p]
			}
			sink = p
		})
	}
}
