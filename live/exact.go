package live

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/bits"
	"slices"
	"sync/atomic"
	"unsafe"
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

// seed keys the hashes with a secret of this process, so that nobody who can get addresses
// banned can choose addresses whose keys fall into one shard, one slot or one filter word:
// without it a holder of an IPv6 /64 could compute thousands of them (mix can be inverted),
// lengthening a shard's probes for every lookup.
var seed = func() (s [3]uint64) {
	var b [24]byte
	crand.Read(b[:]) // never fails on Linux (it panics rather than return an error)
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return s
}()

// hash4 folds the 128-bit product of the keyed address and an odd constant (wyhash's mum):
// each of the 64 bits of the result depends on all 32 of the address's, and one multiply is
// a third of mix's latency on the path of every IPv4 lookup.
func hash4(a uint32) uint64 { return keyedHash4(a, &seed) }
func hash6(a u128) uint64   { return keyedHash6(a, &seed) }

func keyedHash4(a uint32, k *[3]uint64) uint64 {
	hi, lo := bits.Mul64(uint64(a)^k[0], 0xe7037ed1a0b428db^k[1]|1)
	return hi ^ lo
}

func keyedHash6(a u128, k *[3]uint64) uint64 { return mix(a.hi ^ k[1] ^ mix(a.lo^k[2])) }

// exactSet maps single addresses to the live list holding them (a key is in one entry, so in
// one list): a blocked bloom filter of 16 bits per key, with 3 bits set in one 64-bit word per
// key, in front of a table split into shards, each an open-addressing table with linear
// probing at a load of at most 1/2.
//
// The shards are pieces that a published set never changes: a round of changes copies the
// slice of pointers to them and only the shards it touches, so its cost follows the change,
// not the size of the set; the sets before and after share every other shard.
//
// The filter is one array that every set edited from the same build shares, and that rounds
// change in place: a round only ever sets bits (a removed key's bits stay set until the set is
// next built), with atomic operations. A set published before the round may then see a new
// key's bits early, which is a false positive: its shards, which do not hold the key, answer
// it. So the filter costs a round nothing to copy, and a lookup one load.
//
// Most looked-up addresses are in no live list. The filter answers them with that load, whose
// latency overlaps the file snapshot's lookup (the branch on it is predicted "not listed"),
// and lets about 1 in 200 of them through to probe a shard (TestFilterLetsFewMissesThrough),
// which, beside a 2M-entry snapshot, is a cache miss: at 8 bits and one bit per key, 1 in 9
// probed and the probes cost the live set a fifth of a lookup (BenchmarkLiveOverBase).
type exactSet[K comparable] struct {
	filter
	shards []*shard[K]
	sshift uint // the shard of a hash is hash >> sshift
	n      int
	stale  int    // keys removed since the filter was built, whose bits are still set
	epoch  uint64 // shards with this epoch belong to this set alone; 0 for a set being built
	// pending are the filter bits of the keys an edited set added, set in the shared filter
	// by setPending once the round is stored.
	pending []filterBit
}

// filterBit is bits to set in a filter word.
type filterBit struct {
	w    *atomic.Uint64
	bits uint64
}

// setPending sets the filter bits of the keys the edit added, before the set is published.
func (e *exactSet[K]) setPending() {
	for _, p := range e.pending {
		p.w.Or(p.bits)
	}
	e.pending = nil
}

// filter is the exact set's bloom filter: 1<<filterLow words or a power of two times more.
type filter struct {
	w     []atomic.Uint64
	shift uint // the word of a hash is filterIndex(h, shift)
}

// has reports whether the filter lets hash h through: whether the set may hold its key. The
// filter must have words.
func (f *filter) has(h uint64) bool {
	fb := filterBits(h)
	return f.w[filterIndex(h, f.shift)].Load()&fb == fb
}

// filterLow is the number of words a filter word's index takes from the middle of the hash.
const filterLow = 5

type shard[K comparable] struct {
	keys  []K
	lists []uint8 // the list of the key in the same slot, as its bit + 1; 0 = empty slot
	tmask uint64
	n     int
	epoch uint64
}

