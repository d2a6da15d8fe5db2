package testutil

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// HexFile reads a .hex capture (testdata/spop: one line of hex) and returns its bytes.
func HexFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// The directories of testdata/spop holding each HAProxy version's captured frames.
const (
	HAProxy26 = "haproxy-2.6.12"
	HAProxy34 = "haproxy-3.4.0"
)

// SPOPDir returns the path of testdata/spop, wherever the test runs from.
func SPOPDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "spop")
}

// Capture returns the bytes of the one captured frame testdata/spop/<dir>/<prefix>*.hex:
// a prefix such as "07_" names a capture by its number, and a whole file name names it too.
func Capture(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	pattern := prefix
	if !strings.HasSuffix(prefix, ".hex") {
		pattern += "*.hex"
	}
	matches, err := filepath.Glob(filepath.Join(SPOPDir(), dir, pattern))
	if err != nil || len(matches) != 1 {
		t.Fatalf("capture %s/%s*: %d matches %v", dir, prefix, len(matches), err)
	}
	return HexFile(t, matches[0])
}

// V26 and V34 return a capture of HAProxy 2.6 and 3.4 by its prefix (see Capture).
func V26(t testing.TB, prefix string) []byte { return Capture(t, HAProxy26, prefix) }
func V34(t testing.TB, prefix string) []byte { return Capture(t, HAProxy34, prefix) }
