package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

func TestParseFlagsErrors(t *testing.T) {
	list := filepath.Join(t.TempDir(), "l.txt")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no -deny list"},
		{[]string{}, "no -api or -redis for live bans"},
		{[]string{"-deny", "x"}, "NAME=PATH"},
		{[]string{"-deny", "bad name=" + list}, "list name"},
		{[]string{"-deny", "x=" + list, "-deny", "x=" + list}, "used twice"},
		{[]string{"-deny", "x=" + list + ",format=nope"}, "format"},
		{[]string{"-deny", "x=" + list + ",min-count=0"}, "positive"},
		{[]string{"-deny", "x=" + list + ",color=red"}, "unknown option"},
		{[]string{"-deny", "x=" + list, "-scope", "global"}, "-scope"},
		{[]string{"-deny", "x=" + list, "-max-frame-size", "100"}, "-max-frame-size"},
		{[]string{"-deny", "x=" + list, "-var-list", "blocked"}, "different"},
		{[]string{"-deny", "x=" + list, "-log-format", "xml"}, "-log-format"},
		{[]string{"-deny", "x=" + list, "stray"}, "unexpected argument"},
		{[]string{"-deny", "x=" + list, "-max-shrink", "0"}, "-max-shrink"},
		{[]string{"-deny", "x=" + list, "-max-shrink", "1.5"}, "-max-shrink"},
		{[]string{"-deny", "x=" + list, "-max-frame-size", "16777216"}, "-max-frame-size"},
		{[]string{"-deny", "x=" + list, "-allow-peer", "10.0.0.0/33"}, "-allow-peer"},
		{[]string{"-deny", "x=" + list, "-allow-peer", "haproxy.local"}, "-allow-peer"},
		{[]string{"-deny", "x=" + list, "-socket-mode", "rw-rw----"}, "-socket-mode"},
		{[]string{"-deny", "x=" + list, "-socket-mode", "01777"}, "-socket-mode"},
		{[]string{"-deny", "x=" + list, "-idle-timeout", "0s"}, "-idle-timeout"},
		{[]string{"-deny", "x=" + list, "-max-buffered", "-1"}, "-max-buffered"},
		{[]string{"-deny", "x=" + list, "-live-max-entries", "0"}, "-live-max-entries"},
		{[]string{"-deny", "x=" + list, "-background-nice", "20"}, "-background-nice"},
		{[]string{"-deny", "x=" + list, "-background-nice", "-1"}, "-background-nice"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error about %q", tc.args, err, tc.want)
		}
	}
	o, err := parseFlags([]string{"-deny", "a=" + list + ",format=ipsum,min-count=3", "-allow", "b=" + list + ",allow-short", "-message", "m1,m2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.sources) != 2 || o.sources[0].MinCount != 3 || !o.sources[1].AllowShortPrefixes || len(o.messages) != 2 {
		t.Fatalf("parsed %+v", o)
	}
	o, err = parseFlags([]string{"-deny", "a=" + list, "-allow-peer", "10.1.0.0/16,192.0.2.7", "-allow-peer", "::1", "-socket-mode", "0600"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(o.allowPeers); got != "[10.1.0.0/16 192.0.2.7/32 ::1/128]" || o.socketMode != 0o600 {
		t.Fatalf("-allow-peer %s, -socket-mode %v", got, o.socketMode)
	}
}

// A -max-conns the open-file limit cannot hold is refused at start, not found out under load.
func TestStartupRefusesMaxConnsAboveTheOpenFileLimit(t *testing.T) {
	list := filepath.Join(t.TempDir(), "l.txt")
	testutil.WriteFile(t, list, "192.0.2.1\n")
	err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", "x=" + list, "-max-conns", "2000000000"}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "open files") {
		t.Fatalf("run = %v, want a refusal naming the open-file limit", err)
	}
}

func TestStartupFailsOnBadList(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	testutil.WriteFile(t, bad, `{"cidr":"1.2.3.0/24"`)
	for _, spec := range []string{"missing=" + filepath.Join(dir, "nope.txt"), "bad=" + bad + ",format=spamhaus-json"} {
		err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", spec}, io.Discard, io.Discard, nil)
		name := strings.Split(strings.TrimPrefix(spec, "missing="), ",")[0]
		if err == nil || !strings.Contains(err.Error(), filepath.Base(strings.TrimPrefix(name, "bad="))) {
			t.Errorf("-deny %s: %v, want an error naming the file", spec, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listenNotify points NOTIFY_SOCKET at a socket of the test's and returns a function that
// reads the next notification.
func listenNotify(t *testing.T) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no systemd notification: %v", err)
		}
		return string(buf[:n])
	}
}

// TestAgent runs the whole agent in-process: a blocked and an allowed NOTIFY, the metrics
// endpoint, a SIGHUP reload that changes a decision, and a graceful stop.
func TestAgent(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "local.txt")
	testutil.WriteFile(t, list, "127.0.0.2\n")
	feeds, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "feeds"))
	notify := listenNotify(t)
	a := startAgent(t, "-loops", "2", "-reload-interval", "1h",
		"-deny", "local="+list, "-deny", "ipsum="+filepath.Join(feeds, "stamparm_ipsum.txt")+",format=ipsum")
	if got := notify(); !strings.HasPrefix(got, "READY=1\nSTATUS=serving 2 lists") {
		t.Errorf("systemd notification %q, want READY=1 once serving", got)
	}
	c := a.dial(t)
	if bl, list := c.decide(netip.MustParseAddr("127.0.0.2")); !bl || list != "local" {
		t.Errorf("127.0.0.2: blocked=%v list=%q, want true local", bl, list)
	}
	if bl, _ := c.decide(netip.MustParseAddr("127.0.0.3")); bl {
		t.Error("127.0.0.3 blocked before the reload")
	}

	// SIGHUP with a changed file changes the decision.
	testutil.WriteFile(t, list, "127.0.0.2\n127.0.0.3\n")
	a.reload(t, "SIGHUP reload not applied", func() bool {
		reloaded, _ := c.decide(netip.MustParseAddr("127.0.0.3"))
		return reloaded
	})
	if got, got2 := notify(), notify(); got != "RELOADING=1" || !strings.HasPrefix(got2, "READY=1\n") {
		t.Errorf("systemd notifications %q, %q at SIGHUP, want RELOADING=1 then READY=1", got, got2)
	}

	body := a.scrape(t)
	checkExposition(t, body)
	for _, want := range []string{"# TYPE spoaguard_reloads_total counter\n", "# TYPE spoaguard_list_entries gauge\n",
		"# TYPE spoaguard_list_load_failures_total counter\n", "# TYPE spoaguard_acks_total counter\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, want := range []string{
		`spoaguard_frames_received_total{type="notify"}`, `spoaguard_frames_received_total{type="hello"} 1`,
		`spoaguard_acks_total`, `spoaguard_decisions_total{decision="blocked"}`,
		`spoaguard_decisions_total{decision="allowed"}`, `spoaguard_blocked_total{list="local"}`,
		`spoaguard_connections_open 1`, `spoaguard_connections_total 1`, `spoaguard_fragments_inflight 0`,
		`spoaguard_list_entries{list="local"} 2`, `spoaguard_list_skipped_lines{list="ipsum"} 0`,
		`spoaguard_list_last_reload_timestamp_seconds{list="local"}`, `spoaguard_list_last_error{list="local"} 0`,
		`spoaguard_reloads_total 1`, `spoaguard_reload_duration_seconds`, `spoaguard_build_info{version="`,
		"\ngo_goroutines ", "\ngo_memstats_mallocs_total ", "\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	a.stop() // SIGTERM
	if f := c.next(); f.Type != codec.FrameAgentDisconnect {
		t.Fatalf("got %s at shutdown, want AGENT-DISCONNECT", f.Type)
	}
	if err := <-a.err; err != nil {
		t.Fatalf("run: %v", err)
	}
	a.err <- nil // for the cleanup
	for _, want := range []string{"spoaguard started", "entries=", `msg="lists reloaded" trigger=SIGHUP lists=local duration=`, "stopped"} {
		if !strings.Contains(a.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, a.logs)
		}
	}
}
