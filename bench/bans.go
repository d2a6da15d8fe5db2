package bench

import (
	"encoding/binary"
	"encoding/json"
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
		fmt.Fprintf(&sb, `{"addr": "%s", "ttl": %s`, netip.AddrFrom4(a), jsonString(ttl))
		if comment != "" {
			fmt.Fprintf(&sb, `, "comment": %s`, jsonString(comment))
		}
		sb.WriteByte('}')
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// jsonString is s as a JSON string: Go's %q quoting differs from JSON's for control and
// non-ASCII characters. Bytes that are not UTF-8 become U+FFFD, as encoding/json writes them.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
