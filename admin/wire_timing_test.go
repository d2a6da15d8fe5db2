package admin

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// banBody is a POST body of n entries as the under-load benchmark writes them: an address
// in 240.0.0.0/4 and a ttl each.
func banBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"bans": [`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 240<<24+uint32(i)+1)
		fmt.Fprintf(&sb, `{"addr": %q, "ttl": %q}`, netip.AddrFrom4(a), "1s")
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
		body := banBody(n)
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
