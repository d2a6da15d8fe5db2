package codec

// SPOP integers use HAProxy's "peers" varint (SPOE.txt section 3.1; SPEC.md §2), which is
// neither LEB128 nor encoding/binary's Uvarint: a first byte below 240 is the value itself;
// otherwise it carries the low 4 bits, and each following byte adds its *whole* value shifted
// by 4, 11, 18, ... bits, the last one being below 128. Negative int64 values are sent as their
// 64-bit two's complement, so -1 takes 10 bytes.

// MaxVarintLen is the longest varint accepted: 10 bytes hold any uint64.
const MaxVarintLen = 10

// AppendVarint appends the SPOP varint encoding of v to dst.
func AppendVarint(dst []byte, v uint64) []byte {
	if v < 240 {
		return append(dst, byte(v))
	}
	dst = append(dst, byte(v)|0xF0)
	v = (v - 240) >> 4
	for v >= 128 {
		dst = append(dst, byte(v)|0x80)
		v = (v - 128) >> 7
	}
	return append(dst, byte(v))
}

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

// ReadVarint decodes the varint at the start of src and returns the bytes after it.
// A varint cut short by the end of src, or longer than MaxVarintLen bytes, is an error
// (StatusInvalidFrame): inside a frame, whose length is known, both mean a malformed frame.
func ReadVarint(src []byte) (tail []byte, v uint64, err error) {
	// Common case first: ids, lengths and small integers are below 240 and take one byte.
	if len(src) > 0 && src[0] < 240 {
		return src[1:], uint64(src[0]), nil
	}
	return readVarintSlow(src)
}

func readVarintSlow(src []byte) ([]byte, uint64, error) {
	if len(src) == 0 {
		return src, 0, errorf(StatusInvalidFrame, nil, "truncated varint: no bytes left")
	}
	v := uint64(src[0])
	shift := uint(4)
	for i := 1; i < len(src); i++ {
		if i == MaxVarintLen {
			return src, 0, errorf(StatusInvalidFrame, src, "varint longer than %d bytes", MaxVarintLen)
		}
		b := src[i]
		v += uint64(b) << shift
		if b < 128 {
			return src[i+1:], v, nil
		}
		shift += 7
	}
	return src, 0, errorf(StatusInvalidFrame, src, "truncated varint")
}
