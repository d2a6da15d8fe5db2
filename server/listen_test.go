package server

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

func newUnixServer(t *testing.T, path string, cfg Config) (*Server, error) {
	t.Helper()
	cfg.Listen = []string{"unix:" + path}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg, fakeHandler{})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Start()
}

// -listen unix:PATH starts only when PATH is absent or a socket nobody answers on, and never
// removes anything else.
func TestUnixSocketPathIsCheckedNeverRemoved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		start bool
	}{
		{"absent", func(*testing.T, string) {}, true},
		{"a stale socket", func(t *testing.T, path string) {
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			l.SetUnlinkOnClose(false)
			l.Close() // the file stays, nobody accepts on it
		}, true},
		{"a directory", func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Join(path, "keep"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a socket another process accepts on", func(t *testing.T, path string) {
			testutil.Accept(t, "unix", path, func(c net.Conn) { c.Close() })
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spoa.sock")
			tc.setup(t, path)
			before, _ := os.Lstat(path)
			s, err := newUnixServer(t, path, Config{})
			if !tc.start {
				if err == nil {
					_ = s.Shutdown(t.Context())
					t.Fatal("started")
				}
				after, statErr := os.Lstat(path)
				if statErr != nil || !os.SameFile(before, after) {
					t.Fatalf("%s was removed or replaced (%v)", path, statErr)
				}
				if before.IsDir() {
					if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
						t.Fatalf("the directory's content is gone: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := testutil.Dial(t, s.Addr())
			c.Handshake()
			if err := s.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Errorf("socket left behind after shutdown: %v", err)
			}
		})
	}
}

// A socket another process put at the path after this one started is not removed at
// shutdown: only the file this server created is.
func TestUnixSocketShutdownRemovesOnlyItsOwnFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spoa.sock")
	s, err := newUnixServer(t, path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Errorf("the other file: %q %v", b, err)
	}
}

func TestUnixSocketModeAndGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spoa.sock")
	gid := os.Getgid()
	s, err := newUnixServer(t, path, Config{SocketMode: 0o620, SocketGroup: strconv.Itoa(gid)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o620 {
		t.Errorf("mode %v, want 0620", got)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
		t.Errorf("group %d, want %d", st.Gid, gid)
	}
	for _, group := range []string{"no-such-group-spoaguard", "987654"} {
		_, err := newUnixServer(t, filepath.Join(t.TempDir(), "x.sock"), Config{SocketGroup: group})
		if want := fmt.Sprintf("socket group %q: no such group", group); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("an unknown group: %v, want %q", err, want)
		}
	}
}

// gnet's own listener is not a way in: no connection reaches it once the server is up.
func TestGnetListenerServesNobody(t *testing.T) {
	s, _ := startServer(t, Config{}, nil)
	fd, err := s.eng.DupListener(gnetNetwork, gnetBoundAddr)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	syscall.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("connected to gnet's own listener on port %d", port)
	}
	if s.OpenConns() != 0 {
		t.Errorf("%d connections open", s.OpenConns())
	}
	ok := testutil.Dial(t, s.Addr())
	ok.Handshake()
}
