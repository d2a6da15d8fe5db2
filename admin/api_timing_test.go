package admin

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
	"github.com/spoaguard/spoaguard/state"
)

// BenchmarkPost100k is one POST of 100,000 bans (each with a ttl and a comment) to an agent
// whose live set is stored in a state directory, from the request to the 200 that says the
// bans are stored, synced and in force:
//
//	go test -run '^$' -bench Post100k -benchtime 5x ./admin
func BenchmarkPost100k(b *testing.B) {
	body := banBody(10<<24, 100_000, "4h", "ssh brute force")
	b.SetBytes(int64(len(body)))
	var cpu time.Duration // the process's CPU time in the requests: the figure a loaded machine does not inflate
	for b.Loop() {
		b.StopTimer()
		db, err := state.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		h, ls := newHandler(b, live.Options{Store: db}, nil, Config{})
		srv := httptest.NewServer(h)
		b.StartTimer()
		start := testutil.ProcessCPU()
		resp, err := http.Post(srv.URL+"/v1/bans", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp, err)
		}
		resp.Body.Close()
		cpu += testutil.ProcessCPU() - start
		b.StopTimer()
		if ls.Table().Len() != 100_000 {
			b.Fatal("not in force")
		}
		srv.Close()
		ls.Close()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}
