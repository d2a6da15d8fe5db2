package fleet

import (
	"encoding/json"
	"testing"
)

// BenchmarkDecodeChanges is a follower's decoding of one batch of 1,000 puts, with the fast
// path and with encoding/json alone:
//
//	go test -run '^$' -bench DecodeChanges -benchmem ./fleet
func BenchmarkDecodeChanges(b *testing.B) {
	in := benchBatch(1000)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := decodeChanges(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := decodeChangesJSON(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeRecord is a full sync's decoding of one entry's record.
func BenchmarkDecodeRecord(b *testing.B) {
	in := `{"addr":"100.1.2.3","action":"deny","list":"api","expires":1796115733928,"comment":"fail2ban sshd","created":1796112133928}`
	b.Run("fast", func(b *testing.B) {
		var d decoder
		var r Record
		for b.Loop() {
			if err := decodeRecord(&d, in, "100.1.2.3", &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var r Record
		for b.Loop() {
			r = Record{}
			if err := json.Unmarshal([]byte(in), &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
