package live

import (
	"runtime"
	"testing"
	"time"
)

// withoutCompactions runs f with the least sizes at which the index and the exact sets are
// compacted out of reach: the set keeps what it grows to, as it would without compaction.
func withoutCompactions(f func()) {
	slots, shards := minCompactSlots, minShrinkShards
	minCompactSlots, minShrinkShards = 1<<62, 1<<62
	defer func() { minCompactSlots, minShrinkShards = slots, shards }()
	f()
}

// fillAndRemove gives s, whose goroutine is stopped, the million entries of BenchmarkMemory1M
// in rounds of 100k, then removes all but one in a hundred by Delete in rounds of 100k.
func fillAndRemove(b *testing.B, s *Set) {
	expires := time.Now().Add(time.Hour)
	var dels []Change
	for i := range DefaultMaxEntries / 100_000 {
		bans := randomBans(100_000, uint64(10+i))[:100_000] // without the /24s
		for j := range bans {
			bans[j].Entry.Expires, bans[j].Entry.Comment = expires, "fail2ban sshd jail"
			if j%100 != 0 {
				dels = append(dels, Change{Op: Delete, Entry: Entry{Addr: bans[j].Entry.Addr}})
			}
		}
		if err := applyRound(s, bans); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < len(dels); i += 100_000 {
		if err := applyRound(s, dels[i:min(i+100_000, len(dels))]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryAfterRemovals is the heap a live set holds after it took the million entries
// of BenchmarkMemory1M and 990k of them were removed, with compactions and without them.
// heap-MB is the live heap after a collection, heap-B/entry that over the 10k entries left;
// B/op and allocs/op are everything the rounds allocated on the way:
//
//	go test -run '^$' -bench MemoryAfterRemovals -benchtime 1x -benchmem ./live
func BenchmarkMemoryAfterRemovals(b *testing.B) {
	for _, c := range []struct {
		name string
		on   bool
	}{{"compaction=off", false}, {"compaction=on", true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := openSet(b, Options{MaxEntries: DefaultMaxEntries})
				s.Close() // the benchmark runs the rounds in the Set's place
				if c.on {
					fillAndRemove(b, s)
				} else {
					withoutCompactions(func() { fillAndRemove(b, s) })
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				n := s.Table().Len()
				heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
				b.ReportMetric(heap/1e6, "heap-MB")
				b.ReportMetric(heap/float64(n), "heap-B/entry")
				b.ReportMetric(float64(n), "entries")
				b.ReportMetric(float64(s.compactIndex.Get()), "compactions")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkCompaction10kOf1M is one compaction of the 10k entries left of the million of
// BenchmarkMemoryAfterRemovals (made without compactions): the index, the expiry queue and
// the table, what the round that removed them then pays once on the Set's goroutine:
//
//	go test -run '^$' -bench Compaction10kOf1M -benchtime 3x -benchmem ./live
func BenchmarkCompaction10kOf1M(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		s := openSet(b, Options{MaxEntries: DefaultMaxEntries})
		s.Close()
		withoutCompactions(func() { fillAndRemove(b, s) })
		runtime.GC()
		b.StartTimer()
		s.compact(s.Table())
		b.StopTimer()
		if s.compactIndex.Get() != 1 || s.compactTable.Get() != 1 {
			b.Fatalf("%d compactions of the index, %d of the table", s.compactIndex.Get(), s.compactTable.Get())
		}
		b.StartTimer()
	}
}
