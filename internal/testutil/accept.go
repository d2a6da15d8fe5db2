package testutil

import (
	"net"
	"testing"
)

// Accept listens on network and addr (loopback or a unix socket path), calls serve on its own
// goroutine for every connection, and closes the listener when the test ends.
func Accept(tb testing.TB, network, addr string, serve func(c net.Conn)) net.Listener {
	tb.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln
}
