// Package codec reads and writes SPOP 2.0 frames, the binary protocol HAProxy's Stream
// Processing Offload Engine speaks to its agents. The rules it follows, and their sources in
// HAProxy's doc/SPOE.txt and the captures in testdata/spop/, are in docs/PROTOCOL.md.
//
// Decoding happens in place: a Frame, a Value, a message or argument name are views into the
// caller's buffer and are valid only until that buffer is modified or reused. Nothing on the
// decoding path allocates. Encoders are append-style (func AppendX(dst []byte, ...) []byte):
// they write into the caller's buffer, so a reused buffer makes encoding allocation-free too.
//
// Every error that ends a connection is a *Error carrying the SPOP status code HAProxy would
// use for it, so the server can answer with the matching AGENT-DISCONNECT.
package codec
