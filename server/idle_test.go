package server

import (
	"net"
	"runtime"
	"testing"
)

// TestIdleConnectionMemory measures the heap held per idle connection after its handshake
// (target, PERFORMANCE.md: at most 8 KiB). The client's side is in the same process and is
// counted too, which only makes the assertion stricter.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 500 connections")
	}
	const n = 500
	s, _ := startServer(t, Config{}, nil)
	hello := v26(t, "01_")
	buf := make([]byte, 256)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil { // the AGENT-HELLO (74 bytes, one segment)
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	per := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / n
	t.Logf("%d idle connections: %.0f heap bytes each, agent and test client together", n, per)
	if per > 8<<10 {
		t.Errorf("%.0f bytes per idle connection", per)
	}
	for _, c := range conns {
		c.Close()
	}
}
