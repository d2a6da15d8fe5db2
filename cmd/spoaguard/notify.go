package main

import (
	"net"
	"os"
)

// sdNotify sends state to the service manager when the agent runs as a systemd Type=notify
// service (NOTIFY_SOCKET is set), and does nothing otherwise: the sd_notify(3) protocol, one
// datagram on a unix socket, whose name starts with '@' for the abstract namespace (Go's
// net package maps it). It never fails the agent: a lost notification shows as a start-up
// timeout in systemctl status, which names the cause better than an error here could.
func sdNotify(state string) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
