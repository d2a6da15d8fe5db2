package codec

import (
	"fmt"
	"net/netip"
	"strconv"
)

// DataType is the type of a typed value: the low nibble of its first byte
// (docs/PROTOCOL.md#typed-data). The high nibble holds flags, used only by BOOL for its value.
type DataType uint8

// The typed-data types. 10-15 are reserved and refused.
const (
	TypeNull   DataType = 0
	TypeBool   DataType = 1
	TypeInt32  DataType = 2
	TypeUint32 DataType = 3
	TypeInt64  DataType = 4
	TypeUint64 DataType = 5
	TypeIPv4   DataType = 6
	TypeIPv6   DataType = 7
	TypeString DataType = 8
	TypeBinary DataType = 9
)

var dataTypeNames = [...]string{"NULL", "BOOL", "INT32", "UINT32", "INT64", "UINT64", "IPV4", "IPV6", "STRING", "BINARY"}

func (t DataType) String() string {
	if int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return "DataType(" + strconv.Itoa(int(t)) + ")"
}

// IsInt reports whether t is one of the four integer types.
func (t DataType) IsInt() bool { return t >= TypeInt32 && t <= TypeUint64 }

// boolTrue is the type byte of BOOL true. HAProxy reads a BOOL as true only when the flags
// nibble is exactly 1 ((b & 0xF0) == 0x10), so 0x31 is false; we do the same.
const boolTrue = 0x10 | byte(TypeBool)

// Value is one typed value. For the integer types Uint holds the 64-bit pattern (Int gives the
// signed view: HAProxy sends every integer sample as INT64). Bytes holds STRING and BINARY
// contents and the 4 or 16 bytes of an IPV4 or IPV6 address, aliasing the decoded buffer.
type Value struct {
	Type  DataType
	Bool  bool
	Uint  uint64
	Bytes []byte
}

// Int returns the value of an integer as a signed 64-bit number.
func (v Value) Int() int64 { return int64(v.Uint) }

// Addr returns the address of an IPV4 or IPV6 value; ok is false for other types.
// A hand-built Value whose Bytes have the wrong length for its type is not an address either.
func (v Value) Addr() (a netip.Addr, ok bool) {
	switch {
	case v.Type == TypeIPv4 && len(v.Bytes) == 4:
		return netip.AddrFrom4([4]byte(v.Bytes)), true
	case v.Type == TypeIPv6 && len(v.Bytes) == 16:
		return netip.AddrFrom16([16]byte(v.Bytes)), true
	}
	return a, false
}

// String renders v for logs and test failures.
func (v Value) String() string {
	switch v.Type {
	case TypeNull:
		return "NULL"
	case TypeBool:
		return strconv.FormatBool(v.Bool)
	case TypeInt32, TypeInt64:
		return v.Type.String() + "(" + strconv.FormatInt(v.Int(), 10) + ")"
	case TypeUint32, TypeUint64:
		return v.Type.String() + "(" + strconv.FormatUint(v.Uint, 10) + ")"
	case TypeIPv4, TypeIPv6:
		if a, ok := v.Addr(); ok {
			return a.String()
		}
		return v.Type.String() + "(" + Hex(v.Bytes) + ")"
	case TypeString:
		return strconv.Quote(string(v.Bytes))
	case TypeBinary:
		return "BINARY(" + Hex(v.Bytes) + ")"
	}
	return v.Type.String()
}

// Constructors for the values the agent and the load generator send. String and address
// values alias their argument.

func BoolValue(b bool) Value      { return Value{Type: TypeBool, Bool: b} }
func Uint32Value(u uint32) Value  { return Value{Type: TypeUint32, Uint: uint64(u)} }
func StringValue(s []byte) Value  { return Value{Type: TypeString, Bytes: s} }
func IPv4Value(a *[4]byte) Value  { return Value{Type: TypeIPv4, Bytes: a[:]} }
func IPv6Value(a *[16]byte) Value { return Value{Type: TypeIPv6, Bytes: a[:]} }

// ReadValue decodes the typed value at the start of src and returns the bytes after it.
// Reserved types (10-15) are an error: HAProxy itself would desynchronise on them.
func ReadValue(src []byte) (tail []byte, v Value, err error) {
	v, next := value(src, 0)
	if next < 0 {
		return src, Value{}, valueError(src)
	}
	return src[next:], v, nil
}

// ReadName decodes a length-prefixed name (KV key, message, argument or variable name). Names
// carry no type byte.
func ReadName(src []byte) (tail, name []byte, err error) {
	start, end := lenPrefixed(src, 0)
	if end < 0 {
		return src, nil, errorf(StatusInvalidFrame, src, "name: %s", lenPrefixedError(src))
	}
	return src[end:], src[start:end:end], nil
}

// The decoders below are the hot path's: they take the offset to read at and return the
// offset after what they read, or -1 when the input is malformed, and never build an error.
// The exported functions above call them and, only on failure, walk the input again to say
// why (valueError, lenPrefixedError): the cold path pays for the message, the hot path
// stays small enough for the compiler to keep in registers.

// lenPrefixed reads a varint length and that many bytes at src[i:]: the layout of names,
// strings and binaries. The contents are src[start:end]; end is -1 when malformed.
func lenPrefixed(src []byte, i int) (start, end int) {
	if start, end, ok := byteLenPrefixed(src, i); ok {
		return start, end
	}
	n, start := uvarint(src, i)
	if start < 0 || n > uint64(len(src)-start) {
		return 0, -1
	}
	return start, start + int(n)
}

