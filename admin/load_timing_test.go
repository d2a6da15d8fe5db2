package admin_test

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/bench"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/internal/agenttest"
	"github.com/spoaguard/spoaguard/live"
)

var (
	loadDuration = flag.Duration("live-load-duration", 5*time.Second, "BenchmarkLiveChangesUnderLoad: measured window of each run")
	loadRounds   = flag.Int("live-load-rounds", 3, "BenchmarkLiveChangesUnderLoad: paired rounds")
)

// BenchmarkLiveChangesUnderLoad serves a 2M-entry list with 100k live entries in front of it
// (server, decision and admin API in this process, one event loop) and drives it with the
// load generator, 8 connections × 20 in flight, in paired rounds: one run alone, one while
// 10,000 bans a second (100 per POST, every 10 ms, each with a 1 s ttl so that expiries run
// too; the bodies are written before the run) go through the admin API over loopback. The
// bans are in 240.0.0.0/4, where no target is, so every ACK must stay as the targets file
// says (0 wrong). It reports the ratio of the two runs' p99.9 ACK latency (median over the
// rounds), the bans applied per second and the wrong ACKs.
//
//	go test -run '^$' -bench LiveChangesUnderLoad -benchtime 1x ./admin
func BenchmarkLiveChangesUnderLoad(b *testing.B) {
	mgr, targets := agenttest.SyntheticList(b, *agenttest.Entries)
	quiet := agenttest.Quiet
	ls, err := live.Open(live.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer ls.Close()
	next := uint32(admin.Unlisted) // the next ban's address
	ban := func(n int, ttl string) []byte {
		body := bench.BanBody(next, n, ttl, "")
		next += uint32(n)
		return body
	}
	h, err := decision.New(mgr, decision.Config{Live: ls})
	if err != nil {
		b.Fatal(err)
	}
	api, err := admin.NewHandler(admin.Config{Live: ls, Explain: h.Explain, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	apiSrv := httptest.NewServer(api)
	defer apiSrv.Close()
	post := func(body []byte) {
		resp, err := http.Post(apiSrv.URL+"/v1/bans", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			b.Errorf("POST: %v %v", resp, err)
			return
		}
		resp.Body.Close()
	}
	post(ban(100_000, "0")) // the standing live set
	srv := agenttest.Serve(b, h)
	run := func() *bench.Report { return agenttest.Load(b, srv, targets, *loadDuration) }
	for b.Loop() {
		var ratios []float64
		var wrong uint64
		var bansPerSec float64
		for round := range *loadRounds {
			alone := run()
			// The bodies are written before the run, so that the round measures the agent
			// reading and applying them, not the test writing them.
			bodies := make([][]byte, int((time.Second+*loadDuration)/(10*time.Millisecond))+100)
			for i := range bodies {
				bodies[i] = ban(100, "1s")
			}
			ctx, stop := context.WithCancel(context.Background())
			var banned atomic.Int64
			done := make(chan struct{})
			start := time.Now()
			go func() {
				defer close(done)
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for _, body := range bodies {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						post(body)
						banned.Add(100)
					}
				}
				b.Error("the round outlasted its bans")
			}()
			with := run()
			stop()
			<-done
			rate := float64(banned.Load()) / time.Since(start).Seconds()
			r := float64(with.Latency.P999) / float64(alone.Latency.P999)
			ratios = append(ratios, r)
			wrong += alone.Wrong + with.Wrong + alone.Missing + with.Missing
			bansPerSec += rate / float64(*loadRounds)
			b.Logf("round %d: p99.9 %v alone, %v with %.0f bans/s (%.2fx); max %v vs %v; ACK/s %.0f vs %.0f; wrong %d/%d; load %.1f",
				round, alone.Latency.P999, with.Latency.P999, rate, r, alone.Latency.Max, with.Latency.Max,
				alone.ACKsPerSec, with.ACKsPerSec, alone.Wrong, with.Wrong, with.LoadAverage[1])
		}
		slices.Sort(ratios)
		b.ReportMetric(ratios[len(ratios)/2], "p999-ratio")
		b.ReportMetric(bansPerSec, "bans/s")
		b.ReportMetric(float64(wrong), "wrong")
	}
}
