package bench

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// BanBody returns a body for the admin API's POST /v1/bans of n single IPv4 addresses
// counting up from first, each with ttl and, when not empty, comment: what the load tools and
// the API's benchmarks post.
func BanBody(first uint32, n int, ttl, comment string) []byte {
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
