package state

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
)

// BenchmarkApply100k stores 100k new entries in one transaction, as one POST of 100k bans.
func BenchmarkApply100k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	put := make([]*live.Entry, 100_000)
	for i := range put {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		e, _ := blocklist.ParseEntry(netip.AddrFrom4(a).String())
		put[i] = &live.Entry{Addr: e, List: "api", Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	}
	for b.Loop() {
		b.StopTimer()
		db, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.Apply(put, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}
