package codec

import (
	"encoding/binary"
	"strconv"
)

// FrameType is the one-byte type of an SPOP frame (docs/PROTOCOL.md#frame-types).
type FrameType uint8

// Frame types. 0-3 are sent by HAProxy, 101-103 by the agent.
const (
	// FrameUnset carries the continuation of a fragmented NOTIFY (HAProxy ≤ 3.0 only).
	FrameUnset             FrameType = 0
	FrameHAProxyHello      FrameType = 1
	FrameHAProxyDisconnect FrameType = 2
	FrameNotify            FrameType = 3
	FrameAgentHello        FrameType = 101
	FrameAgentDisconnect   FrameType = 102
	FrameAck               FrameType = 103
)

var frameTypeNames = [...]string{
	FrameUnset:             "UNSET",
	FrameHAProxyHello:      "HAPROXY-HELLO",
	FrameHAProxyDisconnect: "HAPROXY-DISCONNECT",
	FrameNotify:            "NOTIFY",
	FrameAgentHello:        "AGENT-HELLO",
	FrameAgentDisconnect:   "AGENT-DISCONNECT",
	FrameAck:               "ACK",
}

// Known reports whether t is one of the seven frame types SPOP 2.0 defines.
func (t FrameType) Known() bool {
	return int(t) < len(frameTypeNames) && frameTypeNames[t] != ""
}

func (t FrameType) String() string {
	if t.Known() {
		return frameTypeNames[t]
	}
	return "FrameType(" + strconv.Itoa(int(t)) + ")"
}

// Flags is the 32-bit big-endian flags field of a frame. Bits 2-31 are reserved.
type Flags uint32

const (
	// FlagFin marks the last (or only) frame of a message. Every frame an agent sends must
	// carry it: HAProxy never reassembles agent frames and disconnects with status 10.
	FlagFin Flags = 1 << 0
	// FlagAbort, with FIN, abandons a fragmented frame.
	FlagAbort Flags = 1 << 1
)

func (f Flags) String() string {
	switch f {
	case 0:
		return "0"
	case FlagFin:
		return "FIN"
	case FlagAbort:
		return "ABORT"
	case FlagFin | FlagAbort:
		return "FIN|ABORT"
	}
	return "0x" + strconv.FormatUint(uint64(f), 16)
}

const (
	// LengthSize is the size of the big-endian length prefix that precedes every frame.
	LengthSize = 4
	// MinFrameLength is the smallest valid value of the length prefix: type, flags and two
	// one-byte ids.
	MinFrameLength = 1 + 4 + 1 + 1
	// MaxHeaderLength is the largest header a frame can have: type, flags and two 10-byte ids.
	// HAProxy 3.1+ checks max-frame-size against the payload alone (LENGTH minus the header,
	// docs/PROTOCOL.md#max-frame-size), so it may send a frame whose LENGTH exceeds the
	// negotiated size by up to this much; a reader should allow negotiated + MaxHeaderLength.
	MaxHeaderLength = 1 + 4 + 2*MaxVarintLen
	// MinMaxFrameSize is the smallest max-frame-size HAProxy accepts in a handshake.
	MinMaxFrameSize = 256
	// DefaultMaxFrameSize is what HAProxy announces with the default tune.bufsize (16384 - 4).
	DefaultMaxFrameSize = 16380
)

// Frame is one decoded SPOP frame. Payload aliases the buffer given to ReadFrameInto and is
// valid only until that buffer is modified or reused.
type Frame struct {
	Type     FrameType
	Flags    Flags
	StreamID uint64
	FrameID  uint64
	Payload  []byte
}

// Fin reports whether the FIN flag is set.
func (f *Frame) Fin() bool { return f.Flags&FlagFin != 0 }

// Abort reports whether the ABORT flag is set.
func (f *Frame) Abort() bool { return f.Flags&FlagAbort != 0 }

