package admin

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
)

// BenchmarkPost100 is one POST of 100 bans with a 1 s ttl (one request of 10,000 bans a
// second) handled in this goroutine, from the request to the 200: the API's cost per request
// on the agent, without the network: its process CPU time, and the wall time, which includes
// the wait for the live set's next round. The addresses repeat from the 100th request on, so the
// live set stays near 100 entries per round of its own expiry.
//
//	go test -run '^$' -bench 'Post100$' -benchmem ./admin
func BenchmarkPost100(b *testing.B) {
	h, _ := newHandler(b, live.Options{}, nil, Config{})
	body := banBody(unlisted, 100, "1s", "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := testutil.ProcessCPU() // the figure a loaded machine does not inflate
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/bans", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64((testutil.ProcessCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
