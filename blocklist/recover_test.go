package blocklist

import (
	"strings"
	"testing"
	"time"
)

// panicReader stands for a parser bug: Parse panics on its first read.
type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("parser bug") }

// TestParsePanicIsALoadFailure: a panic while parsing one file is that file's load error,
// so the Manager keeps the previous contents instead of the agent crashing.
func TestParsePanicIsALoadFailure(t *testing.T) {
	p, _, err := parseRecovered(panicReader{}, Source{Name: "feed"}, time.Time{}, 0)
	if p != nil || err == nil || !strings.Contains(err.Error(), "parser bug") {
		t.Fatalf("got %v, %v; want no result and the panic as an error", p, err)
	}
}
