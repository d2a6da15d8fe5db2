package decision

import (
	"testing"

	"github.com/spoaguard/spoaguard/internal/testutil"

	"github.com/VictoriaMetrics/metrics"
)

// BenchmarkHandler measures the decision per NOTIFY: a captured segment of 15 pipelined
// NOTIFYs decoded and answered by the handler as one batch, as the server does for one read
// event, without its session. ns/op is per NOTIFY.
func BenchmarkHandler(b *testing.B) {
	h, _ := testHandler(b, metrics.NewSet())
	d := newDriver(h.NewConn())
	seg := v26(b, "29_")
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)) / 15)
	cpu := testutil.StartCPUTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i += 15 {
		if _, err := d.respond(seg, out[:0], nil); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}
