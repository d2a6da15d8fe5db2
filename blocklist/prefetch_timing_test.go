package blocklist

import (
	"testing"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// BenchmarkPrefetch measures lookups in batches of 20 (one read of HAProxy's pipelined
// NOTIFYs), with and without a Prefetch of the batch first, at the sizes around
// PrefetchMinBytes and on the real feeds: the measurement behind that threshold. Prefetch is
// forced on for "prefetch" and off for "single", whatever the snapshot decided. The IPv6
// cases show the IPv4 pass's cost to IPv6 addresses (they are skipped). Run with
//
//	taskset -c 1 go test -run '^$' -bench Prefetch -count 5 -cpu 1 ./blocklist/
func BenchmarkPrefetch(b *testing.B) {
	type data struct {
		name string
		s    *Snapshot
		p    *Parsed
		v6   bool
	}
	var sets []data
	v4, v6, lists := realParsedMerged(b)
	real, err := Build(lists, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sets = append(sets, data{"real/v4", real, v4, false}, data{"real/v6", real, v6, true})
	for _, n := range []int{100_000, 250_000, 500_000, 2_000_000} {
		p := SyntheticV4(n, 1)
		s, err := Build([]List{{Name: "syn", Parsed: p}}, BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		sets = append(sets, data{"v4/" + itoa(n), s, p, false})
	}
	p6 := SyntheticV6(2_000_000, 1)
	s6, err := Build([]List{{Name: "syn", Parsed: p6}}, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sets = append(sets, data{"v6/2M", s6, p6, true})
	for _, d := range sets {
		for _, hit := range []bool{true, false} {
			name := "miss"
			if hit {
				name = "hit"
			}
			addrs := probes(d.s, d.p, hit, d.v6)
			for _, pf := range []bool{false, true} {
				mode := "single"
				if pf {
					mode = "prefetch"
				}
				b.Run(d.name+"/"+name+"/"+mode, func(b *testing.B) {
					s := *d.s
					s.v4.prefetch = pf
					benchBatches(b, &s, addrs)
				})
			}
		}
	}
}

// benchBatches looks addrs up 20 at a time, each batch after a Prefetch of it; ns/op is per
// address.
func benchBatches(b *testing.B, s *Snapshot, addrs [][]byte) {
	const batch = 20
	b.ReportAllocs()
	cpu := testutil.StartCPUTimer()
	b.ResetTimer()
	var n uint64
	for i := 0; i < b.N; i += batch {
		off := i / batch % (probeCount / batch) * batch
		group := addrs[off : off+batch]
		s.Prefetch(group)
		for _, a := range group {
			n += s.Lookup(a).Matched
		}
	}
	cpu.Report(b)
	sink = n
}
