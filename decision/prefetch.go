package decision

import (
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/server"
)

var _ server.Prefetcher = (*conn)(nil)

// prefetchBatch is what Prefetch found in each of a batch's NOTIFYs, in order: its address,
// and after PrefetchDone the lists matching it, so that HandleNotify only encodes the answer.
// A connection allocates it the first time its snapshot prefetches, so idle connections and
// agents whose lists fit in cache do not carry it.
type prefetchBatch struct {
	addrs [server.MaxPrefetch][]byte   // alias the NOTIFYs, or ips; nil: the NOTIFY holds no address
	ips   [server.MaxPrefetch][16]byte // the addresses parsed from STRING arguments
	m     [server.MaxPrefetch]matches  // addrs[i]'s lists, from PrefetchDone on
	n     int                          // NOTIFYs prefetched
	next  int                          // the NOTIFY HandleNotify answers next
}

// Prefetching implements server.Prefetcher: whether the batch's snapshot was built with tables
// larger than the cache.
func (c *conn) Prefetching() bool { return c.snap.Prefetches() }

// Prefetch implements server.Prefetcher: it finds the NOTIFY's address as HandleNotify does,
// and stops at the message that holds it.
func (c *conn) Prefetch(msgs *codec.MessageIterator) {
	if c.pf == nil {
		c.pf = new(prefetchBatch)
	}
	b := c.pf
	i := b.n
	b.n++
	if i >= len(b.addrs) { // more than the session hands over: HandleNotify decides it
		return
	}
	b.addrs[i] = nil
	for msgs.Next() {
		if c.wanted(msgs.Name()) {
			if addr := c.address(msgs.Args(), &b.ips[i]); addr != nil {
				b.addrs[i] = addr
				return
			}
		}
	}
}

// PrefetchDone implements server.Prefetcher: the batch's loads start together, then its
// lookups run back to back on the lines they brought in.
func (c *conn) PrefetchDone() {
	b := c.pf
	if b == nil {
		return
	}
	n := min(b.n, len(b.addrs))
	c.table.Prefetch(b.addrs[:n])
	c.snap.Prefetch(b.addrs[:n])
	for i, addr := range b.addrs[:n] {
		if addr != nil {
			b.m[i] = matches{c.snap.Lookup(addr).Matched, c.table.Lookup(addr)}
		}
	}
}

// prefetched returns the lists matching the next NOTIFY when Prefetch found its address, and
// moves on to the one after.
func (c *conn) prefetched() (matches, bool) {
	b := c.pf
	if b == nil || b.next >= b.n {
		return matches{}, false
	}
	i := b.next
	b.next++
	if i >= len(b.addrs) || b.addrs[i] == nil {
		return matches{}, false
	}
	return b.m[i], true
}

// endPrefetch forgets the batch's prefetch.
func (c *conn) endPrefetch() {
	if b := c.pf; b != nil && b.n > 0 {
		clear(b.addrs[:min(b.n, len(b.addrs))]) // do not pin the connection buffer
		b.n, b.next = 0, 0
	}
}
