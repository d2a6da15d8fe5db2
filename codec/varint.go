package codec

// SPOP integers use HAProxy's "peers" varint (docs/PROTOCOL.md#varint), which is
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

// uvarint is the decoder the hot path uses: it reads the varint at src[i:] and returns the
// offset just past it, or next == -1 when the varint is truncated or too long. Offsets instead
// of re-sliced tails keep the callers small; the callers that run per frame try byteVarint
// first, which the compiler inlines.
func uvarint(src []byte, i int) (v uint64, next int) {
	if v, ok := byteVarint(src, i); ok {
		return v, i + 1
	}
	return uvarintSlow(src, i)
}

// byteVarint decodes the varint at src[i] when it is one byte long, the common case (ids,
// lengths and small integers are below 240); ok is false otherwise, and the caller falls back
// to uvarint. It is small enough to be inlined.
func byteVarint(src []byte, i int) (v uint64, ok bool) {
	if uint(i) < uint(len(src)) && src[i] < 240 {
		return uint64(src[i]), true
	}
	return 0, false
}

func uvarintSlow(src []byte, i int) (uint64, int) {
	if uint(i) >= uint(len(src)) {
		return 0, -1
	}
	v := uint64(src[i])
	shift := uint(4)
	end := min(len(src), i+MaxVarintLen)
	for j := i + 1; j < end; j++ {
		b := src[j]
		v += uint64(b) << shift
		if b < 128 {
			return v, j + 1
		}
		shift += 7
	}
	return 0, -1
}

// varintError explains why the varint at the start of src does not decode (the cold path).
func varintError(src []byte) *Error {
	switch {
	case len(src) == 0:
		return errorf(StatusInvalidFrame, nil, "truncated varint: no bytes left")
	case len(src) >= MaxVarintLen: // ten bytes, none of them a last byte
		return errorf(StatusInvalidFrame, src, "varint longer than %d bytes", MaxVarintLen)
	}
	return errorf(StatusInvalidFrame, src, "truncated varint")
}
