// Package bench is spoaguard's SPOP load generator: it plays HAProxy against an agent and
// measures it.
//
// Run opens N connections, does the HELLO handshake on each, then keeps exactly D NOTIFYs in
// flight per connection (HAProxy pipelines up to 20), refilling as ACKs arrive: all the
// replacement NOTIFYs of one read go out in one write, as HAProxy packs frames into segments.
// Every ACK is matched to its NOTIFY by its stream-id and frame-id and its decision
// (txn.<blocked>, txn.<list>) is checked against what is expected for the address that
// NOTIFY carried. Wrong, unexpected and missing ACKs are counted, and any of them fails the
// run: a benchmark of an agent that answers wrongly measures nothing.
//
// The load generator must never be the bottleneck, so its hot loop (one goroutine per
// connection: one big read, ACKs parsed in place with codec.ReadFrameInto, one write) allocates
// nothing: NOTIFY payloads are encoded once up front, frames are appended into a reused
// buffer, and latencies go into a fixed-size histogram.
//
// Everything is bounded: dial and handshake timeouts, a warm-up, a duration and an ACK count
// limit, and an ACK timeout after which a NOTIFY is declared missing.
package bench
