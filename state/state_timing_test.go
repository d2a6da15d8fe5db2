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

// randomEntries returns n entries of random IPv4 addresses, each with a list and an expiry.
func randomEntries(r *rand.Rand, n int) []*live.Entry {
	put := make([]*live.Entry, n)
	for i := range put {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		e, _ := blocklist.ParseEntry(netip.AddrFrom4(a).String())
		put[i] = &live.Entry{Addr: e, List: "api", Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	}
	return put
}

// BenchmarkApply100k stores 100k new entries in one transaction, as one POST of 100k bans.
func BenchmarkApply100k(b *testing.B) {
	put := randomEntries(rand.New(rand.NewPCG(1, 1)), 100_000)
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

// BenchmarkOpen1M is opening a database of 1M entries (the live set's default limit), the
// check of its pages included, and loading them: what a start with a full state file takes.
//
//	go test -run '^$' -bench Open1M -benchtime 3x ./state
func BenchmarkOpen1M(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 10 {
		if err := db.Apply(randomEntries(r, 100_000), nil); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	for _, load := range []bool{false, true} {
		name := "open"
		if load {
			name = "open+load"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				db, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				if load {
					if _, err := db.Load(); err != nil {
						b.Fatal(err)
					}
				}
				db.Close()
			}
		})
	}
}
