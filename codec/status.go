package codec

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// Status is an SPOP status code, carried in the status-code KV of HAPROXY-DISCONNECT and
// AGENT-DISCONNECT frames (docs/PROTOCOL.md#status-codes).
type Status uint32

// The status codes HAProxy defines. Agents may use others, outside this range.
const (
	StatusNormal                   Status = 0
	StatusIO                       Status = 1
	StatusTimeout                  Status = 2
	StatusFrameTooBig              Status = 3
	StatusInvalidFrame             Status = 4
	StatusNoVersion                Status = 5
	StatusNoMaxFrameSize           Status = 6
	StatusNoCapabilities           Status = 7
	StatusUnsupportedVersion       Status = 8
	StatusBadMaxFrameSize          Status = 9
	StatusFragmentationUnsupported Status = 10
	StatusInterlacedFrames         Status = 11
	StatusFrameIDNotFound          Status = 12
	StatusResourceAllocation       Status = 13
	StatusUnknown                  Status = 99
)

// statusMessages are HAProxy's own strings for each code (src/flt_spoe.c, spoe_frm_err_reasons).
var statusMessages = [...]string{
	StatusNormal:                   "normal",
	StatusIO:                       "I/O error",
	StatusTimeout:                  "a timeout occurred",
	StatusFrameTooBig:              "frame is too big",
	StatusInvalidFrame:             "invalid frame received",
	StatusNoVersion:                "version value not found",
	StatusNoMaxFrameSize:           "max-frame-size value not found",
	StatusNoCapabilities:           "capabilities value not found",
	StatusUnsupportedVersion:       "unsupported version",
	StatusBadMaxFrameSize:          "max-frame-size too big or too small",
	StatusFragmentationUnsupported: "fragmentation not supported",
	StatusInterlacedFrames:         "invalid interlaced frames",
	StatusFrameIDNotFound:          "frame-id not found",
	StatusResourceAllocation:       "resource allocation error",
}

// String returns HAProxy's message for s, which is also what AGENT-DISCONNECT carries.
func (s Status) String() string {
	if int(s) < len(statusMessages) {
		return statusMessages[s]
	}
	if s == StatusUnknown {
		return "an unknown error occurred"
	}
	return "status " + strconv.FormatUint(uint64(s), 10)
}

// maxErrorBytes bounds how much of the offending input an Error keeps for its message.
const maxErrorBytes = 32

// Error is a decoding error. Status is the SPOP status the peer should be disconnected with;
// Bytes holds (a copy of) the start of the offending input, shown in hex by Error().
type Error struct {
	Status Status
	Reason string
	Bytes  []byte
}

func (e *Error) Error() string {
	if len(e.Bytes) == 0 {
		return fmt.Sprintf("spop: %s (status %d, %s)", e.Reason, e.Status, e.Status)
	}
	return fmt.Sprintf("spop: %s (status %d, %s) at % x", e.Reason, e.Status, e.Status, e.Bytes)
}

// errorf builds an *Error. It copies at most maxErrorBytes of at so the error does not pin
// (or later show mutated contents of) the connection's buffer. Errors are the cold path:
// allocating here is fine.
func errorf(status Status, at []byte, format string, args ...any) *Error {
	if len(at) > maxErrorBytes {
		at = at[:maxErrorBytes]
	}
	return &Error{Status: status, Reason: fmt.Sprintf(format, args...), Bytes: append([]byte(nil), at...)}
}

// Hex returns the lowercase hex of b, for logs.
func Hex(b []byte) string { return hex.EncodeToString(b) }