// byteLenPrefixed is lenPrefixed for a length below 240 that fits in src, the case of nearly
// every name and string HAProxy sends; ok is false otherwise. It is small enough to be inlined
// into the per-argument loops.
func byteLenPrefixed(src []byte, i int) (start, end int, ok bool) {
	if uint(i) < uint(len(src)) {
		if n := int(src[i]); n < 240 && n < len(src)-i {
			return i + 1, i + 1 + n, true
		}
	}
	return 0, 0, false
}

// value decodes the typed value at src[i:]. Bytes alias src, capped so that appending to them
// cannot overwrite what follows.
func value(src []byte, i int) (v Value, next int) {
	v.Type, v.Bool, v.Uint, v.Bytes, next = valueParts(src, i)
	return v, next
}

// valueParts is value returning the Value's fields one by one. The per-argument loop stores
// them straight into its iterator: a Value returned whole is spilled to the stack a field at
// a time and copied on with 16-byte loads, which stall on store forwarding.
func valueParts(src []byte, i int) (t DataType, b bool, u uint64, bs []byte, next int) {
	if uint(i) >= uint(len(src)) {
		return 0, false, 0, nil, -1
	}
	c := src[i]
	t = DataType(c & 0x0F)
	i++
	switch t {
	case TypeNull:
		return t, false, 0, nil, i
	case TypeBool:
		return t, c == boolTrue, 0, nil, i
	case TypeInt32, TypeUint32, TypeInt64, TypeUint64:
		if u, ok := byteVarint(src, i); ok {
			return t, false, u, nil, i + 1
		}
		u, next = uvarint(src, i)
		return t, false, u, nil, next
	case TypeIPv4:
		if len(src)-i < 4 {
			return t, false, 0, nil, -1
		}
		return t, false, 0, src[i : i+4 : i+4], i + 4
	case TypeIPv6:
		if len(src)-i < 16 {
			return t, false, 0, nil, -1
		}
		return t, false, 0, src[i : i+16 : i+16], i + 16
	case TypeString, TypeBinary:
		start, end, ok := byteLenPrefixed(src, i)
		if !ok {
			start, end = lenPrefixed(src, i)
		}
		if end < 0 {
			return t, false, 0, nil, -1
		}
		return t, false, 0, src[start:end:end], end
	}
	return t, false, 0, nil, -1 // reserved types
}

// addrLen returns 4 or 16 when src[i:] holds a whole IPV4 or IPV6 value (type byte, no
// flags, then the address), and 0 otherwise. It is small enough to be inlined into the
// per-argument loops, which then skip or read the client address without a call.
func addrLen(src []byte, i int) int {
	if uint(i) < uint(len(src)) {
		n := 0
		switch src[i] {
		case byte(TypeIPv4):
			n = 4
		case byte(TypeIPv6):
			n = 16
		}
		if n < len(src)-i {
			return n
		}
	}
	return 0
}

// valueError explains why the typed value at the start of src does not decode.
func valueError(src []byte) *Error {
	if len(src) == 0 {
		return errorf(StatusInvalidFrame, nil, "truncated typed data: no type byte")
	}
	t := DataType(src[0] & 0x0F)
	switch t {
	case TypeInt32, TypeUint32, TypeInt64, TypeUint64:
		return errorf(StatusInvalidFrame, src, "%s value: %s", t, varintError(src[1:]).Reason)
	case TypeIPv4, TypeIPv6:
		return errorf(StatusInvalidFrame, src, "truncated %s value", t)
	case TypeString, TypeBinary:
		return errorf(StatusInvalidFrame, src, "%s value: %s", t, lenPrefixedError(src[1:]))
	}
	return errorf(StatusInvalidFrame, src, "reserved data type %d", t)
}

// lenPrefixedError explains why the length-prefixed bytes at the start of src do not decode.
func lenPrefixedError(src []byte) string {
	n, start := uvarint(src, 0)
	if start < 0 {
		return varintError(src).Reason
	}
	return fmt.Sprintf("length %d exceeds the %d bytes left", n, len(src)-start)
}

// AppendValue appends the typed encoding of v to dst. An IPV4 or IPV6 value must hold 4 or 16
// bytes, as IPv4Value and IPv6Value ensure. A Value of a reserved type is written as NULL:
// HAProxy would desynchronise on a reserved type byte.
func AppendValue(dst []byte, v Value) []byte {
	switch v.Type {
	case TypeBool:
		if v.Bool {
			return append(dst, boolTrue)
		}
		return append(dst, byte(TypeBool))
	case TypeInt32, TypeUint32, TypeInt64, TypeUint64:
		return AppendVarint(append(dst, byte(v.Type)), v.Uint)
	case TypeIPv4, TypeIPv6, TypeString, TypeBinary:
		dst = append(dst, byte(v.Type))
		if v.Type == TypeString || v.Type == TypeBinary {
			dst = AppendVarint(dst, uint64(len(v.Bytes)))
		}
		return append(dst, v.Bytes...)
	}
	return append(dst, byte(TypeNull))
}

// AppendName appends a length-prefixed name.
func AppendName(dst []byte, name string) []byte {
	return append(AppendVarint(dst, uint64(len(name))), name...)
}
