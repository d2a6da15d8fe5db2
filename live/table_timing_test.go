package live

import (
	"encoding/binary"
	"github.com/spoaguard/spoaguard/internal/testutil"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// randomBans returns n random single IPv4 addresses and n/100 random /24s, as changes.
func randomBans(n int, seed uint64) []Change {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Change, 0, n+n/100)
	for range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		a := netip.AddrFrom4(b)
		out = append(out, Change{Op: Put, Entry: Entry{Addr: entryOf(a, 32)}})
	}
	for range n / 100 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32()&0xffffff00)
		out = append(out, Change{Op: Put, Entry: Entry{Addr: entryOf(netip.AddrFrom4(b), 24)}})
	}
	return out
}

// BenchmarkApplyOneChange is the cost of one ban applied to a live set of 100k entries: the
// whole round (the tree's path, the touched page and shard, swap), without a store; cpu-us/op is the whole
// process's CPU time, the applier's goroutine included:
//
//	go test -run '^$' -bench ApplyOneChange -benchtime 200x ./live
func BenchmarkApplyOneChange(b *testing.B) {
	s := openSet(b, Options{MaxEntries: 1 << 30}) // b.N more entries than the 100k
	if _, err := s.Apply(randomBans(100_000, 1)); err != nil {
		b.Fatal(err)
	}
	one := randomBans(b.N, 2)
	b.ResetTimer()
	start := testutil.ProcessCPU()
	for i := range b.N {
		if _, err := s.Apply(one[i : i+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(testutil.ProcessCPU()-start)/1e3/float64(b.N), "cpu-us/op")
}

// BenchmarkApplyRoundOf100 is one round of 100 bans applied to a live set of 100k entries,
// the rate of 10k bans/s in POSTs of 100; B/op is what a round allocates, which sets how often
// the collector runs beside the event loops:
//
//	go test -run '^$' -bench ApplyRoundOf100 -benchmem ./live
func BenchmarkApplyRoundOf100(b *testing.B) {
	s := openSet(b, Options{MaxEntries: 1 << 30}) // b.N more entries than the 100k
	if _, err := s.Apply(randomBans(100_000, 1)); err != nil {
		b.Fatal(err)
	}
	bans := randomBans(100*b.N, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Apply(bans[100*i : 100*(i+1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChurnRoundOf100 is the steady state of a ban storm over a live set of 100k
// entries: each op is a round of 100 new bans and one of 100 removals of the oldest (what
// their expiry does), so the set keeps its size; B/op is what the two rounds allocate:
//
//	go test -run '^$' -bench ChurnRoundOf100 -benchmem ./live
func BenchmarkChurnRoundOf100(b *testing.B) {
	s := openSet(b, Options{})
	if _, err := s.Apply(randomBans(100_000, 1)); err != nil {
		b.Fatal(err)
	}
	bans := randomBans(100*(b.N+1), 2)
	dels := make([]Change, len(bans))
	for i, c := range bans {
		dels[i] = Change{Op: Delete, Entry: Entry{Addr: c.Entry.Addr}}
	}
	if _, err := s.Apply(bans[:100]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Apply(bans[100*(i+1) : 100*(i+2)]); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Apply(dels[100*i : 100*(i+1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply100k is one batch of 100k bans into an empty set.
func BenchmarkApply100k(b *testing.B) {
	bans := randomBans(100_000, 1)
	for b.Loop() {
		s, err := Open(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Apply(bans); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkLookup100k looks up random addresses (nearly all misses) in 100k live entries.
func BenchmarkLookup100k(b *testing.B) {
	t := tableOf(b, randomBans(100_000, 1)...)
	r := rand.New(rand.NewPCG(3, 3))
	addrs := make([][4]byte, 1<<16)
	for i := range addrs {
		binary.BigEndian.PutUint32(addrs[i][:], r.Uint32())
	}
	var sink uint64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink |= t.Lookup(addrs[i&(len(addrs)-1)][:])
		i++
	}
	_ = sink
}

// BenchmarkCovering100k explains random addresses against 100k live entries (1k of them
// /24s), what GET /v1/check asks of the live set:
//
//	go test -run '^$' -bench Covering100k -benchmem ./live
func BenchmarkCovering100k(b *testing.B) {
	t := tableOf(b, randomBans(100_000, 1)...)
	r := rand.New(rand.NewPCG(3, 3))
	b.ReportAllocs()
	for b.Loop() {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		t.Covering(netip.AddrFrom4(a))
	}
}

// BenchmarkCollection100k is a whole collection of a heap that holds a live set of 100k
// entries (and little else): what marking the set costs the collector, which a ban storm
// makes run every few seconds:
//
//	go test -run '^$' -bench Collection100k -benchtime 20x ./live
func BenchmarkCollection100k(b *testing.B) {
	s := openSet(b, Options{})
	if _, err := s.Apply(randomBans(100_000, 1)); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}

// BenchmarkMemory1M is the heap a live set of 1M entries holds (DefaultMaxEntries): single
// IPv4 addresses, each with an expiry and a comment as fail2ban's actions send them, posted
// in batches of 100k. heap-B/entry is the live heap after a collection, over the entries:
//
//	go test -run '^$' -bench Memory1M -benchtime 1x ./live
func BenchmarkMemory1M(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := openSet(b, Options{MaxEntries: DefaultMaxEntries})
		expires := time.Now().Add(time.Hour)
		for i := range DefaultMaxEntries / 100_000 {
			bans := randomBans(100_000, uint64(10+i))[:100_000] // without the /24s
			for j := range bans {
				bans[j].Entry.Expires, bans[j].Entry.Comment = expires, "fail2ban sshd jail"
			}
			if _, err := s.Apply(bans); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := s.Table().Len()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heap-B/entry")
		b.ReportMetric(float64(n), "entries")
		s.Close()
	}
}