// ReadFrameInto decodes the first frame in src into *f. src may hold zero, one or many frames
// back to back and end with a partial one (SPOP frames are not aligned to reads: HAProxy packs
// up to 15 NOTIFYs into one TCP segment and splits others across segments).
//
// It returns n, the bytes the frame occupies including the length prefix, and changes *f only
// when n > 0. When src does not yet hold a whole frame, it returns n == 0 and a nil error: read
// more and call again. The length prefix is checked against maxFrameSize before anything else,
// so a hostile length is refused from its first 4 bytes instead of being buffered for.
// maxFrameSize bounds LENGTH, header included; see MaxHeaderLength for the slack HAProxy 3.1+
// needs.
//
// The frame's Payload aliases src. Nothing is copied or allocated. The Frame is the caller's,
// typically one per connection, because a Frame returned by value would be spilled to the
// stack a field at a time and copied on with 16-byte loads, which stall on store forwarding
// and cost more than decoding the header.
func ReadFrameInto(f *Frame, src []byte, maxFrameSize uint32) (n int, err error) {
	// Every failure returns through a separate function that says why (frameError): the
	// error plumbing stays out of this function.
	if len(src) < LengthSize {
		return 0, nil
	}
	length := binary.BigEndian.Uint32(src)
	if length > maxFrameSize || length < MinFrameLength {
		return 0, frameError(src, maxFrameSize)
	}
	if uint64(len(src)) < LengthSize+uint64(length) { // uint64: no overflow where int is 32 bits
		return 0, nil
	}
	end := LengthSize + int(length)
	body := src[LengthSize:end]
	t := FrameType(body[0])
	sid, ok := byteVarint(body, 5)
	i := 6
	if !ok {
		sid, i = uvarint(body, 5)
	}
	fid, ok := byteVarint(body, i)
	j := i + 1
	if !ok {
		fid, j = uvarint(body, i) // i == -1 fails here too
	}
	if j < 0 || !t.Known() {
		return 0, frameError(src, maxFrameSize)
	}
	f.Type, f.Flags = t, Flags(binary.BigEndian.Uint32(body[1:5]))
	f.StreamID, f.FrameID, f.Payload = sid, fid, body[j:]
	return end, nil
}

// frameError explains why ReadFrameInto refuses the frame at the start of src (the cold path).
func frameError(src []byte, maxFrameSize uint32) *Error {
	length := binary.BigEndian.Uint32(src)
	switch {
	case length > maxFrameSize:
		return errorf(StatusFrameTooBig, src[:LengthSize], "frame length %d exceeds max-frame-size %d", length, maxFrameSize)
	case length < MinFrameLength:
		return errorf(StatusInvalidFrame, src[:LengthSize], "frame length %d is shorter than a frame header (%d)", length, MinFrameLength)
	}
	body := src[LengthSize : LengthSize+int(length)]
	t := FrameType(body[0])
	if !t.Known() {
		return errorf(StatusInvalidFrame, body, "unknown frame type %d", body[0])
	}
	_, i := uvarint(body, 5)
	if i < 0 {
		return errorf(StatusInvalidFrame, body, "bad stream-id in %s frame: %s", t, varintError(body[5:]).Reason)
	}
	return errorf(StatusInvalidFrame, body, "bad frame-id in %s frame: %s", t, varintError(body[i:]).Reason)
}

// BeginFrame starts a frame at the end of dst: it reserves the length prefix and appends the
// type, flags and ids. The caller appends the payload, then calls FinishFrame with the returned
// start offset to back-fill the length, so a frame is built in one buffer with no copy.
func BeginFrame(dst []byte, t FrameType, flags Flags, streamID, frameID uint64) (out []byte, start int) {
	start = len(dst)
	// The length (back-filled by FinishFrame), the type and the big-endian flags in one append.
	dst = append(dst, 0, 0, 0, 0, byte(t), byte(flags>>24), byte(flags>>16), byte(flags>>8), byte(flags))
	dst = AppendVarint(dst, streamID)
	dst = AppendVarint(dst, frameID)
	return dst, start
}

// FinishFrame writes the length prefix of the frame that BeginFrame started at start.
func FinishFrame(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-LengthSize))
	return dst
}
