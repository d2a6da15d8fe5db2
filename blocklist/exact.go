package blocklist

import (
	"encoding/binary"
	"slices"

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

type exactEntry4 struct {
	addr uint32
	bits uint64
}

type exactEntry6 struct {
	addr Uint128
	bits uint64
}

type exact4 struct {
	keys []uint32 // 0 = empty slot; 0.0.0.0 itself is held in zero
	midx []uint16
	zero uint16 // mask index of 0.0.0.0, 0 if absent
	n    int

	bloom *bloom.BloomFilter
	k     uint
}

type exact6 struct {
	keys []Uint128 // the zero value = empty slot; :: itself is held in zero
	midx []uint16
	zero uint16
	n    int

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

func hash6(a Uint128) uint64 {
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

func (e *exact4) build(in []exactEntry4, ids *interner, bloomMin int) error {
	slices.SortFunc(in, func(a, b exactEntry4) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
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
	e.keys = make([]uint32, size)
	e.midx = make([]uint16, size)
	if bloomMin > 0 && len(out) >= bloomMin {
		e.bloom, e.k = newBloom(len(out))
	}
	for _, x := range out {
		id, err := ids.id(x.bits)
		if err != nil {
			return err
		}
		h := hash4(x.addr)
		if e.bloom != nil {
			addBloom(e.bloom, e.k, h)
		}
		if x.addr == 0 {
			e.zero = id
			continue
		}
		i := slot(h, size)
		for e.keys[i] != 0 {
			if i++; i == size {
				i = 0
			}
		}
		e.keys[i], e.midx[i] = x.addr, id
	}
	return nil
}

func (e *exact4) lookup(a uint32) uint16 {
	if e.n == 0 {
		return 0
	}
	if a == 0 {
		return e.zero
	}
	h := hash4(a)
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
		if k == 0 {
			return 0
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func (e *exact4) bytes() int {
	n := len(e.keys)*4 + len(e.midx)*2
	if e.bloom != nil {
		n += int(e.bloom.Cap() / 8)
	}
	return n
}

func (e *exact6) build(in []exactEntry6, ids *interner, bloomMin int) error {
	slices.SortFunc(in, func(a, b exactEntry6) int { return a.addr.cmp(b.addr) })
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
	e.keys = make([]Uint128, size)
	e.midx = make([]uint16, size)
	if bloomMin > 0 && len(out) >= bloomMin {
		e.bloom, e.k = newBloom(len(out))
	}
	for _, x := range out {
		id, err := ids.id(x.bits)
		if err != nil {
			return err
		}
		h := hash6(x.addr)
		if e.bloom != nil {
			addBloom(e.bloom, e.k, h)
		}
		if x.addr == (Uint128{}) {
			e.zero = id
			continue
		}
		i := slot(h, size)
		for e.keys[i] != (Uint128{}) {
			if i++; i == size {
				i = 0
			}
		}
		e.keys[i], e.midx[i] = x.addr, id
	}
	return nil
}

func (e *exact6) lookup(a Uint128) uint16 {
	if e.n == 0 {
		return 0
	}
	if a == (Uint128{}) {
		return e.zero
	}
	h := hash6(a)
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
		if k == (Uint128{}) {
			return 0
		}
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func (e *exact6) bytes() int {
	n := len(e.keys)*16 + len(e.midx)*2
	if e.bloom != nil {
		n += int(e.bloom.Cap() / 8)
	}
	return n
}

// each calls f with every address in the set.
func (e *exact4) each(f func(uint32)) {
	if e.n == 0 {
		return
	}
	if e.zero != 0 {
		f(0)
	}
	for _, k := range e.keys {
		if k != 0 {
			f(k)
		}
	}
}

func (e *exact6) each(f func(Uint128)) {
	if e.n == 0 {
		return
	}
	if e.zero != 0 {
		f(Uint128{})
	}
	for _, k := range e.keys {
		if k != (Uint128{}) {
			f(k)
		}
	}
}
