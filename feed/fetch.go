package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrTooLarge is a body over Config.MaxBytes.
var ErrTooLarge = errors.New("body larger than the size cap")

// Download is a body fetched and written to a temporary file, not yet trusted. Exactly one of
// Commit or Reject must be called.
type Download struct {
	Path string // the temporary file holding the (decompressed) body
	Size int64

	f             *Fetcher
	etag, lastMod string
	done          bool
}

// Fetch downloads the feed if it changed since the cached copy. It returns (nil, nil) when the
// server answers 304 Not Modified, a Download to check otherwise. Network errors, 5xx, 408 and
// 429 answers and bodies cut short are retried up to Config.Attempts times with exponential
// backoff and jitter (a Retry-After within MaxBackoff is honoured); other failures are not.
// An error is the reason alone ("HTTP 404 Not Found"): the caller names the feed and its URL.
func (f *Fetcher) Fetch(ctx context.Context) (*Download, error) {
	var err error
	wait := f.cfg.Backoff
	for attempt := 1; ; attempt++ {
		var d *Download
		var retryAfter time.Duration
		d, retryAfter, err = f.attempt(ctx)
		if err == nil {
			return d, nil
		}
		if attempt >= f.cfg.Attempts || errors.Is(err, errNotRetryable) || ctx.Err() != nil {
			break
		}
		// Full jitter over the upper half: many agents restarted together do not retry in step.
		sleep := wait/2 + rand.N(wait/2+1)
		if retryAfter > sleep && retryAfter <= f.cfg.MaxBackoff {
			sleep = retryAfter
		}
		f.log.Debug("feed: retrying", "list", f.cfg.Name, "url", f.URL(), "attempt", attempt, "in", sleep, "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			err = errors.Join(err, ctx.Err())
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(wait*2, f.cfg.MaxBackoff)
	}
	// The caller names the feed and its URL (blocklist's LoadError): the error is the reason
	// alone, without net/http's `Get "URL":` for a request to the feed's own URL.
	if ue, ok := err.(*url.Error); ok && ue.URL == f.cfg.URL {
		err = ue.Err
	}
	f.failed(err)
	return nil, err
}

// attempt is one request. It returns how long the server asked to wait, if it did.
func (f *Fetcher) attempt(ctx context.Context) (*Download, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.cfg.URL, nil)
	if err != nil {
		return nil, 0, final(err)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	f.mu.Lock()
	m := f.meta
	f.mu.Unlock()
	if m.ETag != "" {
		req.Header.Set("If-None-Match", m.ETag)
	}
	if m.LastModified != "" {
		req.Header.Set("If-Modified-Since", m.LastModified)
	}
	// Accept-Encoding is left to the transport, which then asks for gzip and decompresses
	// transparently; a feed stored compressed (.gz) arrives as is and the list parser detects it.
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && m.URL != "":
		f.mu.Lock()
		f.stats.NotModified++
		f.succeeded(time.Now())
		f.mu.Unlock()
		return nil, 0, nil
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return nil, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("HTTP %s", resp.Status)
	default:
		return nil, 0, final(fmt.Errorf("HTTP %s", resp.Status))
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, 0, final(fmt.Errorf("%w: Content-Length %d, cap %d", ErrTooLarge, resp.ContentLength, f.cfg.MaxBytes))
	}
	d, err := f.save(resp)
	if err != nil {
		return nil, 0, err
	}
	return d, 0, nil
}

// save writes the body to a temporary file in Dir (so that Commit is a rename), refusing a body
// over the cap or shorter than its Content-Length.
func (f *Fetcher) save(resp *http.Response) (*Download, error) {
	tmp, err := os.CreateTemp(f.cfg.Dir, f.cfg.Name+".feed.*.tmp")
	if err != nil {
		return nil, final(err)
	}
	fail := func(err error) (*Download, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	f.mu.Lock()
	f.stats.BytesTotal += uint64(n)
	f.mu.Unlock()
	switch {
	case n > f.cfg.MaxBytes:
		return fail(final(fmt.Errorf("%w (%d bytes)", ErrTooLarge, f.cfg.MaxBytes)))
	case err != nil:
		return fail(fmt.Errorf("body after %d bytes: %w", n, err))
	case !resp.Uncompressed && resp.ContentLength >= 0 && n != resp.ContentLength:
		// net/http reports a short body as io.ErrUnexpectedEOF already; this is the backstop.
		return fail(fmt.Errorf("body of %d bytes, Content-Length %d: %w", n, resp.ContentLength, io.ErrUnexpectedEOF))
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	return &Download{Path: tmp.Name(), Size: n, f: f,
		etag: etag(resp.Header.Get("ETag")), lastMod: lastModified(resp.Header.Get("Last-Modified"))}, nil
}

// etag is the ETag to send back in If-None-Match, or "" when v is none a server should send:
// longer than maxValidatorLen, or not a quoted (possibly weak) tag of visible characters.
func etag(v string) string {
	t := strings.TrimPrefix(v, "W/")
	if len(v) > maxValidatorLen || len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
		return ""
	}
	for i := 1; i < len(t)-1; i++ {
		if c := t[i]; c <= ' ' || c == '"' || c == 0x7f {
			return ""
		}
	}
	return v
}

// lastModified is the Last-Modified to send back in If-Modified-Since, or "" when v is not an
// HTTP date: a server that sends garbage gets unconditional requests.
func lastModified(v string) string {
	if len(v) > maxValidatorLen {
		return ""
	}
	if _, err := http.ParseTime(v); err != nil {
		return ""
	}
	return v
}

// Commit makes the download the cached copy (rename, then the validators) and counts it as an
// update. The validators are remembered only now: a rejected download is fetched again in full.
func (d *Download) Commit() error {
	if d.done {
		return errors.New("feed: download already committed or rejected")
	}
	d.done = true
	f := d.f
	if err := os.Rename(d.Path, f.CachePath()); err != nil {
		os.Remove(d.Path)
		err = fmt.Errorf("feed %s: keeping the download: %w", f.cfg.Name, err)
		f.failed(err)
		return err
	}
	now := time.Now()
	m := meta{URL: f.cfg.URL, ETag: d.etag, LastModified: d.lastMod, Fetched: now}
	err := writeMeta(f.metaPath(), m)
	syncDir(f.cfg.Dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta = m
	f.stats.Updated++
	f.stats.Bytes = d.Size
	f.succeeded(now)
	if err != nil {
		return fmt.Errorf("feed %s: validators not saved (the next start downloads in full): %w", f.cfg.Name, err)
	}
	return nil
}

// Reject deletes the download and counts a failed fetch with its reason.
func (d *Download) Reject(reason error) {
	if d.done {
		return
	}
	d.done = true
	os.Remove(d.Path)
	d.f.failed(fmt.Errorf("feed %s: download refused: %w", d.f.cfg.Name, reason))
}

// retryAfter parses a Retry-After header given in seconds (the HTTP-date form is ignored).
// Values past maxRetryAfter are maxRetryAfter: any of them is beyond every backoff cap, and a
// larger count of seconds would overflow a Duration into a short wait.
func retryAfter(v string) time.Duration {
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second
	}
	return 0
}

// maxRetryAfter is the longest Retry-After retryAfter reports: a year.
const maxRetryAfter = 365 * 24 * time.Hour
