package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/spoaguard/spoaguard/blocklist"
)

// ListTargets returns n targets for an agent serving lists, all of them deny lists (real
// feeds, say, where the synthetic split of the address space does not hold): a share
// listedShare of them are addresses the lists cover, picked evenly by range, each at a random
// place inside its range; the rest are random addresses no list covers, a share v6Share of
// them IPv6 (from 2000::/3). Every target's decision is the one the snapshot of those lists
// gives it. The listed and the clean are interleaved evenly, as Mix does. The same lists and
// seed give the same targets.
func ListTargets(lists []blocklist.List, n int, listedShare, v6Share float64, seed uint64) ([]Target, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: %d targets, want at least 1", n)
	}
	lists = slices.Clone(lists)
	for i := range lists {
		lists[i].Kind = blocklist.Deny
	}
	snap, err := blocklist.Build(lists, blocklist.BuildOptions{})
	if err != nil {
		return nil, err
	}
	var ranges [][2]netip.Addr
	for _, l := range lists {
		for first, last := range l.Parsed.Ranges() {
			ranges = append(ranges, [2]netip.Addr{first, last})
		}
	}
	r := rand.New(rand.NewPCG(seed, 0x7a26))
	nListed := int(float64(n)*listedShare + 1e-9)
	if nListed > 0 && len(ranges) == 0 {
		return nil, errors.New("bench: the lists cover no address to list")
	}
	listed := make([]Target, 0, nListed)
	for range nListed {
		rg := ranges[r.IntN(len(ranges))]
		a := inside(r, rg[0], rg[1])
		listed = append(listed, Target{Addr: a, Blocked: snap.Lookup(a.AsSlice()).Blocked})
	}
	clean := make([]Target, 0, n-nListed)
	for tries := 0; len(clean) < n-nListed; tries++ {
		if tries > 100*n {
			return nil, errors.New("bench: the lists cover nearly every random address")
		}
		var a netip.Addr
		if r.Float64() < v6Share {
			a = addr6(0x2000<<48|r.Uint64()>>3, r.Uint64())
		} else {
			a = addr4(randIPv4(r, r.IntN(2) == 0))
		}
		if snap.Lookup(a.AsSlice()).Matched == 0 {
			clean = append(clean, Target{Addr: a})
		}
	}
	return Mix(listed, clean, n, listedShare), nil
}

// inside returns a random address of the range [first, last] (of one family); in an IPv6
// range wider than 2^64 addresses, one of its first 2^64.
func inside(r *rand.Rand, first, last netip.Addr) netip.Addr {
	if first.Is4() {
		lo, hi := binary.BigEndian.Uint32(first.AsSlice()), binary.BigEndian.Uint32(last.AsSlice())
		if hi-lo == ^uint32(0) {
			return addr4(r.Uint32())
		}
		return addr4(lo + r.Uint32N(hi-lo+1))
	}
	f, l := first.As16(), last.As16()
	fhi, flo := binary.BigEndian.Uint64(f[:8]), binary.BigEndian.Uint64(f[8:])
	lhi, llo := binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(l[8:])
	span := ^uint64(0) - flo // the range holds flo..flo+span at least
	if lhi == fhi {
		span = llo - flo
	}
	off := r.Uint64()
	if span != ^uint64(0) {
		off %= span + 1
	}
	return addr6(fhi, flo+off)
}

// Zipf returns n targets drawn from ts with heavy-tailed weights: the target at position k is
// drawn with a probability proportional to 1/(k+1)^s (s > 1), so that a few clients send most
// of the requests, as behind a real frontend. The same seed gives the same draws.
func Zipf(ts []Target, n int, s float64, seed uint64) ([]Target, error) {
	if s <= 1 {
		return nil, fmt.Errorf("bench: Zipf exponent %g, want > 1", s)
	}
	if len(ts) == 0 || n < 1 {
		return nil, errors.New("bench: no targets to draw from")
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 0x21bf)), s, 1, uint64(len(ts)-1))
	out := make([]Target, n)
	for i := range out {
		out[i] = ts[z.Uint64()]
	}
	return out, nil
}
