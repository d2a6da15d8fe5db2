package blocklist

import (
	"unsafe"

	"github.com/spoaguard/spoaguard/internal/prefetch"
)

// A lookup makes two dependent loads, the address's index entry and then its bucket's
// segments; in a table larger than the cache each is a miss, and lookups one after another pay
// them one after another. Prefetch takes the addresses an agent is about to look up and asks
// for every index entry's line first, then reads the entries and asks for every bucket's
// lines: the loads of different addresses do not depend on each other, so their misses
// overlap, and the lookups that follow find their lines in cache or on their way. The asking
// is a prefetch instruction (prefetch.Lines), which retires at once: plain loads each held a
// place in the reorder buffer until their line came, so that a batch's misses filled it and
// queued behind one another. BenchmarkPrefetch on 2M entries, after a Prefetch, hits and
// misses: 66.7 and 68.4 ns against 84.3 and 93.5 ns with loads (medians of 5 interleaved
// runs).
//
// In tables that fit in the cache the loads are hits and the extra pass only costs (the real
// feeds' IPv4 tables are 1.3 MB, and most of their /16 buckets are answered from the index
// entry alone), so a snapshot decides when it is built, from its tables' sizes, whether
// Prefetch does anything.

// PrefetchMinBytes is the size of the IPv4 tables (index and segments) from which Prefetch
// loads them. Measured (BenchmarkPrefetch, cpu-ns per address in batches of 20): the real
// feeds' 1.3 MB of tables are 7% slower with the pass, 250k synthetic entries (2.4 MB) 1.45×
// faster, 2M (11.3 MB) 2.2× faster. IPv6 is never prefetched: on 2M synthetic entries the pass
// gained 8% on hits and lost on misses, as most IPv6 buckets take a third dependent load (a
// second-level block) that the two rounds do not reach.
const PrefetchMinBytes = 2 << 20

// MaxPrefetch is the most addresses one Prefetch call loads for; more are ignored. It is more
// than a batch of HAProxy's pipelined NOTIFYs (20 per connection), and about as many misses as
// a core keeps in flight.
const MaxPrefetch = 64

// Prefetches reports whether Prefetch does anything for this snapshot: whether its IPv4 tables
// are at least PrefetchMinBytes.
func (s *Snapshot) Prefetches() bool { return s != nil && s.v4.prefetch }

// Prefetch brings in what looking up each of addrs (as Lookup takes them) will read, all
// addresses together, and returns nothing: it is only worth its cost right before the
// lookups, on a snapshot that Prefetches. IPv6 addresses, and those beyond MaxPrefetch, are
// skipped. It does not allocate.
func (s *Snapshot) Prefetch(addrs [][]byte) {
	if !s.Prefetches() {
		return
	}
	var as [MaxPrefetch]uint32
	n := 0
	for _, a := range addrs[:min(len(addrs), MaxPrefetch)] {
		if family, _, lo := SplitAddr(a); family == 4 {
			as[n] = uint32(lo)
			n++
		}
	}
	s.Prefetch4(as[:n])
}

// Prefetch4 is Prefetch for IPv4 addresses given as numbers, as Lookup4 takes them: for a
// caller that has split its addresses already. It does not allocate.
func (s *Snapshot) Prefetch4(as []uint32) {
	var p Pending4
	s.AskIndex4(&p, as)
	p.AskBuckets()
}

// Pending4 is Prefetch4 split in two, for a caller with work of its own to do while the index
// entries' lines come from memory: Snapshot.AskIndex4 asks for them and returns at once, and
// AskBuckets then reads them and asks for the buckets' lines. The decision handler runs the
// live set's lookups in between, hidden behind those misses. Its zero value asks for nothing.
type Pending4 struct {
	t       *table4 // nil: nothing asked for
	buckets [MaxPrefetch]uint32
	lines   [2 * MaxPrefetch]unsafe.Pointer
	n       int
}

// AskIndex4 asks for the index entries' lines of the IPv4 addresses as (those beyond
// MaxPrefetch are skipped), the first half of Prefetch4, and records in p what p.AskBuckets
// needs. It does nothing on a snapshot that does not Prefetch. It does not allocate.
func (s *Snapshot) AskIndex4(p *Pending4, as []uint32) {
	p.t, p.n = nil, 0
	if !s.Prefetches() {
		return
	}
	t := &s.v4
	as = as[:min(len(as), MaxPrefetch)]
	// Index entries' lines, asked for together: they do not depend on one another.
	for i, a := range as {
		h := a >> t.shift
		p.buckets[i] = h
		p.lines[i] = unsafe.Pointer(&t.index[h])
	}
	p.t, p.n = t, len(as)
	prefetch.Lines(p.lines[:len(as)])
}

// AskBuckets reads the index entries that AskIndex4 asked for and asks for their buckets'
// lines, the second half of Prefetch4. Then p asks for nothing and no longer holds the
// snapshot. It does not allocate.
func (p *Pending4) AskBuckets() {
	t := p.t
	if t == nil {
		return
	}
	// Bucket lines: each depends on its own index entry only, read here as its line comes.
	m := 0
	for _, h := range p.buckets[:p.n] {
		m = t.bucketLines(p.lines[:], m, t.index[h])
	}
	prefetch.Lines(p.lines[:m])
	clear(p.lines[:max(m, p.n)]) // do not pin the snapshot
	p.t, p.n = nil, 0
}

// bucketLines appends to lines, from lines[m] on, the cache lines of the bucket whose index
// entry is e that lastAtMost's fence scan reads (none when the entry answers alone), as far as
// lines has room, and returns the new count.
func (t *table4) bucketLines(lines []unsafe.Pointer, m int, e uint64) int {
	const line = 16 // uint32s in a 64-byte line
	n := min(int(e>>idxCountShift), 16*line)
	if n == 0 {
		return m
	}
	b := t.segs[int(e&idxOffMask):][:n]
	for j := 0; j < len(b) && m < len(lines); j += line {
		lines[m] = unsafe.Pointer(&b[j])
		m++
	}
	if m < len(lines) {
		// The bucket's end, often on the line already asked for: asking again costs less
		// than a test of it (BenchmarkPrefetch: 66-68 ns against 74-77 ns with the test).
		lines[m] = unsafe.Pointer(&b[len(b)-1])
		m++
	}
	return m
}
