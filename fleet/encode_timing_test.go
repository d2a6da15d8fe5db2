package fleet

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeChanges is Write's encoding of one batch of 1,000 puts (the batch and each
// record), with the encoder and with encoding/json:
//
//	go test -run '^$' -bench EncodeChanges -benchmem ./fleet
func BenchmarkEncodeChanges(b *testing.B) {
	cs, err := decodeChanges(benchBatch(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("append", func(b *testing.B) {
		recs := make([][2]int, len(cs))
		var buf []byte
		for b.Loop() {
			buf = appendChanges(buf[:0], cs, recs)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(cs); err != nil {
				b.Fatal(err)
			}
			for i := range cs {
				if _, err := json.Marshal(cs[i].Record); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
