// Package feed downloads one list by HTTP(S) the way a polite feed client should: conditional
// GET (If-None-Match / If-Modified-Since, so an unchanged feed costs a 304), compressed
// transfer, a timeout per attempt, a cap on the body, retries with exponential backoff and
// jitter, the proxy from the environment, the system's TLS roots and an identifying
// User-Agent.
//
// A download is never trusted by this package: Fetch writes the body to a temporary file beside
// the cached copy and hands it back as a Download. The caller checks it (parse, completeness
// markers, size guards) and then either commits it, which renames it over the cached copy (the
// last good download, served at the next start without network), or rejects it, which deletes
// it and counts a failure. The package knows nothing of list formats.
package feed

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults for the Config fields left zero.
const (
	DefaultTimeout    = time.Minute
	DefaultMaxBytes   = 256 << 20
	DefaultAttempts   = 4
	DefaultBackoff    = 2 * time.Second
	DefaultMaxBackoff = time.Minute
	DefaultUserAgent  = "spoaguard"
	maxRedirects      = 5
	// maxHeaderBytes bounds a response's headers: a feed server's fit in a few KiB, and a
	// hostile one must not make every attempt hold megabytes.
	maxHeaderBytes = 64 << 10
	// maxValidatorLen bounds an ETag or Last-Modified kept for the next conditional GET: real
	// ones are tens of bytes, and the validators file beside the cached copy must stay small
	// enough to be read at the next start.
	maxValidatorLen = 1024
)

// Config describes one feed.
type Config struct {
	Name string // file name stem of the cached copy in Dir: no '/', no leading '.'
	URL  string // http:// or https://
	Dir  string // directory holding the cached copy and its validators; created if missing

	Timeout    time.Duration // per attempt, headers and body; default DefaultTimeout
	MaxBytes   int64         // largest body accepted, after decompression; default DefaultMaxBytes
	Attempts   int           // attempts per Fetch; default DefaultAttempts
	Backoff    time.Duration // wait before the second attempt, doubled for each next; default DefaultBackoff
	MaxBackoff time.Duration // longest wait between attempts; default DefaultMaxBackoff
	UserAgent  string        // default DefaultUserAgent; spoaguard sends "spoaguard/<version>"

	// RootCAs replaces the system's TLS roots (tests, private CAs); nil uses the system's.
	RootCAs *x509.CertPool
	Logger  *slog.Logger // default slog.Default()
}

// Stats are a feed's counters, for metrics and readiness.
type Stats struct {
	Updated     uint64 // downloads committed
	NotModified uint64 // 304 answers
	Failed      uint64 // fetches that failed, or whose download was rejected

	BytesTotal  uint64    // body bytes received, over all downloads
	Bytes       int64     // size of the cached copy
	LastSuccess time.Time // last commit or 304 (or the cached copy's fetch time at start)
	// FailingSince is the first failure after the last success; zero while the feed is healthy.
	FailingSince time.Time
	LastError    string
}

// Fetcher downloads one feed. Fetch calls must not overlap; Stats and Cached may be called at
// any time.
type Fetcher struct {
	cfg    Config
	url    *url.URL
	client *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	meta  meta // validators of the cached copy; empty when there is none (or it was forgotten)
	stats Stats
}

// New checks cfg, creates Dir, removes temporary files a crash may have left there and reads
// the cached copy's validators. It does no network I/O.
func New(cfg Config) (*Fetcher, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feed %s: %q is not an http:// or https:// URL", cfg.Name, cfg.URL)
	}
	if !validName(cfg.Name) || cfg.Dir == "" {
		return nil, fmt.Errorf("feed %q: a name usable as a file name and a directory are required", cfg.Name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("feed %s: state directory: %w", cfg.Name, err)
	}
	f := &Fetcher{cfg: cfg, url: u, client: newClient(cfg), log: cfg.Logger}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.removeTemps()
	if m, err := readMeta(f.metaPath()); err == nil && m.URL == cfg.URL {
		if fi, err := os.Stat(f.CachePath()); err == nil && fi.Mode().IsRegular() {
			f.meta = m
			f.stats.Bytes = fi.Size()
		}
	}
	return f, nil
}

// newClient is an HTTP client for one feed: the proxy from the environment (HTTPS_PROXY,
// HTTP_PROXY, NO_PROXY), the system's TLS roots unless cfg says otherwise, transparent gzip,
// and redirects followed up to maxRedirects, never from https to http.
func newClient(cfg Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if cfg.RootCAs != nil {
		tr.TLSClientConfig.RootCAs = cfg.RootCAs
	}
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.MaxResponseHeaderBytes = maxHeaderBytes
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Refusals another attempt would meet again: not retried, like a 4xx.
			if len(via) >= maxRedirects {
				return final(fmt.Errorf("more than %d redirects", maxRedirects))
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return final(fmt.Errorf("redirect from https to %s refused", req.URL.Redacted()))
			}
			return nil
		},
	}
}

// CachePath is where the last good download is kept.
func (f *Fetcher) CachePath() string { return filepath.Join(f.cfg.Dir, f.cfg.Name+".feed") }

func (f *Fetcher) metaPath() string { return filepath.Join(f.cfg.Dir, f.cfg.Name+".feed.json") }

// URL is the feed's address with any password removed, for logs.
func (f *Fetcher) URL() string { return f.url.Redacted() }

// Cached says whether a cached copy with known origin exists, and when it was downloaded.
func (f *Fetcher) Cached() (fetched time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.meta.Fetched, f.meta.URL != ""
}

// UseCached records that the caller serves the cached copy (at start, without network): its
// download time becomes the last success, so staleness counts from when the data was fresh.
func (f *Fetcher) UseCached() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats.LastSuccess.IsZero() {
		f.stats.LastSuccess = f.meta.Fetched
	}
}

// Forget drops the cached copy's validators, so the next Fetch downloads the feed in full. The
// caller uses it when the cached copy cannot be used: a 304 must never stand for contents it
// does not hold.
func (f *Fetcher) Forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta = meta{}
}

// Stats returns a copy of the counters.
func (f *Fetcher) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Stale says whether the feed has been failing for longer than maxAge at now.
func (s Stats) Stale(now time.Time, maxAge time.Duration) bool {
	return !s.FailingSince.IsZero() && now.Sub(s.FailingSince) > maxAge
}

func (f *Fetcher) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Failed++
	f.stats.LastError = err.Error()
	if f.stats.FailingSince.IsZero() {
		f.stats.FailingSince = time.Now()
	}
}

func (f *Fetcher) succeeded(now time.Time) {
	f.stats.LastSuccess, f.stats.FailingSince, f.stats.LastError = now, time.Time{}, ""
}

// removeTemps deletes this feed's temporary downloads, left behind by a crash.
func (f *Fetcher) removeTemps() {
	matches, _ := filepath.Glob(filepath.Join(f.cfg.Dir, f.cfg.Name+".feed.*.tmp"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// validName says whether s can be a file name stem in Dir: not empty, no separator, no
// leading dot (no hidden files, no "..").
func validName(s string) bool {
	return s != "" && !strings.HasPrefix(s, ".") && !strings.ContainsAny(s, "/\\\x00")
}

// errNotRetryable marks failures that another attempt would repeat (a 404, a body over the
// cap): Fetch gives up at once.
var errNotRetryable = errors.New("not retryable")

// final marks err as not worth another attempt, without adding to its message.
func final(err error) error { return finalError{err} }

type finalError struct{ error }

func (e finalError) Unwrap() []error { return []error{e.error, errNotRetryable} }
