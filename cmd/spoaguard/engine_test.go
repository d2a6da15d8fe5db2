package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/server"
)

type nopHandler struct{}

func (nopHandler) NewConn() server.ConnHandler { return nil }

// The engine condition is ready while the SPOP server serves, and not ready once it stopped.
func TestEngineReadinessFollowsTheServer(t *testing.T) {
	srv, err := server.New(server.Config{Listen: []string{"127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	check := serverReadiness(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if c := check()[0]; c.Name != "engine" || c.Level != health.Ready {
		t.Errorf("serving: %+v", c)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := check()[0]; c.Level != health.NotReady {
		t.Errorf("stopped: %+v, want not ready", c)
	}
}
