// Package feedtest is a list feed served over HTTP on loopback for tests: one body with an
// ETag per version (answering If-None-Match with 304), which the test changes, breaks or cuts
// short.
package feedtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// Server serves the current body at every path.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	body     string
	version  int
	status   int  // answered instead of the body when not 0
	cut      bool // announce a Content-Length larger than the body
	requests int
}

// New starts a server answering body; it is closed when the test ends.
func New(t testing.TB, body string) *Server {
	s := &Server{body: body, version: 1}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.status != 0 {
		http.Error(w, "failing", s.status)
		return
	}
	etag := fmt.Sprintf(`"v%d"`, s.version)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if s.cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)+100))
	}
	_, _ = w.Write([]byte(s.body))
}

// Set makes body the next version.
func (s *Server) Set(body string) { s.change(func() { s.body, s.status, s.cut = body, 0, false }) }

// Fail makes every request answer status (0 serves the body again).
func (s *Server) Fail(status int) { s.change(func() { s.status = status }) }

// Cut makes body the next version, sent with a Content-Length 100 bytes larger than it.
func (s *Server) Cut(body string) { s.change(func() { s.body, s.status, s.cut = body, 0, true }) }

// Requests is the number of requests answered so far.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) change(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.version++
}