// The hash's bits: the word's three bits from the bottom 18, the slot in its shard from bits
// 18–31, the low filterLow bits of the filter word's index from bits 32–36, the rest of that
// index and the shard from the top. So a shard has at most 2^14 slots, and maxShardKeys keys
// at its load of 1/2.
const (
	shardTarget  = 32 // keys per shard when the set is built
	maxShardKeys = 1 << 13
)

// filterIndex returns the filter word of hash h in a filter of 1<<(64-fshift+filterLow) words.
func filterIndex(h uint64, fshift uint) uint64 {
	return h>>fshift<<filterLow | h>>32&(1<<filterLow-1)
}

func filterBits(h uint64) uint64 { return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) }

// newExactSet returns an empty set sized for n keys.
func newExactSet[K comparable](n int) exactSet[K] {
	var e exactSet[K]
	if n == 0 {
		return e
	}
	fbits := bits.Len(uint((16*n - 1) / (64 << filterLow)))
	e.w = make([]atomic.Uint64, 1<<(fbits+filterLow))
	e.shift = uint(64 - fbits)
	sbits := bits.Len(uint(n / shardTarget))
	e.shards = make([]*shard[K], 1<<sbits)
	e.sshift = uint(64 - sbits)
	per := max(n>>sbits, 1)
	for i := range e.shards {
		e.shards[i] = newShard[K](per)
	}
	return e
}

// newShard returns an empty shard with room for n+1 keys or more (n >= 1).
func newShard[K comparable](n int) *shard[K] {
	slots := 1 << max(bits.Len(uint(2*n+1)), 3)
	return &shard[K]{keys: make([]K, slots), lists: make([]uint8, slots), tmask: uint64(slots - 1)}
}

// lookup returns the bitmask of k's list, 0 if the set does not hold it. h is k's hash.
func (e *exactSet[K]) lookup(k K, h uint64) uint64 {
	if e.n == 0 || !e.has(h) {
		return 0
	}
	return e.probe(k, h)
}

// probe finds k in its shard, past the filter.
func (e *exactSet[K]) probe(k K, h uint64) uint64 {
	s := e.shards[h>>e.sshift]
	for i := h >> 18 & s.tmask; ; i = (i + 1) & s.tmask {
		l := s.lists[i]
		if l == 0 {
			return 0
		}
		if s.keys[i] == k {
			return 1 << (l - 1)
		}
	}
}

// word returns where the filter word of hash h is, nil for an empty set: what lookup loads
// first.
func (e *exactSet[K]) word(h uint64) unsafe.Pointer {
	if e.n == 0 {
		return nil
	}
	return unsafe.Pointer(&e.w[filterIndex(h, e.shift)])
}

// fits reports whether the set can take n keys, having had stale removed, without being built
// again: its filter then has at least 10 bits a key and is not half stale, and its shards
// average at most four times the keys they were built for.
func (e *exactSet[K]) fits(n, stale int) bool {
	return len(e.w) > 0 && 10*n <= 64*len(e.w) && n <= 4*shardTarget*len(e.shards) &&
		stale <= n/2+64
}

// oversized reports whether the set is built for many more keys than it holds: under 2 a
// shard where a build puts 16 to 32, so a build would make it 8 to 16 times smaller. A set
// grown past its shards is built again at 4 times the keys it was built for (fits), and one
// built again smaller is oversized only after an eightfold fall at the least, so a set that
// hovers about either threshold is not built again and again. Below minShrinkShards shards
// (sets built for under 1024 keys) the room is too little to be worth a build.
func (e *exactSet[K]) oversized() bool {
	return len(e.shards) >= minShrinkShards && e.n < 2*len(e.shards)
}

// minShrinkShards is the least shards an exact set is built again smaller at. Tests move it.
var minShrinkShards = 64

// refilter gives an edited set a filter of its own, of the same size, holding the bits of the
// keys its shards hold and no others: the bits of the keys removed since the last build are
// gone, so a set whose only fault is a stale filter need not be built again. It costs a pass
// over the shards' slots and a hash per key, against a build's copy of every shard and key
// (2.3-2.6 ms against 32 ms for 110k entries), which a ban storm's expiries needed every few
// seconds. The new filter is this set's alone until the table is published, as a build's is.
func (e *exactSet[K]) refilter(hash func(K) uint64) {
	w := make([]atomic.Uint64, len(e.w))
	for _, s := range e.shards {
		for j, l := range s.lists {
			if l != 0 {
				h := hash(s.keys[j])
				p := &w[filterIndex(h, e.shift)]
				p.Store(p.Load() | filterBits(h))
			}
		}
	}
	e.w, e.stale = w, 0
}

