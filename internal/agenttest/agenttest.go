// Package agenttest runs the agent's own parts in the test's process, for the benchmarks that
// drive them over loopback with the load generator: a synthetic deny list with its manager,
// and the SPOP server around a handler. Only tests import it.
package agenttest

import (
	"context"
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

// SyntheticList writes a synthetic list of entries (10% IPv6, 10% prefixes, seed 1) into a
// temporary directory and loads it as the deny list "synthetic". It returns the manager and
// 3300 addresses the list covers.
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
	return mgr, listed
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
