package server

import (
	"testing"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// BenchmarkHandle measures the protocol work of one read event, without sockets: a captured
// segment of 15 pipelined NOTIFYs turned into 15 ACKs by the test handler (the decision
// package measures its own handler), answered one by one or after a prefetch pass. ns/op is
// per ACK.
func BenchmarkHandle(b *testing.B) {
	for _, h := range []struct {
		name string
		h    Handler
	}{{"plain", fakeHandler{}}, {"prefetch", countingPrefetchHandler{}}} {
		b.Run(h.name, func(b *testing.B) {
			cfg := testSessionConfig()
			cfg.handler = h.h
			s := newSession(cfg)
			_, _, _ = s.handle(v26(b, "01_"), nil)
			seg := v26(b, "29_")
			testutil.BenchSegments(b, seg, 15, func(out []byte) {
				if n, _, _ := s.handle(seg, out); n != len(seg) {
					b.Fatal("not consumed")
				}
				cfg.metrics.flush(&s.stats)
			})
		})
	}
}
