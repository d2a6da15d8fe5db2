package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/bench/nullagent"
)

// Every kind of hostile peer connects, plays its part against a live agent, and is counted.
func TestAttackWaveOfEveryKind(t *testing.T) {
	a, err := nullagent.Start(nullagent.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer web.Close()
	for kind := range attackKinds {
		addr := a.Addr().String()
		if kind == "http" {
			addr = web.Listener.Addr().String()
		}
		st := attackWave(context.Background(), addr, kind, 3, 10*time.Millisecond)
		if st.opened != 3 || st.failed != 0 {
			t.Errorf("%s: %s, want 3 opened", kind, st)
		}
	}
	// Nothing listening: every connection fails, none is counted as opened.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	if st := attackWave(context.Background(), dead, "idle", 2, time.Millisecond); st.failed != 2 || st.opened != 0 {
		t.Errorf("against a closed port: %s", st)
	}
}
