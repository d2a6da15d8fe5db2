package blocklist

import (
	"math/bits"
	"unsafe"
)

// MaxLists is the number of lists a snapshot can hold: one bit each in Result.Matched.
const MaxLists = 64

// Result is the answer for one address.
type Result struct {
	Blocked bool   // a deny list matched and no allow list did
	Matched uint64 // bit i set = list i covers the address
	Deny    int    // index of the first matching deny list, -1 if none
}

// Snapshot is an immutable set of lists. All methods are safe for concurrent use, and on a nil
// *Snapshot (nothing is listed).
type Snapshot struct {
	names     [][]byte
	kinds     []Kind
	denyMask  uint64
	allowMask uint64

	v4 table4
	v6 table6
	e6 exact6 // single IPv6 addresses; single IPv4 ones are segments of v4

	masks []uint64 // distinct list bitmasks, indexed by the uint16s in the tables; masks[0] = 0
}

// Lookup looks up an address given as a 4- or 16-byte slice (network byte order, what the SPOP
// codec yields for IPV4/IPV6 values). An IPv4-mapped IPv6 address is looked up as IPv4. Any
// other length matches nothing. It does not allocate.
func (s *Snapshot) Lookup(addr []byte) Result {
	if s == nil {
		return Result{Deny: -1}
	}
	switch family, hi, lo := SplitAddr(addr); family {
	case 4:
		return s.lookup4(uint32(lo))
	case 16:
		return s.lookup6(uint128{hi, lo})
	}
	return Result{Deny: -1}
}

// Lookup4 is Lookup for an IPv4 address given as a number (its 4 bytes in network order), for
// a caller that has split the address already (SplitAddr). It does not allocate.
func (s *Snapshot) Lookup4(a uint32) Result {
	if s == nil {
		return Result{Deny: -1}
	}
	return s.lookup4(a)
}

func (s *Snapshot) lookup4(a uint32) Result { return s.result(s.masks[s.v4.lookup(a)]) }

// lookup6 probes the exact set only when the address's bucket holds exact entries: most
// buckets hold none, and the probe is a hash and a cache miss.
func (s *Snapshot) lookup6(a uint128) Result {
	id, exact := s.v6.lookup(a)
	m := s.masks[id]
	if exact {
		m |= s.masks[s.e6.lookup(a)]
	}
	return s.result(m)
}

func (s *Snapshot) result(m uint64) Result {
	r := Result{Matched: m, Deny: -1}
	if d := m & s.denyMask; d != 0 {
		r.Deny = bits.TrailingZeros64(d)
		r.Blocked = m&s.allowMask == 0
	}
	return r
}

// ListName returns the name of list i (nil when out of range). The slice is shared: do not
// modify it.
func (s *Snapshot) ListName(i int) []byte {
	if s == nil || i < 0 || i >= len(s.names) {
		return nil
	}
	return s.names[i]
}

// ListKind returns the kind of list i.
func (s *Snapshot) ListKind(i int) Kind {
	if s == nil || i < 0 || i >= len(s.kinds) {
		return Deny
	}
	return s.kinds[i]
}

// NumLists returns the number of lists in the snapshot.
func (s *Snapshot) NumLists() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Stats describes the size of a snapshot.
type Stats struct {
	Ranges4, Ranges6 int  // segments in the range tables (covered or not)
	Exact6           int  // single IPv6 addresses in the exact set
	Bloom6           bool // whether a bloom filter fronts the exact set
	Bytes            int  // memory held by the lookup structures
}

// Stats returns the snapshot's sizes.
func (s *Snapshot) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	st := Stats{
		Ranges4: s.v4.n, Ranges6: s.v6.n,
		Exact6: s.e6.n, Bloom6: s.e6.bloom != nil,
	}
	st.Bytes = s.v4.bytes() +
		int(unsafe.Sizeof(*s.v6.index)) + cap(s.v6.segs)*8 + cap(s.v6.los)*8 + cap(s.v6.sub)*8 +
		cap(s.masks)*8 + s.e6.bytes()
	return st
}
