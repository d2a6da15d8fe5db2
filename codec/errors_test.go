package codec_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// h decodes hex written with spaces, for readable byte literals.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func readFrameErr(src string, max uint32) func() error {
	return func() error { _, _, err := readFrame(h(src), max); return err }
}

func readVarintErr(src string) func() error {
	return func() error { _, _, err := codec.ReadVarint(h(src)); return err }
}

func readValueErr(src string) func() error {
	return func() error { _, _, err := codec.ReadValue(h(src)); return err }
}

// iterErr returns the error the iterator that open makes over payload stops with.
func iterErr[T any, P interface {
	*T
	Next() bool
	Err() error
}](open func([]byte) T, payload string) func() error {
	return func() error {
		it := open(h(payload))
		for P(&it).Next() {
		}
		return P(&it).Err()
	}
}

func messagesErr(payload string) func() error { return iterErr(codec.NewMessageIterator, payload) }
func actionsErr(payload string) func() error  { return iterErr(codec.NewActionIterator, payload) }
func kvErr(payload string) func() error       { return iterErr(codec.NewKVIterator, payload) }

func helloErr(payload string) func() error {
	return func() error { _, err := codec.ParseHello(h(payload)); return err }
}

// TestEveryDecodingErrorCarriesItsStatusAndTheBytesInHex: each malformed input is refused
// with the status HAProxy would disconnect with, and the error shows the offending bytes so
// a bad frame in a log can be read.
func TestEveryDecodingErrorCarriesItsStatusAndTheBytesInHex(t *testing.T) {
	tests := []struct {
		name    string
		decode  func() error
		status  codec.Status
		showHex string // must appear in Error()
		reason  string // must appear in Error()
	}{
		// Varints.
		{"varint with no bytes", readVarintErr(""), codec.StatusInvalidFrame, "", "truncated varint"},
		{"varint cut after its first byte", readVarintErr("f0"), codec.StatusInvalidFrame, "f0", "truncated varint"},
		{"varint cut inside its continuation bytes", readVarintErr("fc f0"), codec.StatusInvalidFrame, "fc f0", "truncated varint"},
		{"varint longer than 10 bytes", readVarintErr("ff f0 fe fe fe fe fe fe fe fe 0e"), codec.StatusInvalidFrame, "ff f0 fe fe", "longer than 10 bytes"},

		// Frames.
		{"length above max-frame-size", readFrameErr("00 00 40 00 03", codec.DefaultMaxFrameSize), codec.StatusFrameTooBig, "00 00 40 00", "exceeds max-frame-size 16380"},
		{"length above max-frame-size refused before the frame is whole", readFrameErr("ff ff ff ff", codec.DefaultMaxFrameSize), codec.StatusFrameTooBig, "ff ff ff ff", "exceeds"},
		{"length above a small negotiated max-frame-size", readFrameErr("00 00 01 01", 256), codec.StatusFrameTooBig, "00 00 01 01", "exceeds max-frame-size 256"},
		{"length 0", readFrameErr("00 00 00 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "00 00 00 00", "shorter than a frame header"},
		{"length 6, one byte short of a header", readFrameErr("00 00 00 06 03 00 00 00 01 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "00 00 00 06", "shorter than a frame header"},
		{"unknown frame type 4", readFrameErr("00 00 00 07 04 00 00 00 01 00 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "04 00 00 00 01 00 00", "unknown frame type 4"},
		{"unknown frame type 100", readFrameErr("00 00 00 07 64 00 00 00 01 00 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "64 00 00 00 01", "unknown frame type 100"},
		{"unknown frame type 104", readFrameErr("00 00 00 07 68 00 00 00 01 00 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "68 00 00 00 01", "unknown frame type 104"},
		{"stream-id running past the frame", readFrameErr("00 00 00 07 03 00 00 00 01 f0 80", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "03 00 00 00 01 f0 80", "bad stream-id"},
		{"frame-id missing", readFrameErr("00 00 00 07 03 00 00 00 01 f0 00", codec.DefaultMaxFrameSize), codec.StatusInvalidFrame, "03 00 00 00 01 f0 00", "bad frame-id"},

		// Typed data.
		{"no type byte", readValueErr(""), codec.StatusInvalidFrame, "", "no type byte"},
		{"reserved type 10", readValueErr("0a 00"), codec.StatusInvalidFrame, "0a 00", "reserved data type 10"},
		{"reserved type 15 with flags", readValueErr("1f"), codec.StatusInvalidFrame, "1f", "reserved data type 15"},
		{"truncated IPV4", readValueErr("06 7f 00 00"), codec.StatusInvalidFrame, "06 7f 00 00", "truncated IPV4"},
		{"truncated IPV6", readValueErr("07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"), codec.StatusInvalidFrame, "07 00 00", "truncated IPV6"},
		{"STRING longer than the bytes left", readValueErr("08 05 61 62 63"), codec.StatusInvalidFrame, "08 05 61 62 63", "length 5 exceeds the 3 bytes left"},
		{"BINARY with a truncated length", readValueErr("09 f0"), codec.StatusInvalidFrame, "09 f0", "BINARY value: truncated varint"},
		{"INT64 with a truncated varint", readValueErr("04 ff f0"), codec.StatusInvalidFrame, "04 ff f0", "INT64 value: truncated varint"},
		{"UINT32 with an 11-byte varint", readValueErr("03 ff f0 fe fe fe fe fe fe fe fe 0e"), codec.StatusInvalidFrame, "03 ff f0 fe", "longer than 10 bytes"},

		// NOTIFY messages.
		{"message name longer than the rest", messagesErr("0f 63 68 65 63 6b"), codec.StatusInvalidFrame, "0f 63 68 65 63 6b", "name: length 15 exceeds the 5 bytes left"},
		{"message without its NB-ARGS byte", messagesErr("02 69 70"), codec.StatusInvalidFrame, "02 69 70", "has no NB-ARGS byte"},
		{"NB-ARGS larger than the arguments present", messagesErr("02 69 70 02 02 69 70 06 7f 00 00 01"), codec.StatusInvalidFrame, "02 69 70 02 02 69 70 06 7f 00 00 01", "announces 2 arguments, holds 1"},
		{"argument name longer than the rest", messagesErr("02 69 70 01 09 69 70"), codec.StatusInvalidFrame, "09 69 70", "name: length 9 exceeds"},
		{"argument with a truncated value", messagesErr("02 69 70 01 02 69 70 06 7f 00"), codec.StatusInvalidFrame, "06 7f 00", "truncated IPV4"},
		{"argument of a reserved type", messagesErr("02 69 70 01 02 69 70 0c"), codec.StatusInvalidFrame, "0c", "reserved data type 12"},

		// ACK actions.
		{"action header cut short", actionsErr("01 03"), codec.StatusInvalidFrame, "01 03", "truncated action header"},
		{"unknown action type", actionsErr("03 03 02 01 61 00"), codec.StatusInvalidFrame, "03 03 02 01 61 00", "unknown action type 3 with 3 arguments"},
		{"set-var with 2 arguments", actionsErr("01 02 02 01 61 00"), codec.StatusInvalidFrame, "01 02 02", "unknown action type 1 with 2 arguments"},
		{"unset-var with 3 arguments", actionsErr("02 03 02 01 61"), codec.StatusInvalidFrame, "02 03 02", "unknown action type 2 with 3 arguments"},
		{"scope above res", actionsErr("01 03 05 01 61 00"), codec.StatusInvalidFrame, "01 03 05", "invalid variable scope 5"},
		{"variable name longer than the rest", actionsErr("01 03 02 07 62 6c"), codec.StatusInvalidFrame, "07 62 6c", "name: length 7 exceeds"},
		{"set-var without its value", actionsErr("01 03 02 01 61"), codec.StatusInvalidFrame, "", "no type byte"},

		// KV lists and HELLO.
		{"KV key longer than the rest", kvErr("07 76 65 72"), codec.StatusInvalidFrame, "07 76 65 72", "name: length 7 exceeds"},
		{"KV key without a value", kvErr("03 6b 65 79"), codec.StatusInvalidFrame, "", "no type byte"},
		{"KV value of a reserved type", kvErr("03 6b 65 79 0b"), codec.StatusInvalidFrame, "0b", "reserved data type 11"},
		{"HELLO supported-versions not a STRING", helloErr("12 " + hex.EncodeToString([]byte("supported-versions")) + " 03 02"), codec.StatusInvalidFrame, hex.EncodeToString([]byte("su")), "supported-versions is UINT32, want STRING"},
		{"HELLO max-frame-size not an integer", helloErr("0e " + hex.EncodeToString([]byte("max-frame-size")) + " 08 00"), codec.StatusInvalidFrame, "6d 61 78", "max-frame-size is STRING, want an integer"},
		{"HELLO capabilities not a STRING", helloErr("0c " + hex.EncodeToString([]byte("capabilities")) + " 00"), codec.StatusInvalidFrame, "63 61 70", "capabilities is NULL, want STRING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode()
			var e *codec.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want a *codec.Error", err, err)
			}
			if e.Status != tt.status {
				t.Errorf("status %d (%s), want %d (%s)", e.Status, e.Status, tt.status, tt.status)
			}
			msg := e.Error()
			if want := spaced(tt.showHex); !strings.Contains(msg, want) {
				t.Errorf("Error() = %q, want it to show the bytes %q", msg, want)
			}
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("Error() = %q, want it to say %q", msg, tt.reason)
			}
			if !strings.Contains(msg, tt.status.String()) {
				t.Errorf("Error() = %q, want it to name the status %q", msg, tt.status)
			}
		})
	}
}

// spaced writes hex as Error() does: "7f 00 00 01".
func spaced(s string) string {
	s = strings.ReplaceAll(s, " ", "")
	var b strings.Builder
	for i := 0; i+1 < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

func TestErrorKeepsACopyOfAtMost32OffendingBytes(t *testing.T) {
	src := h("ff f0 fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe fe")
	_, _, err := codec.ReadVarint(src)
	e := err.(*codec.Error)
	if len(e.Bytes) != 32 {
		t.Errorf("error keeps %d bytes, want 32", len(e.Bytes))
	}
	src[0] = 0x00
	if e.Bytes[0] != 0xff {
		t.Errorf("error aliases the input buffer: it changed with it")
	}
}

func TestIncompleteInputIsNeedMoreNotAnError(t *testing.T) {
	notify := h("00 00 00 20 03 00 00 00 01 00 01 0f 63 68 65 63 6b 2d 63 6c 69 65 6e 74 2d 69 70 01 02 69 70 06 7f 00 00 01")
	for i := range len(notify) {
		f, n, err := readFrame(notify[:i], codec.DefaultMaxFrameSize)
		if err != nil || n != 0 || f.Payload != nil {
			t.Fatalf("%d of %d bytes: frame %+v, n %d, err %v; want n 0 and no error", i, len(notify), f, n, err)
		}
	}
}

func TestStatusStringsAreHAProxyMessages(t *testing.T) {
	tests := []struct {
		status codec.Status
		want   string
	}{
		{codec.StatusNormal, "normal"},
		{codec.StatusIO, "I/O error"},
		{codec.StatusTimeout, "a timeout occurred"},
		{codec.StatusFrameTooBig, "frame is too big"},
		{codec.StatusInvalidFrame, "invalid frame received"},
		{codec.StatusNoVersion, "version value not found"},
		{codec.StatusNoMaxFrameSize, "max-frame-size value not found"},
		{codec.StatusNoCapabilities, "capabilities value not found"},
		{codec.StatusUnsupportedVersion, "unsupported version"},
		{codec.StatusBadMaxFrameSize, "max-frame-size too big or too small"},
		{codec.StatusFragmentationUnsupported, "fragmentation not supported"},
		{codec.StatusInterlacedFrames, "invalid interlaced frames"},
		{codec.StatusFrameIDNotFound, "frame-id not found"},
		{codec.StatusResourceAllocation, "resource allocation error"},
		{codec.StatusUnknown, "an unknown error occurred"},
		{codec.Status(14), "status 14"},
		{codec.Status(1000), "status 1000"},
	}
	for _, tt := range tests {
		if got := tt.status.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q, want %q", tt.status, got, tt.want)
		}
	}
}
