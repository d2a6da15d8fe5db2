// Package server is the SPOP agent: it accepts HAProxy's SPOE connections on gnet/v2 event
// loops (TCP over IPv4 and IPv6, and Unix sockets), runs the per-connection protocol state
// machine (awaiting HELLO → ready → closing) and answers every NOTIFY with an ACK whose
// actions a Handler builds.
//
// The hot path, per read event on a connection:
//
//  1. peek every inbound byte gnet holds for the connection (no copy in the common case);
//  2. decode each complete frame in place with codec.ReadFrameInto; a partial frame is left for
//     the next event;
//  3. append the ACK of every NOTIFY to one pooled output buffer, calling the connection's
//     ConnHandler (the decision package's, in the agent), which loads what it decides with
//     once per batch;
//  4. write that buffer once, discard the consumed bytes, and add the batch's counts to the
//     shared metrics once.
//
// Nothing on that path allocates, locks or hands work to another goroutine; session.handle,
// the protocol logic without the socket, is tested with testing.AllocsPerRun.
//
// Every protocol rule follows docs/PROTOCOL.md; the status codes of the AGENT-DISCONNECT frames
// the server sends are those of codec.Status.
package server
