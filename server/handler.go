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

// Prefetcher is a ConnHandler that can start the memory loads of a batch's answers before
// giving the first: when Prefetching reports true (asked once per batch, after BeginBatch),
// the session hands it the whole NOTIFYs at the start of the read, up to maxPrefetch of them,
// one Prefetch each, then calls PrefetchDone, and only then answers them with HandleNotify as
// usual. A handler whose answers wait on cache misses (a lookup in a table larger than the
// cache) overlaps them so; one whose data fits in cache says false and pays one call per
// batch. Prefetch must answer nothing and change nothing that HandleNotify depends on; msgs
// is positioned before the first message and aliases the connection buffer, which stays valid
// until EndBatch.
type Prefetcher interface {
	Prefetching() bool
	Prefetch(msgs *codec.MessageIterator)
	PrefetchDone()
}

// maxPrefetch is the most NOTIFYs of one read handed to Prefetch: more than HAProxy pipelines
// on a connection (20), and about as many cache misses as a core keeps in flight.
const maxPrefetch = 64