// edit returns a copy of e that put and remove may change without changing e's keys: it
// shares e's shards until it changes them, and e's filter, whose new bits wait for
// setPending.
func (e *exactSet[K]) edit() exactSet[K] {
	c := *e
	c.pending = nil
	c.shards = slices.Clone(e.shards)
	c.epoch++
	return c
}

// ownShard returns shard i of an edited set for changing, copying it the first time. With
// grow, it has room for one more key: a full shard is built afresh twice the size, and it
// returns nil if the shard cannot grow (the set must be built again). Without grow (to
// remove a key) it is the same size.
func (e *exactSet[K]) ownShard(i uint64, hash func(K) uint64, grow bool) *shard[K] {
	s := e.shards[i]
	full := grow && 2*(s.n+1) > len(s.lists)
	if s.epoch == e.epoch && !full {
		return s
	}
	var c *shard[K]
	if full {
		if s.n+1 > maxShardKeys {
			return nil
		}
		c = newShard[K](s.n + 1)
		for j, l := range s.lists {
			if l != 0 {
				c.insert(s.keys[j], hash(s.keys[j]), l)
			}
		}
	} else {
		c = &shard[K]{keys: slices.Clone(s.keys), lists: slices.Clone(s.lists), tmask: s.tmask, n: s.n}
	}
	c.epoch = e.epoch
	e.shards[i] = c
	return c
}

// put sets k's list to bit, adding k if it is new. It reports false when the set must be
// built again to hold k. On an edited set, k's filter bits wait in pending until
// setPending: the filter is shared with the published set, and a round that fails must not
// leave them there uncounted.
func (e *exactSet[K]) put(k K, h uint64, bit int, hash func(K) uint64) bool {
	s := e.ownShard(h>>e.sshift, hash, true)
	if s == nil {
		return false
	}
	if w, fb := &e.w[filterIndex(h, e.shift)], filterBits(h); w.Load()&fb != fb {
		if e.epoch > 0 {
			e.pending = append(e.pending, filterBit{w, fb})
		} else {
			w.Or(fb)
		}
	}
	if s.insert(k, h, uint8(bit+1)) {
		e.n++
	}
	return true
}

// remove removes k from an edited set. Its filter bits stay set (a false positive at worst)
// until the set is next built.
func (e *exactSet[K]) remove(k K, h uint64, hash func(K) uint64) {
	if e.n == 0 || !e.shards[h>>e.sshift].has(k, h) {
		return
	}
	s := e.ownShard(h>>e.sshift, hash, false)
	s.remove(k, h, hash)
	e.n--
	e.stale++
}

// insert sets k's list, reporting whether k is new. The shard must have room for one more.
func (s *shard[K]) insert(k K, h uint64, list uint8) bool {
	for i := h >> 18 & s.tmask; ; i = (i + 1) & s.tmask {
		if s.lists[i] == 0 {
			s.keys[i], s.lists[i] = k, list
			s.n++
			return true
		}
		if s.keys[i] == k {
			s.lists[i] = list
			return false
		}
	}
}

func (s *shard[K]) has(k K, h uint64) bool {
	for i := h >> 18 & s.tmask; s.lists[i] != 0; i = (i + 1) & s.tmask {
		if s.keys[i] == k {
			return true
		}
	}
	return false
}

// remove removes k, which the shard holds, shifting back the keys that probed past it so
// that no lookup stops short.
func (s *shard[K]) remove(k K, h uint64, hash func(K) uint64) {
	i := h >> 18 & s.tmask
	for s.lists[i] == 0 || s.keys[i] != k {
		i = (i + 1) & s.tmask
	}
	s.n--
	for j := (i + 1) & s.tmask; s.lists[j] != 0; j = (j + 1) & s.tmask {
		home := hash(s.keys[j]) >> 18 & s.tmask
		// Move j into the hole at i when its home slot is not in (i, j], cyclically.
		if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			s.keys[i], s.lists[i] = s.keys[j], s.lists[j]
			i = j
		}
	}
	var zero K
	s.keys[i], s.lists[i] = zero, 0
}
