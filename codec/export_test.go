package codec

// What the tests need beyond the API: constructors for every type HAProxy may send, the
// varint on its own, and the unset-var action no agent path sends.

func NullValue() Value           { return Value{Type: TypeNull} }
func Int32Value(i int32) Value   { return Value{Type: TypeInt32, Uint: uint64(int64(i))} }
func Int64Value(i int64) Value   { return Value{Type: TypeInt64, Uint: uint64(i)} }
func Uint64Value(u uint64) Value { return Value{Type: TypeUint64, Uint: u} }
func BinaryValue(b []byte) Value { return Value{Type: TypeBinary, Bytes: b} }

// VarintLen returns the number of bytes AppendVarint uses for v.
func VarintLen(v uint64) int {
	if v < 240 {
		return 1
	}
	n := 2
	v = (v - 240) >> 4
	for v >= 128 {
		n++
		v = (v - 128) >> 7
	}
	return n
}

// ReadVarint decodes the varint at the start of src and returns the bytes after it, with the
// error the frame decoders give for a truncated or overlong one.
func ReadVarint(src []byte) (tail []byte, v uint64, err error) {
	v, next := uvarint(src, 0)
	if next < 0 {
		return src, 0, varintError(src)
	}
	return src[next:], v, nil
}

// AppendUnsetVar appends an unset-var action: 02 02 scope name.
func AppendUnsetVar(dst []byte, scope Scope, name string) []byte {
	dst = append(dst, ActionUnsetVar, 2, byte(scope))
	return AppendName(dst, name)
}
