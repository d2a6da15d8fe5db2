package decision

import (
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/server"
)

var _ server.Prefetcher = (*conn)(nil)

// prefetchBatch is the addresses of a batch's NOTIFYs, gathered for Snapshot.Prefetch. A
// connection allocates it the first time its snapshot prefetches, so idle connections and
// agents whose lists fit in cache do not carry it.
type prefetchBatch struct {
	addrs [blocklist.MaxPrefetch][]byte   // alias the NOTIFYs, or ips
	ips   [blocklist.MaxPrefetch][16]byte // the addresses parsed from STRING arguments
	n     int
}

// Prefetching implements server.Prefetcher: whether the batch's snapshot was built with tables
// larger than the cache.
func (c *conn) Prefetching() bool { return c.snap.Prefetches() }

// Prefetch implements server.Prefetcher: it finds the NOTIFY's address as HandleNotify will.
func (c *conn) Prefetch(msgs *codec.MessageIterator) {
	if c.pf == nil {
		c.pf = new(prefetchBatch)
	}
	b := c.pf
	if b.n == len(b.addrs) {
		return
	}
	for msgs.Next() {
		if c.wanted(msgs.Name()) {
			if addr := c.address(msgs.Args(), &b.ips[b.n]); addr != nil {
				b.addrs[b.n] = addr
				b.n++
				return
			}
		}
	}
}

// PrefetchDone implements server.Prefetcher: the batch's lookups start together.
func (c *conn) PrefetchDone() {
	b := c.pf
	if b == nil {
		return
	}
	c.snap.Prefetch(b.addrs[:b.n])
	clear(b.addrs[:b.n]) // do not pin the connection buffer
	b.n = 0
}
