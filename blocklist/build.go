package blocklist

import (
	"fmt"
	"slices"
)

// List is one parsed source given to Build.
type List struct {
	Name   string
	Kind   Kind
	Parsed *Parsed
}

// BuildOptions tune Build; the zero value is the production default.
type BuildOptions struct {
	// BloomMinExact puts a bloom filter in front of a family's exact-address set when the set
	// holds at least this many addresses. 0 means DefaultBloomMinExact; a negative value never
	// uses one.
	BloomMinExact int
}

// DefaultBloomMinExact is the exact-set size from which the bloom filter is used. The filter
// only saves work on a miss, once the set no longer fits in cache; on a hit it is pure cost.
// BenchmarkExactSet (thread CPU ns per lookup, medians of 5, on a shared 2-core machine at load
// 10) measured set vs bloom+set misses: IPv6 10k 53 vs 50, 100k 66 vs 60, 1M 143 vs 69,
// 4M 282 vs 133; IPv4 10k 34 vs 38, 100k 41 vs 53, 1M 80 vs 70, 4M 194 vs 89; hits cost
// about twice as much with the filter at every size. The crossover is between 100k and 1M.
// Only IPv6 single addresses use an exact set (IPv4 ones are range segments).
const DefaultBloomMinExact = 1_000_000

// Build merges lists into a snapshot. List i is bit i of Result.Matched.
//
// Single IPv4 addresses go into the range table with the prefixes (two segments each): at 2M
// synthetic entries that answers faster than an exact set behind the table, and in less
// memory (PERFORMANCE.md). Single IPv6 addresses go into the exact set, where 16-byte keys cost
// less than two 16-byte segments and keep the IPv6 buckets short.
func Build(lists []List, opts BuildOptions) (*Snapshot, error) {
	if len(lists) > MaxLists {
		return nil, fmt.Errorf("blocklist: %d lists; at most %d are supported", len(lists), MaxLists)
	}
	s := &Snapshot{}
	in := newInterner()
	ranges4, ranges6 := make([][]range4, len(lists)), make([][]range6, len(lists))
	// Size the IPv6 arrays first: grown by append, their old copies would add to a reload's
	// peak memory.
	nExact, nEvents := 0, 0
	for i, l := range lists {
		if l.Parsed == nil {
			continue
		}
		ranges4[i], ranges6[i] = l.Parsed.ranges4(), l.Parsed.ranges6()
		for _, r := range ranges6[i] {
			if r.Lo == r.Hi {
				nExact++
			} else {
				nEvents += 2
			}
		}
	}
	exact6, ev6 := make([]exactEntry6, 0, nExact), make([]event6, 0, nEvents)
	for i, l := range lists {
		s.names = append(s.names, []byte(l.Name))
		s.kinds = append(s.kinds, l.Kind)
		bit := uint64(1) << i
		if l.Kind == Allow {
			s.allowMask |= bit
		} else {
			s.denyMask |= bit
		}
		for _, r := range ranges6[i] {
			if r.Lo == r.Hi {
				exact6 = append(exact6, exactEntry6{r.Lo, bit})
				continue
			}
			ev6 = append(ev6, event6{r.Lo, bit})
			if !r.Hi.isMax() {
				ev6 = append(ev6, event6{r.Hi.addOne(), bit})
			}
		}
	}
	if err := s.v4.build(ranges4, in); err != nil {
		return nil, err
	}
	if err := s.v6.build(ev6, in); err != nil {
		return nil, err
	}
	bloomMin := opts.BloomMinExact
	if bloomMin == 0 {
		bloomMin = DefaultBloomMinExact
	}
	if err := s.e6.build(exact6, in, bloomMin); err != nil {
		return nil, err
	}
	s.e6.each(s.v6.markExact)
	s.masks = slices.Clip(in.masks)
	return s, nil
}
