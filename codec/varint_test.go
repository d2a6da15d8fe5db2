package codec_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"testing/quick"

	"github.com/spoaguard/spoaguard/codec"
)

type varintCase struct {
	Value      json.Number `json:"value"`
	AsUint64   uint64      `json:"as_uint64"`
	Hex        string      `json:"hex"`
	Bytes      int         `json:"bytes"`
	SeenOnWire string      `json:"seen_on_wire"`
}

func loadVarintCases(t testing.TB) []varintCase {
	t.Helper()
	var doc struct {
		Cases []varintCase `json:"cases"`
	}
	readSPOPJSON(t, "varint.json", &doc)
	if len(doc.Cases) == 0 {
		t.Fatal("varint.json has no cases")
	}
	return doc.Cases
}

// TestVarintMatchesHAProxyBothWays: every value of varint.json encodes to its bytes and its
// bytes decode back to it, with nothing left over; negative values are their 64-bit two's
// complement.
func TestVarintMatchesHAProxyBothWays(t *testing.T) {
	for _, c := range loadVarintCases(t) {
		t.Run(c.Value.String(), func(t *testing.T) {
			want, err := hex.DecodeString(c.Hex)
			if err != nil {
				t.Fatal(err)
			}
			if i, err := c.Value.Int64(); err == nil && uint64(i) != c.AsUint64 {
				t.Fatalf("varint.json: value %d is not as_uint64 %d", i, c.AsUint64)
			}
			if got := codec.AppendVarint([]byte{0xAA}, c.AsUint64); !bytes.Equal(got[1:], want) || got[0] != 0xAA {
				t.Errorf("AppendVarint(%d) = % x, want % x", c.AsUint64, got[1:], want)
			}
			if n := codec.VarintLen(c.AsUint64); n != c.Bytes || n != len(want) {
				t.Errorf("VarintLen(%d) = %d, want %d", c.AsUint64, n, c.Bytes)
			}
			tail, v, err := codec.ReadVarint(append(want, 0x42))
			if err != nil || v != c.AsUint64 || !bytes.Equal(tail, []byte{0x42}) {
				t.Errorf("ReadVarint(% x) = %d, tail % x, err %v; want %d, tail 42", want, v, tail, err, c.AsUint64)
			}
		})
	}
}

func TestVarintSizeBoundaries(t *testing.T) {
	// From docs/PROTOCOL.md#varint: 1 byte for 0-239, 2 for 240-2287, 3 for 2288-264431,
	// 4 up to 33818863.
	tests := []struct {
		v    uint64
		size int
	}{
		{0, 1}, {239, 1}, {240, 2}, {2287, 2}, {2288, 3}, {264431, 3}, {264432, 4},
		{33818863, 4}, {33818864, 5}, {4328786159, 5}, {4328786160, 6}, {math.MaxUint64, 10},
	}
	for _, tt := range tests {
		if got := len(codec.AppendVarint(nil, tt.v)); got != tt.size {
			t.Errorf("%d takes %d bytes, want %d", tt.v, got, tt.size)
		}
	}
}

func TestVarintRoundTripsEveryUint64(t *testing.T) {
	roundTrip := func(v uint64) bool {
		enc := codec.AppendVarint(nil, v)
		tail, got, err := codec.ReadVarint(enc)
		return err == nil && got == v && len(tail) == 0 && len(enc) == codec.VarintLen(v) && len(enc) <= codec.MaxVarintLen
	}
	if err := quick.Check(roundTrip, &quick.Config{MaxCount: 20000}); err != nil {
		t.Error(err)
	}
	// quick draws uniformly, so nearly every value takes 10 bytes: walk each size too.
	rng := rand.New(rand.NewPCG(1, 2))
	for bits := range 65 {
		for range 200 {
			v := rng.Uint64() >> (64 - bits) // up to bits significant bits
			if bits == 0 {
				v = 0
			}
			if !roundTrip(v) {
				t.Fatalf("%d (% x) does not round-trip", v, codec.AppendVarint(nil, v))
			}
		}
	}
}

