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
	testutil.BenchSegments(b, seg, 15, func(out []byte) {
		if _, err := d.respond(seg, out, nil); err != nil {
			b.Fatal(err)
		}
	})
}
