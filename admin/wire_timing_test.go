package admin

import (
	"fmt"
	"testing"

	"github.com/spoaguard/spoaguard/bench"
)

// unlisted is the first address of 240.0.0.0/4, where the benchmarks' bans go: no list and
// no target is there.
const unlisted = 240<<24 + 1

// banBody is a POST body of n entries as the benchmarks write them.
var banBody = bench.BanBody

// BenchmarkDecodePost decodes a POST body of 100 entries (one request of 10,000 bans a
// second) and one of 100,000 (the largest single request):
//
//	go test -run '^$' -bench DecodePost -benchmem -count 5 ./admin
func BenchmarkDecodePost(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		body := banBody(unlisted, n, "1s", "")
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				bans, err := decodePost(body)
				if err != nil || len(bans) != n {
					b.Fatal(len(bans), err)
				}
			}
		})
	}
}