// TestVarintDecodesEveryShortFormBackToItsBytes: HAProxy's encoding has one form per value, so
// re-encoding any valid varint that fits 64 bits gives the same bytes back.
func TestVarintDecodesEveryShortFormBackToItsBytes(t *testing.T) {
	for v := range uint64(300000) { // every 1-, 2- and 3-byte form, into the 4-byte ones
		enc := codec.AppendVarint(nil, v)
		_, got, err := codec.ReadVarint(enc)
		if err != nil || got != v {
			t.Fatalf("% x decodes to %d, %v; want %d", enc, got, err, v)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		n := 2 + rng.IntN(3) // 2 to 4 bytes: no overflow possible
		b := make([]byte, n)
		b[0] = 0xF0 | byte(rng.IntN(16))
		for i := 1; i < n-1; i++ {
			b[i] = 0x80 | byte(rng.IntN(128))
		}
		b[n-1] = byte(rng.IntN(128))
		_, v, err := codec.ReadVarint(b)
		if err != nil {
			t.Fatalf("% x: %v", b, err)
		}
		if re := codec.AppendVarint(nil, v); !bytes.Equal(re, b) {
			t.Fatalf("% x decodes to %d, which encodes as % x", b, v, re)
		}
	}
}

// randomValue draws a value of any type, with lengths and integers spread over every varint
// size.
func randomValue(rng *rand.Rand) codec.Value {
	bytesOf := func() []byte {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	num := rng.Uint64() >> rng.IntN(64)
	switch codec.DataType(rng.IntN(10)) {
	case codec.TypeNull:
		return codec.NullValue()
	case codec.TypeBool:
		return codec.BoolValue(rng.IntN(2) == 1)
	case codec.TypeInt32:
		return codec.Int32Value(int32(num) * int32(1-2*rng.IntN(2)))
	case codec.TypeUint32:
		return codec.Uint32Value(uint32(num))
	case codec.TypeInt64:
		return codec.Int64Value(int64(num) * int64(1-2*rng.IntN(2)))
	case codec.TypeUint64:
		return codec.Uint64Value(num)
	case codec.TypeIPv4:
		var a [4]byte
		copy(a[:], bytesOf())
		return codec.IPv4Value(&a)
	case codec.TypeIPv6:
		var a [16]byte
		copy(a[:], bytesOf())
		return codec.IPv6Value(&a)
	case codec.TypeString:
		return codec.StringValue(bytesOf())
	default:
		return codec.BinaryValue(bytesOf())
	}
}

func TestTypedValuesRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		v := randomValue(rng)
		enc := codec.AppendValue([]byte{0xAA}, v)[1:]
		tail, got, err := codec.ReadValue(append(enc, 0x42))
		if err != nil || !sameValue(got, v) || !bytes.Equal(tail, []byte{0x42}) {
			t.Fatalf("%v encodes as % x, which decodes to %v, tail % x, err %v", v, enc, got, tail, err)
		}
		if v.Type.IsInt() && got.Int() != v.Int() {
			t.Fatalf("%v decodes to signed %d", v, got.Int())
		}
	}
}

func TestTypedValueEncodings(t *testing.T) {
	v4 := [4]byte{127, 0, 0, 1}
	v6 := [16]byte{15: 1}
	tests := []struct {
		name string
		v    codec.Value
		want string
	}{
		{"NULL is its type byte alone", codec.NullValue(), "00"},
		{"BOOL true is 0x11", codec.BoolValue(true), "11"},
		{"BOOL false is 0x01", codec.BoolValue(false), "01"},
		{"INT32 -1 is the 10-byte 64-bit pattern", codec.Int32Value(-1), "02 ff f0 fe fe fe fe fe fe fe 0e"},
		{"INT64 -1 is 10 bytes", codec.Int64Value(-1), "04 ff f0 fe fe fe fe fe fe fe 0e"},
		{"UINT32 16380", codec.Uint32Value(16380), "03 fc f0 06"},
		{"UINT64 max", codec.Uint64Value(math.MaxUint64), "05 ff f0 fe fe fe fe fe fe fe 0e"},
		{"IPV4 is 4 raw bytes", codec.IPv4Value(&v4), "06 7f 00 00 01"},
		{"IPV6 is 16 raw bytes", codec.IPv6Value(&v6), "07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01"},
		{"empty STRING", codec.StringValue(nil), "08 00"},
		{"STRING", codec.StringValue([]byte("GET")), "08 03 47 45 54"},
		{"BINARY", codec.BinaryValue([]byte{0, 1}), "09 02 00 01"},
		{"a reserved type is written as NULL", codec.Value{Type: 12}, "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codec.AppendValue(nil, tt.v); !bytes.Equal(got, h(tt.want)) {
				t.Errorf("% x, want %s", got, tt.want)
			}
		})
	}
}

func TestBoolIsTrueOnlyForFlagsNibbleOne(t *testing.T) {
	// HAProxy tests (b & 0xF0) == 0x10, so 0x31 and 0xF1 are false.
	for b := 0; b < 16; b++ {
		_, v, err := codec.ReadValue([]byte{byte(b<<4) | 1})
		if err != nil || v.Type != codec.TypeBool || v.Bool != (b == 1) {
			t.Errorf("type byte %#02x: %v, %v; want BOOL %v", b<<4|1, v, err, b == 1)
		}
	}
}
