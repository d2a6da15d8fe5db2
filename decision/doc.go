// Package decision is the agent's policy: it turns the messages of a NOTIFY into the actions
// of its ACK. It finds the client address among the message's arguments (an IPV4/IPV6
// argument, or a STRING such as X-Forwarded-For), looks it up in the blocklist snapshot in
// force, and answers with pre-encoded verdicts: `blocked` on every ACK, and `list` naming the
// first matching deny list when blocked. It counts its decisions per verdict and per list,
// and the NOTIFYs it cannot decide (no configured message, no usable address) apart, with a
// rate-limited warning and a readiness check (undecided.go).
//
// Handler implements server.Handler, so the transport (package server) knows nothing of IP
// lists, and the lists (package blocklist) know nothing of SPOP. What decides a NOTIFY, and
// how the verdict is written back to HAProxy, lives here.
//
// The per-NOTIFY path allocates nothing: the snapshot is loaded once per batch of NOTIFYs,
// the actions of every verdict are encoded once per snapshot and copied into the ACK, and
// counters are plain integers published once per batch.
package decision
