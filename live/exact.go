package live

import (
	"math/bits"
	"slices"
)

// u128 is an IPv6 address as a number, most significant half first.
type u128 struct{ hi, lo uint64 }

func (u u128) less(v u128) bool { return u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo) }

// mix is murmur3's 64-bit finaliser: every output bit depends on every input bit, so the
// filter and the slot can take different bits of one hash.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func hash4(a uint32) uint64 { return mix(uint64(a) | 1<<40) }
func hash6(a u128) uint64   { return mix(a.hi ^ mix(a.lo)) }

// exactSet maps single addresses to the live list holding them (a key is in one entry, so in
// one list; a byte per slot rather than a mask keeps the arrays a round copies small): open
// addressing with linear probing at a load of at most 1/2, behind a blocked bloom filter of 16
// bits per address with 3 bits set in one 64-bit word per address.
//
// Most looked-up addresses are in no live list. The filter answers them with one load, whose
// latency overlaps the file snapshot's lookup (the branch on it is predicted "not listed"),
// and lets about 1 in 200 of them through to probe the table (TestFilterLetsFewMissesThrough), which, beside a 2M-entry
// snapshot, is a cache miss: at 8 bits and one bit per address, 1 in 9 probed and the probes
// cost the live set a fifth of a lookup (BenchmarkLiveOverBase).
type exactSet[K comparable] struct {
	filter []uint64
	fshift uint // the filter word of a hash is hash >> fshift
	keys   []K
	lists  []uint8 // the list of the key in the same slot, as its bit + 1; 0 = empty slot
	tmask  uint64
	n      int
}

// The hash's bits: the filter word from the top, the word's three bits from the bottom 18,
// the slot from the bits above those (at most 2^21 slots stay clear of the word's bits up to
// 2^22 filter words).
func filterBits(h uint64) uint64            { return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) }
func (e *exactSet[K]) slot(h uint64) uint64 { return h >> 18 & e.tmask }

func newExactSet[K comparable](n int) exactSet[K] {
	var e exactSet[K]
	if n == 0 {
		return e
	}
	fbits := max(bits.Len(uint(n*16-1)), 9)
	e.filter = make([]uint64, 1<<(fbits-6))
	e.fshift = uint(64 - (fbits - 6))
	size := 1 << max(bits.Len(uint(2*n-1)), 4)
	e.keys = make([]K, size)
	e.lists = make([]uint8, size)
	e.tmask = uint64(size - 1)
	return e
}

func (e *exactSet[K]) lookup(k K, h uint64) uint64 {
	if e.n == 0 {
		return 0
	}
	if fb := filterBits(h); e.filter[h>>e.fshift]&fb != fb {
		return 0
	}
	for i := e.slot(h); ; i = (i + 1) & e.tmask {
		l := e.lists[i]
		if l == 0 {
			return 0
		}
		if e.keys[i] == k {
			return 1 << (l - 1)
		}
	}
}

// clone returns a copy of e that set and remove may change without changing e.
func (e *exactSet[K]) clone() exactSet[K] {
	c := *e
	c.filter = slices.Clone(e.filter)
	c.keys = slices.Clone(e.keys)
	c.lists = slices.Clone(e.lists)
	return c
}

// fits reports whether the set holds n keys at a load of at most 1/2.
func (e *exactSet[K]) fits(n int) bool { return e.lists != nil && 2*n <= len(e.lists) }

// set puts k in list bit, adding k if it is new. The set must fit one more key.
func (e *exactSet[K]) set(k K, h uint64, bit int) {
	e.filter[h>>e.fshift] |= filterBits(h)
	for i := e.slot(h); ; i = (i + 1) & e.tmask {
		if e.lists[i] == 0 {
			e.keys[i], e.lists[i] = k, uint8(bit+1)
			e.n++
			return
		}
		if e.keys[i] == k {
			e.lists[i] = uint8(bit + 1)
			return
		}
	}
}

// remove removes k, shifting back the keys that probed past it so that no lookup stops
// short. Its filter bit stays set (a false positive at worst) until the next full build.
func (e *exactSet[K]) remove(k K, h uint64, hash func(K) uint64) {
	i := e.slot(h)
	for ; ; i = (i + 1) & e.tmask {
		if e.lists[i] == 0 {
			return
		}
		if e.keys[i] == k {
			break
		}
	}
	e.n--
	for j := (i + 1) & e.tmask; e.lists[j] != 0; j = (j + 1) & e.tmask {
		home := e.slot(hash(e.keys[j]))
		// Move j into the hole at i when its home slot is not in (i, j], cyclically.
		if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			e.keys[i], e.lists[i] = e.keys[j], e.lists[j]
			i = j
		}
	}
	var zero K
	e.keys[i], e.lists[i] = zero, 0
}
