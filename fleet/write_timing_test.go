package fleet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// BenchmarkWrite1000 is one agent's API write of 1,000 bans through a real Redis into its
// live set, which holds 100k entries: Redis accepts the batch, the agent's follower reads it
// back from the log and applies it, and Write returns (read-your-writes). cpu-us/op is this
// process's CPU per batch (the follower's applying included, Redis's not):
//
//	go test -run '^$' -bench Write1000 -benchtime 50x ./fleet
func BenchmarkWrite1000(b *testing.B) {
	r := startRedis(b, false)
	f, _ := liveAgent(b, r.URL())
	ctx := context.Background()
	next := uint32(100 << 24)
	batch := func(n int) []Change {
		cs := make([]Change, n)
		for i := range cs {
			next++
			a := netip.AddrFrom4([4]byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), byte(next)})
			cs[i] = put(a.String(), time.Hour)
		}
		return cs
	}
	for range 100 {
		if err := f.Write(ctx, batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	batches := make([][]Change, b.N)
	for i := range batches {
		batches[i] = batch(1000)
	}
	b.ResetTimer()
	start := testutil.ProcessCPU()
	for i := range b.N {
		if err := f.Write(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(testutil.ProcessCPU()-start)/1e3/float64(b.N), "cpu-us/op")
}
