// Package decision is the agent's policy: it turns the messages of a NOTIFY into the actions
// of its ACK. It finds the client address among the message's arguments (an IPV4/IPV6
// argument, or a STRING such as X-Forwarded-For), looks it up in the blocklist snapshot and
// the live set in force, and answers: `blocked` on every ACK; when blocked, `list` naming the
// first matching deny list and `lists` all of them; `observed` naming the matching lists in
// observe mode. It counts its decisions per verdict and per list, and the NOTIFYs it cannot
// decide (no configured message, no usable address) apart, with a rate-limited warning and a
// readiness check (undecided.go).
//
// The precedence (verdict.go): an allow entry, file or live, wins over everything; otherwise
// every matching deny list blocks, numbered file lists first (in their order), then live
// lists (by name), the lowest naming the block; observe lists never block. Explain gives the
// same decision with every list and live entry behind it, for the admin API and the offline
// check.
//
// Handler implements server.Handler, so the transport (package server) knows nothing of IP
// lists, and the lists (package blocklist) know nothing of SPOP. What decides a NOTIFY, and
// how the verdict is written back to HAProxy, lives here.
//
// The per-NOTIFY path allocates nothing: the snapshot and the live table are loaded once per
// batch of NOTIFYs, the actions of every single-list verdict are encoded once per snapshot and
// table and copied into the ACK, the lists and observed values of a multi-list verdict are
// joined into a reused buffer, and counters are plain integers published once per batch.
package decision
