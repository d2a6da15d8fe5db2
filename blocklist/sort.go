package blocklist

// sortUint64 sorts keys in place by most-significant-byte-first radix sort (American flag
// sort): a pass counts the keys' values of one byte and moves every key to its byte's bucket,
// then each bucket is sorted by the next byte. It needs no buffer beside the keys, where a
// least-significant-first radix sort needs a second array as large as the keys (14 MB for a
// 2M-entry list, which a reload's peak memory would hold), and it reads the keys a few times
// instead of the twenty-odd of a comparison sort of millions.
func sortUint64(keys []uint64) { radixSort64(keys, 56) }

// radixInsertionMax is the bucket size below which insertion sort beats another radix pass.
const radixInsertionMax = 48

func radixSort64(keys []uint64, shift uint) {
	for {
		if len(keys) <= radixInsertionMax {
			insertionSort64(keys)
			return
		}
		var count [256]int
		for _, k := range keys {
			count[byte(k>>shift)]++
		}
		// All keys share this byte: go on to the next one without moving anything.
		if count[byte(keys[0]>>shift)] == len(keys) {
			if shift == 0 {
				return
			}
			shift -= 8
			continue
		}
		var next, end [256]int // per byte value: the next slot to fill, and the bucket's end
		pos := 0
		for b, c := range count {
			next[b] = pos
			pos += c
			end[b] = pos
		}
		// Cycle each misplaced key into its bucket; a bucket is done when its next slot
		// reaches its end.
		for b := range 256 {
			for next[b] < end[b] {
				k := keys[next[b]]
				for d := int(byte(k >> shift)); d != b; d = int(byte(k >> shift)) {
					keys[next[d]], k = k, keys[next[d]]
					next[d]++
				}
				keys[next[b]] = k
				next[b]++
			}
		}
		if shift == 0 {
			return
		}
		start := 0
		for _, c := range count {
			if c > 1 {
				radixSort64(keys[start:start+c], shift-8)
			}
			start += c
		}
		return
	}
}

func insertionSort64(keys []uint64) {
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = k
	}
}
