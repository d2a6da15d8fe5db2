// Package agenttest runs the agent's own parts in the test's process, for the benchmarks that
// drive them over loopback with the load generator: a synthetic deny list with its manager,
// the SPOP server around a handler, and the load they drive it with. Only tests import it.
package agenttest

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/bench"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/server"
)

// Quiet is the logger the parts are given: the benchmarks read figures, not logs.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Entries is the size of the synthetic list the under-load benchmarks serve.
var Entries = flag.Int("agent-entries", 2_000_000, "the under-load benchmarks: synthetic list entries")

// SyntheticList writes a synthetic list of entries (10% IPv6, 10% prefixes, seed 1) into a
// temporary directory and loads it as the deny list "synthetic". It returns the manager and
// the targets to drive it with: 65,536 addresses (10% IPv6), 5% of them from 3300 that the
// list covers.
func SyntheticList(tb testing.TB, entries int) (*blocklist.Manager, []bench.Target) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "synthetic.txt")
	listed, err := bench.SyntheticList{Entries: entries, V6Share: 0.1, PrefixShare: 0.1, Seed: 1}.WriteFile(path, 3300)
	if err != nil {
		tb.Fatal(err)
	}
	mgr, err := blocklist.NewManager([]blocklist.Source{{Name: "synthetic", Path: path, Kind: blocklist.Deny}},
		blocklist.Options{Logger: Quiet})
	if err != nil {
		tb.Fatal(err)
	}
	return mgr, bench.Mix(listed, bench.CleanTargets(65536, 0.1, 2), 65536, 0.05)
}

// Serve starts the SPOP server around h on one loop on a loopback port, and shuts it down
// (within 10 s) when the test ends.
func Serve(tb testing.TB, h server.Handler) *server.Server {
	tb.Helper()
	srv, err := server.New(server.Config{Listen: []string{"127.0.0.1:0"}, Loops: 1, Logger: Quiet}, h)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// Load drives srv with the load generator over loopback, 8 connections × 20 in flight, on
// targets from SyntheticList, each ACK checked against the list: a second of warm-up, then
// the measured window.
func Load(tb testing.TB, srv *server.Server, targets []bench.Target, window time.Duration) *bench.Report {
	tb.Helper()
	rep, err := bench.Run(context.Background(), bench.Config{
		Addr: srv.Addr().String(), Conns: 8, InFlight: 20, Targets: targets,
		Check: bench.Check{ListName: "synthetic"}, Warmup: time.Second, Duration: window,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}
