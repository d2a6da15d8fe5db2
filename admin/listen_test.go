package admin

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenOnAUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, unix, err := Listen("unix:"+path, http.NotFoundHandler())
	if err != nil || !unix {
		t.Fatal(unix, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != SocketMode {
		t.Fatalf("socket mode %v (%v), want %o", fi.Mode().Perm(), err, SocketMode)
	}
	if _, _, err := Listen("unix:"+path, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a second listener on a socket in use: %v", err)
	}
	ln.Close()

	// A socket file left behind by a process that is gone is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, _, err = Listen("unix:"+path, http.NotFoundHandler())
	if err != nil {
		t.Fatalf("a stale socket file was not replaced: %v", err)
	}
	ln.Close()

	notSocket := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSocket, nil, 0o600)
	if _, _, err := Listen("unix:"+notSocket, http.NotFoundHandler()); err == nil {
		t.Error("a regular file was replaced by a socket")
	}
}
