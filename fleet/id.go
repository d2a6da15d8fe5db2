package fleet

import (
	"cmp"
	cryptorand "crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// newToken is a random epoch candidate.
func newToken() string {
	var b [12]byte
	_, _ = cryptorand.Read(b[:]) // never fails on Linux
	return hex.EncodeToString(b[:])
}

// compareID orders two stream IDs "ms-seq".
func compareID(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if c := cmp.Compare(am, bm); c != 0 {
		return c
	}
	return cmp.Compare(as, bs)
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

func idMillis(id string) int64 { ms, _ := splitID(id); return int64(ms) }
