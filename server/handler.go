package server

import "github.com/spoaguard/spoaguard/codec"

// Handler builds the actions of the ACKs. It is shared by all connections; NewConn gives each
// connection its own ConnHandler so that per-batch state (the snapshot in use, decision
// counters) needs no lock and no atomic per NOTIFY.
type Handler interface {
	// NewConn is called once per connection, when its HELLO has been accepted, on the
	// connection's event loop.
	NewConn() ConnHandler
}

// ConnHandler is one connection's part of a Handler. Its methods are only ever called from
// that connection's event loop, never concurrently, in this order per read event:
//
//	BeginBatch (before the first NOTIFY of the batch)
//	  HandleNotify, once per NOTIFY
//	EndBatch
//
// None of them may block, and on the hot path none should allocate.
type ConnHandler interface {
	// BeginBatch starts a batch of NOTIFYs: load what must be consistent for the batch
	// (the decision's blocklist snapshot: one atomic load per batch, not per NOTIFY).
	BeginBatch()
	// HandleNotify answers one NOTIFY: it walks the NOTIFY's messages with msgs (positioned
	// before the first) and appends the ACK's LIST-OF-ACTIONS to ack, returning the extended
	// slice. It must append at least one action, also for a NOTIFY with no messages: HAProxy
	// 3.1.x before 851e52b55 stalls on an empty ACK (docs/PROTOCOL.md#notify-ack).
	//
	// It may stop walking at the message that decides: the server walks the rest, and when
	// a message does not decode (msgs.Err after the walk) it ends the connection and drops
	// the ACK. The messages and their arguments alias the connection buffer and are only
	// valid during the call.
	HandleNotify(msgs *codec.MessageIterator, ack []byte) []byte
	// EndBatch ends the batch: publish its counters.
	EndBatch()
	// Close releases the ConnHandler when its connection ends.
	Close()
}

// Prefetcher is a ConnHandler that decides a batch's NOTIFYs before answering the first, so
// that it can overlap their memory loads: when Prefetching reports true (asked once per
// batch, after BeginBatch), the session hands it the whole NOTIFYs at the start of the read,
// up to MaxPrefetch of them, one Prefetch each, then calls PrefetchDone. The first
// HandleNotify calls of the batch are then for those NOTIFYs, one each, in the same order,
// except that a NOTIFY whose messages do not decode gets none: the session refuses it and
// ends the connection. A handler whose answers wait on cache misses (a lookup in a table
// larger than the cache) overlaps them so; one whose data fits in cache says false and pays
// one call per batch.
//
// Prefetch may stop walking at the message that decides: the session walks the rest, once.
// HandleNotify may then answer a prefetched NOTIFY from what its Prefetch recorded, without
// walking msgs again. msgs aliases the connection buffer, which stays valid until EndBatch;
// what Prefetch records is the handler's own until EndBatch too.
type Prefetcher interface {
	Prefetching() bool
	Prefetch(msgs *codec.MessageIterator)
	PrefetchDone()
}

// MaxPrefetch is the most NOTIFYs of one read handed to Prefetch: more than HAProxy pipelines
// on a connection (20), and about as many cache misses as a core keeps in flight.
const MaxPrefetch = 64
