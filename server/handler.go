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
//	  for each NOTIFY: HandleMessage for each of its messages, then FinishNotify
//	EndBatch
//
// None of them may block, and on the hot path none should allocate.
type ConnHandler interface {
	// BeginBatch starts a batch of NOTIFYs: load what must be consistent for the batch
	// (the decision's blocklist snapshot: one atomic load per batch, not per NOTIFY).
	BeginBatch()
	// HandleMessage is given each message of a NOTIFY in order; it may append actions to
	// ack and returns the extended slice. m and its arguments alias the connection buffer
	// and are only valid during the call.
	HandleMessage(m *codec.Message, ack []byte) []byte
	// FinishNotify is called after the last message of a NOTIFY (also for a NOTIFY with no
	// messages at all). Together with HandleMessage it must append at least one action:
	// HAProxy 3.1.x before 851e52b55 stalls on an empty ACK (docs/PROTOCOL.md#notify-ack).
	FinishNotify(ack []byte) []byte
	// EndBatch ends the batch: publish its counters.
	EndBatch()
	// Close releases the ConnHandler when its connection ends.
	Close()
}
