package admin

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// unlisted is the first address of 240.0.0.0/4, where the benchmarks' bans go: no list and
// no target is there.
const unlisted = 240<<24 + 1

// banBody is a POST body of n entries as the benchmarks write them: the IPv4 addresses from
// first up, each with ttl and, when not empty, comment.
func banBody(first uint32, n int, ttl, comment string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"bans": [`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], first+uint32(i))
		fmt.Fprintf(&sb, `{"addr": %q, "ttl": %q`, netip.AddrFrom4(a), ttl)
		if comment != "" {
			fmt.Fprintf(&sb, `, "comment": %q`, comment)
		}
		sb.WriteByte('}')
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

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
