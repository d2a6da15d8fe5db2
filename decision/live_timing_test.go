package decision

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
)

// The live set's cost on the hot path: lookups of random client addresses in a 2M-entry file
// snapshot alone, and in the same snapshot with 100k live entries in front of it, as the
// handler does them (both lookups, one verdict). The two run in one process, alternating for
// 9 rounds (base-2M, base-2M+live-100k, base-2M#01, ...), with the thread's CPU time per
// lookup as cpu-ns/op:
//
//	go test -run '^$' -bench LiveOverBase ./decision
var (
	baseOnce sync.Once
	base2M   *blocklist.Snapshot
	live100k *live.Table
	probes   [][4]byte
)

func liveBench(b *testing.B) {
	baseOnce.Do(func() {
		// The files: 2M IPv4 entries, 90% single addresses and 10% prefixes /16 to /31, as
		// blocklist's synthetic benchmark lists, written as a feed and parsed.
		rng := rand.New(rand.NewPCG(1, 1))
		var sb strings.Builder
		for range 2_000_000 {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], rng.Uint32())
			if rng.IntN(10) == 0 {
				sb.WriteString(netip.PrefixFrom(netip.AddrFrom4(a), 16+rng.IntN(16)).Masked().String())
			} else {
				sb.WriteString(netip.AddrFrom4(a).String())
			}
			sb.WriteByte('\n')
		}
		p, _, err := blocklist.Parse(strings.NewReader(sb.String()), blocklist.Source{Name: "big"})
		if err != nil {
			b.Fatal(err)
		}
		if base2M, err = blocklist.Build([]blocklist.List{{Name: "big", Parsed: p}}, blocklist.BuildOptions{}); err != nil {
			b.Fatal(err)
		}
		// The live set: 100k bans, 99% single addresses and 1% /24s, in two lists.
		ls, err := live.Open(live.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer ls.Close()
		changes := make([]live.Change, 0, 100_000)
		for i := range 100_000 {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], rng.Uint32())
			s := netip.AddrFrom4(a).String()
			if i%100 == 0 {
				s = netip.PrefixFrom(netip.AddrFrom4(a), 24).Masked().String()
			}
			e, err := blocklist.ParseEntry(s)
			if err != nil {
				b.Fatal(err)
			}
			changes = append(changes, live.Change{Op: live.Put, Entry: live.Entry{Addr: e, List: fmt.Sprint("l", i%2)}})
		}
		if _, err := ls.Apply(changes); err != nil {
			b.Fatal(err)
		}
		live100k = ls.Table()
		// Clients: 1M uniformly random addresses, so that the tables' cache misses count.
		probes = make([][4]byte, 1<<20)
		for i := range probes {
			binary.BigEndian.PutUint32(probes[i][:], rng.Uint32())
		}
	})
}

func BenchmarkLiveOverBase(b *testing.B) {
	liveBench(b)
	type variant struct {
		name  string
		table *live.Table
	}
	var rounds []variant
	for range 9 {
		rounds = append(rounds, variant{"base-2M", nil}, variant{"base-2M+live-100k", live100k})
	}
	for _, c := range rounds {
		b.Run(c.name, func(b *testing.B) {
			h, err := New(staticSnapshot{base2M}, Config{})
			if err != nil {
				b.Fatal(err)
			}
			v := h.verdictsFor(base2M, c.table)
			var blocked int
			b.ReportAllocs()
			i := 0
			cpu := testutil.StartCPUTimer()
			defer cpu.Report(b)
			for b.Loop() {
				a := probes[i&(len(probes)-1)][:]
				i++
				lm := c.table.Lookup(a)
				m := matches{base2M.Lookup(a).Matched, lm}
				if !m.any() {
					continue
				}
				if deny, _ := v.judge(m); deny.any() {
					blocked++
				}
			}
			b.ReportMetric(float64(blocked)/float64(b.N), "blocked/op")
		})
	}
}

type staticSnapshot struct{ s *blocklist.Snapshot }

func (s staticSnapshot) Snapshot() *blocklist.Snapshot { return s.s }
