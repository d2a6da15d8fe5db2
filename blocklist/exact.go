package blocklist

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cespare/xxhash/v2"
)

// The exact sets hold single addresses: they are most of the entries of the big feeds (ipsum,
// Tor exits), and a hash probe costs the same whatever the set size, where a range table would
// need two segments per address. The sets are open-addressed with linear probing at a load
// factor of 3/4; the slot comes from one xxhash of the address, and the optional bloom filter in
// front of a set derives its bit locations from the same hash, so a lookup hashes once.
//
// A bloom positive is always confirmed by the set: the filter only saves the probe on a miss.

const maxBloomK = 16

// bloomFP is the false-positive rate the filter is sized for.
const bloomFP = 0.01

// exactKey is an address as the sets hold it: IPv4 as a uint32, IPv6 as a uint128. The zero
// key marks an empty slot, so the address 0.0.0.0 or :: itself is held apart, in zero.
type exactKey interface{ uint32 | uint128 }

type exactEntry[K exactKey] struct {
	addr K
	bits uint64
}

type (
	exactEntry4 = exactEntry[uint32]
	exactEntry6 = exactEntry[uint128]
	exact4      = exactSet[uint32]
	exact6      = exactSet[uint128]
)

type exactSet[K exactKey] struct {
	keys []K // the zero key = empty slot
	midx []uint16
	zero uint16 // mask index of the zero address, 0 if absent
	n    int
	hash func(K) uint64 // hash4 or hash6, set by build

	bloom *bloom.BloomFilter
	k     uint
}

func tableSize(n int) int { return n + n/3 + 1 }

// slot maps a hash onto [0, size) without a division (Lemire's multiply-shift).
func slot(h uint64, size int) int { return int((h & 0xffffffff) * uint64(size) >> 32) }

func hash4(a uint32) uint64 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return xxhash.Sum64(b[:])
}

func hash6(a uint128) uint64 {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.Hi)
	binary.BigEndian.PutUint64(b[8:], a.Lo)
	return xxhash.Sum64(b[:])
}

// bloomLocations derives k filter locations from one hash by double hashing
// (Kirsch–Mitzenmacher): h1 + i*h2.
func bloomLocations(locs *[maxBloomK]uint64, h uint64, k uint) []uint64 {
	h1, h2 := h, (h>>32|h<<32)|1
	for i := uint(0); i < k; i++ {
		locs[i] = h1 + uint64(i)*h2
	}
	return locs[:k]
}

func newBloom(n int) (*bloom.BloomFilter, uint) {
	m, k := bloom.EstimateParameters(uint(n), bloomFP)
	k = min(k, maxBloomK)
	return bloom.New(m, k), k
}

func addBloom(f *bloom.BloomFilter, k uint, h uint64) {
	var locs [maxBloomK]uint64
	m := uint64(f.Cap())
	bs := f.BitSet()
	for _, l := range bloomLocations(&locs, h, k) {
		bs.Set(uint(l % m))
	}
}

// build fills the set from in (which it sorts and reuses), combining the lists of an address
// given more than once.
func (e *exactSet[K]) build(in []exactEntry[K], ids *interner, bloomMin int) error {
	var compare func(a, b K) int
	switch any(*new(K)).(type) { // build time only: the hot path calls e.hash directly
	case uint32:
		e.hash = func(a K) uint64 { return hash4(any(a).(uint32)) }
		compare = func(a, b K) int { return cmpUint32(any(a).(uint32), any(b).(uint32)) }
	case uint128:
		e.hash = func(a K) uint64 { return hash6(any(a).(uint128)) }
		compare = func(a, b K) int { return any(a).(uint128).cmp(any(b).(uint128)) }
	}
	slices.SortFunc(in, func(a, b exactEntry[K]) int { return compare(a.addr, b.addr) })
	// Combine duplicates (the same address in several lists).
	out := in[:0]
	for _, x := range in {
		if len(out) > 0 && out[len(out)-1].addr == x.addr {
			out[len(out)-1].bits |= x.bits
			continue
		}
		out = append(out, x)
	}
	e.n = len(out)
	if e.n == 0 {
		return nil
	}
	size := tableSize(len(out))
	e.keys = make([]K, size)
	e.midx = make([]uint16, size)
	if bloomMin > 0 && len(out) >= bloomMin {
		e.bloom, e.k = newBloom(len(out))
	}
	var zero K
	for _, x := range out {
		id, err := ids.id(x.bits)
		if err != nil {
			return err
		}
		h := e.hash(x.addr)
		if e.bloom != nil {
			addBloom(e.bloom, e.k, h)
		}
		if x.addr == zero {
			e.zero = id
			continue
		}
		i := slot(h, size)
		for e.keys[i] != zero {
			if i++; i == size {
				i = 0
			}
		}
		e.keys[i], e.midx[i] = x.addr, id
	}
	return nil
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lookup returns the mask index of a, 0 if the set does not hold it. It does not allocate.
func (e *exactSet[K]) lookup(a K) uint16 {
	if e.n == 0 {
		return 0
	}
	var zero K
	if a == zero {
		return e.zero
	}
	h := e.hash(a)
	if e.bloom != nil {
		var locs [maxBloomK]uint64
		if !e.bloom.TestLocations(bloomLocations(&locs, h, e.k)) {
			return 0
		}
	}
	keys := e.keys
	i := slot(h, len(keys))
	for {
		k := keys[i]
		if k == a {
			return e.midx[i]
		}
		if k == zero {
			return 0
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func (e *exactSet[K]) bytes() int {
	n := cap(e.keys)*int(unsafe.Sizeof(*new(K))) + cap(e.midx)*2
	if e.bloom != nil {
		n += int(e.bloom.Cap() / 8)
	}
	return n
}

// each calls f with every address in the set.
func (e *exactSet[K]) each(f func(K)) {
	if e.n == 0 {
		return
	}
	var zero K
	if e.zero != 0 {
		f(zero)
	}
	for _, k := range e.keys {
		if k != zero {
			f(k)
		}
	}
}
