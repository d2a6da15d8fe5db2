package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spoaguard/spoaguard/live"
)

// ipv4Key is the i-th single IPv4 address's key, in its own allocation as a decoded change's
// key is.
func ipv4Key(i int) string {
	return netip.AddrFrom4([4]byte{byte(10 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)}).String()
}

// The heap the queue holds for each entry it remembers: 500,000 single IPv4 addresses (the
// queue of a 1M shared set over a limit of 500k), each with an expiry.
func BenchmarkLeftQueueMemory(b *testing.B) {
	const n = 500_000
	for range b.N {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		keys := make([]string, n) // freed before the heap is read again
		for i := range keys {
			keys[i] = ipv4Key(i)
		}
		l := &leftQueue{max: n}
		for i, k := range keys {
			l.add(leftEntry{k, int64(i)})
		}
		keys = nil
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc-before)/n, "bytes/entry")
		runtime.KeepAlive(l)
	}
}

// A sweep of a queue of 500,000 entries for the expired among them: one in ten has expired.
func BenchmarkLeftQueueSweep(b *testing.B) {
	const n = 500_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = ipv4Key(i)
	}
	for range b.N {
		b.StopTimer()
		l := &leftQueue{max: n}
		for i, k := range keys {
			exp := int64(2_000 + i) // the expiries of a ban with a ttl, each later than the one before
			if i%10 == 0 {
				exp = 1_000
			}
			l.add(leftEntry{k, exp})
		}
		b.StartTimer()
		l.sweep(1_500)
		if l.len() != n-n/10 {
			b.Fatalf("%d left after the sweep, want %d", l.len(), n-n/10)
		}
	}
}

// restoreBench is a follower, not running, whose set of limit entries is full and whose queue
// holds shared-limit entries left out of a shared set of shared entries in Redis.
func restoreBench(b *testing.B, shared, limit int) (*Fleet, *live.Set, []Record) {
	r := startRedis(b, false)
	set, err := live.Open(live.Options{MaxEntries: limit, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	sink := LiveSink{Set: set, Logger: slog.New(slog.DiscardHandler)}
	f, err := New(Options{URL: r.URL(), Logger: slog.New(slog.DiscardHandler)}, sink)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	ctx := context.Background()
	records := make([]Record, shared)
	created := time.Now().UnixMilli()
	for start := 0; start < shared; start += 10_000 {
		pipe := f.rdb.Pipeline()
		for i := start; i < min(shared, start+10_000); i++ {
			records[i] = Record{Addr: ipv4Key(i), Action: "deny", List: "api", Comment: "bench", Created: created}
			pipe.HSet(ctx, f.keys[0], records[i].Addr, string(appendRecord(nil, &records[i])))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.replace(records); err != nil {
		b.Fatal(err)
	}
	if f.left.len() != shared-limit {
		b.Fatalf("%d left out, want %d", f.left.len(), shared-limit)
	}
	return f, set, records
}

// Bringing back n entries left out of a 1M shared set over a 500k limit, once removals of
// as many freed their places: n/restorePage HMGETs and one Apply a page, against the full
// sync (every record read and the set replaced) that would bring them back otherwise. It
// reports the Redis commands each restore sends.
func BenchmarkRestore(b *testing.B) {
	const shared, limit = 1_000_000, 500_000
	f, set, records := restoreBench(b, shared, limit)
	ctx := context.Background()
	var cmds int
	f.rdb.AddHook(countHook{&cmds})
	next := 0 // the next held record to remove
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			cmds = 0
			for range b.N {
				b.StopTimer()
				var removals []live.Change
				for range n {
					a, _ := EntryOf(&records[next])
					removals = append(removals, live.Change{Op: live.Delete, Entry: live.Entry{Addr: a.Addr}})
					next++
				}
				if _, err := set.Apply(removals); err != nil {
					b.Fatal(err)
				}
				before := f.restored.Get()
				b.StartTimer()
				for int(f.restored.Get()-before) < n {
					if _, err := f.restore(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/op")
		})
	}
	b.Run("fullsync", func(b *testing.B) {
		for range b.N {
			got, err := f.scan(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.replace(got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// countHook counts the commands a client sends.
type countHook struct{ n *int }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { *h.n++; return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { *h.n += len(cmds); return next(ctx, cmds) }
}

// A batch that fits, with nothing left out: the follower's path (apply, then the test for
// entries to bring back) against the sink's own.
func BenchmarkApplyFits(b *testing.B) {
	set, err := live.Open(live.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	sink := LiveSink{Set: set, Logger: slog.New(slog.DiscardHandler)}
	var batch []Change
	for i := range 100 {
		r := Record{Addr: ipv4Key(i), Action: "deny", List: "api", Created: 1}
		batch = append(batch, Change{Op: Put, Key: r.Addr, Record: &r})
	}
	b.Run("sink", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := sink.Apply(batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	f := &Fleet{sink: sink, limited: sink, left: leftQueue{max: minRemembered}}
	b.Run("follower", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := f.apply(batch); err != nil {
				b.Fatal(err)
			}
			if _, err := f.restore(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
