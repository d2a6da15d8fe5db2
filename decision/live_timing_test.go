package decision

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/prefetch"
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
	for _, c := range liveRounds() {
		b.Run(c.name, func(b *testing.B) {
			v, end := startLiveRound(b, c.table)
			blocked, i := 0, 0
			for b.Loop() {
				a := probes[i&(len(probes)-1)][:]
				i++
				lm := c.table.Lookup(a)
				blocked += v.blocks(matches{base2M.Lookup(a).Matched, lm})
			}
			end(blocked)
		})
	}
}

// BenchmarkLiveOverBaseBatched is the same comparison on the agent's own path for a snapshot
// this large: the addresses come in batches, as a read's NOTIFYs do (a read holds about 20 of
// them at 8x20), and each batch is looked up by PrefetchDone's own code: its filter words and
// snapshot lines prefetched together, then the lookups. One op is still one address:
//
//	go test -run '^$' -bench LiveOverBaseBatched ./decision
func BenchmarkLiveOverBaseBatched(b *testing.B) {
	liveBench(b)
	if !base2M.Prefetches() {
		b.Fatal("the 2M-entry snapshot does not prefetch: the agent would look it up one address at a time")
	}
	const batch = 20
	for _, c := range liveRounds() {
		b.Run(c.name, func(b *testing.B) {
			var pb prefetchBatch
			v, end := startLiveRound(b, c.table)
			blocked, i := 0, 0
			for b.Loop() {
				if i%batch == 0 {
					pb.n, pb.n4, pb.n6, pb.nw = batch, 0, 0, 0
					for j := range batch {
						pb.add(j, probes[(i+j)&(len(probes)-1)][:], c.table)
					}
					pb.lookUp(base2M, c.table)
				}
				blocked += v.blocks(pb.m[i%batch])
				i++
			}
			end(blocked)
		})
	}
}

// floorWords is BenchmarkLiveFloorOneWord's array, and floorWord the index it reads for an
// address.
var floorWords = make([]uint64, 1<<15)

func floorWord(a []byte) uint32 { return (uint32(a[1])<<8 | uint32(a[2])) & (1<<15 - 1) }

// BenchmarkLiveFloorOneWord is the least a structure of the live set's own can cost on that
// path: the base alone against the base plus one load per address from a 256 KB array (the
// size of the live filter at 100k entries), at an index taken from the address's bits and
// asked for with the batch's other lines, as PrefetchDone asks for the filter's words:
//
//	go test -run '^$' -bench LiveFloorOneWord ./decision
func BenchmarkLiveFloorOneWord(b *testing.B) {
	liveBench(b)
	const batch = 20
	for r := range 18 {
		withWord := r%2 == 1
		name := "base-2M"
		if withWord {
			name = "base-2M+word"
		}
		b.Run(name, func(b *testing.B) {
			var addrs [batch][]byte
			var m [batch]matches
			var lines [batch]unsafe.Pointer
			v, end := startLiveRound(b, nil)
			blocked, i := 0, 0
			for b.Loop() {
				if i%batch == 0 {
					for j := range addrs {
						addrs[j] = probes[(i+j)&(len(probes)-1)][:]
					}
					if withWord {
						for j, a := range addrs {
							lines[j] = unsafe.Pointer(&floorWords[floorWord(a)])
						}
						prefetch.Lines(lines[:])
					}
					base2M.Prefetch(addrs[:])
					for j, a := range addrs {
						var w uint64
						if withWord {
							w = floorWords[floorWord(a)] & 1 // always 0: the filter's answer to most addresses
						}
						m[j] = matches{base2M.Lookup(a).Matched, w}
					}
				}
				blocked += v.blocks(m[i%batch])
				i++
			}
			end(blocked)
		})
	}
}

// blocks returns 1 if v blocks an address matching m, else 0.
func (v *verdicts) blocks(m matches) int {
	if !m.any() {
		return 0
	}
	if deny, _ := v.judge(m); deny.any() {
		return 1
	}
	return 0
}

// liveRounds alternates the base alone and the base with the live set, 9 rounds each.
func liveRounds() []liveVariant {
	var rounds []liveVariant
	for range 9 {
		rounds = append(rounds, liveVariant{"base-2M", nil}, liveVariant{"base-2M+live-100k", live100k})
	}
	return rounds
}

type liveVariant struct {
	name  string
	table *live.Table
}

// startLiveRound returns the verdicts a handler serving base2M would use with table, having
// started the round's CPU timer, and the function that reports the round.
func startLiveRound(b *testing.B, table *live.Table) (*verdicts, func(blocked int)) {
	h, err := New(staticSnapshot{base2M}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	v := h.verdictsFor(base2M, table)
	b.ReportAllocs()
	cpu := testutil.StartCPUTimer()
	return v, func(blocked int) {
		cpu.Report(b)
		b.ReportMetric(float64(blocked)/float64(b.N), "blocked/op")
	}
}

type staticSnapshot struct{ s *blocklist.Snapshot }

func (s staticSnapshot) Snapshot() *blocklist.Snapshot { return s.s }
