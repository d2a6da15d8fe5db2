package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
}

func TestStartupFailsOnBadList(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"cidr":"1.2.3.0/24"`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"missing=" + filepath.Join(dir, "nope.txt"), "bad=" + bad + ",format=spamhaus-json"} {
		err := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", spec}, io.Discard, nil)
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

// TestAgent runs the whole agent in-process: a blocked and an allowed NOTIFY, the metrics
// endpoint, a SIGHUP reload that changes a decision, and a graceful stop.
func TestAgent(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "local.txt")
	if err := os.WriteFile(list, []byte("127.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	feeds, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "feeds"))
	listen, metricsAddr := freeAddr(t), freeAddr(t)
	args := []string{"-listen", listen, "-metrics", metricsAddr, "-loops", "2", "-reload-interval", "1h",
		"-deny", "local=" + list, "-deny", "ipsum=" + filepath.Join(feeds, "stamparm_ipsum.txt") + ",format=ipsum"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	logs := &testutil.Buffer{}
	runErr := make(chan error, 1)
	go func() { runErr <- run(ctx, args, logs, hup) }()

	var resp *http.Response
	for i := 0; i < 500; i++ {
		var err error
		if resp, err = http.Get("http://" + metricsAddr + "/healthz"); err == nil {
			break
		}
		select {
		case err := <-runErr:
			t.Fatalf("agent exited: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v\n%s", resp, logs)
	}
	resp.Body.Close()

	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	var buf []byte
	next := func() codec.Frame {
		t.Helper()
		for {
			var f codec.Frame
			n, err := codec.ReadFrameInto(&f, buf, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				f.Payload = append([]byte(nil), f.Payload...)
				buf = buf[n:]
				return f
			}
			tmp := make([]byte, 4096)
			m, err := c.Read(tmp)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			buf = append(buf, tmp[:m]...)
		}
	}
	blocked := func(ip [4]byte) (bool, string) {
		t.Helper()
		msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
		if _, err := c.Write(codec.AppendNotify(nil, 7, 1, msg)); err != nil {
			t.Fatal(err)
		}
		f := next()
		if f.Type != codec.FrameAck || f.StreamID != 7 {
			t.Fatalf("got %s %d", f.Type, f.StreamID)
		}
		var bl bool
		var list string
		it := codec.NewActionIterator(f.Payload)
		for it.Next() {
			switch a := it.Action(); string(a.Name) {
			case "blocked":
				bl = a.Value.Bool
			case "list":
				list = string(a.Value.Bytes)
			}
		}
		return bl, list
	}
	hello := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 16380, Capabilities: []byte("pipelining")})
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	if f := next(); f.Type != codec.FrameAgentHello {
		t.Fatalf("got %s", f.Type)
	}
	if bl, list := blocked([4]byte{127, 0, 0, 2}); !bl || list != "local" {
		t.Errorf("127.0.0.2: blocked=%v list=%q, want true local", bl, list)
	}
	if bl, _ := blocked([4]byte{127, 0, 0, 3}); bl {
		t.Error("127.0.0.3 blocked before the reload")
	}

	// SIGHUP with a changed file changes the decision.
	if err := os.WriteFile(list, []byte("127.0.0.2\n127.0.0.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	reloaded := false
	for i := 0; i < 500 && !reloaded; i++ {
		reloaded, _ = blocked([4]byte{127, 0, 0, 3})
		if !reloaded {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !reloaded {
		t.Fatalf("SIGHUP reload not applied\n%s", logs)
	}

	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`spoaguard_frames_received_total{type="notify"}`, `spoaguard_frames_received_total{type="hello"} 1`,
		`spoaguard_acks_total`, `spoaguard_decisions_total{decision="blocked"}`,
		`spoaguard_decisions_total{decision="allowed"}`, `spoaguard_blocked_total{list="local"}`,
		`spoaguard_connections_open 1`, `spoaguard_connections_total 1`, `spoaguard_fragments_inflight 0`,
		`spoaguard_list_entries{list="local"} 2`, `spoaguard_list_skipped_lines{list="ipsum"} 0`,
		`spoaguard_list_last_reload_timestamp_seconds{list="local"}`, `spoaguard_list_last_error{list="local"} 0`,
		`spoaguard_reloads_total 1`, `spoaguard_reload_duration_seconds`,
		"\ngo_goroutines ", "\ngo_memstats_mallocs_total ", "\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cancel() // SIGTERM
	if f := next(); f.Type != codec.FrameAgentDisconnect {
		t.Fatalf("got %s at shutdown, want AGENT-DISCONNECT", f.Type)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"spoaguard started", "entries=", "lists reloaded", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
