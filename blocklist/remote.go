package blocklist

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spoaguard/spoaguard/feed"
)

// Defaults for sources downloaded by URL.
const (
	DefaultRefresh    = time.Hour
	DefaultStaleAfter = 24 * time.Hour
)

// IsURL says whether the source is downloaded: its Path is an http:// or https:// URL.
func (s *Source) IsURL() bool {
	p := strings.ToLower(s.Path)
	return strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")
}

// Check refuses option combinations that cannot mean what the user wrote, as NewManager and
// ParseFile do, for a configuration to report them where they were written. s is not changed.
func (s Source) Check() error { return s.checkOptions() }

// checkOptions refuses option combinations that cannot mean what the user wrote, and fills in
// what follows from the others (a selection implies FormatMMDB; URL defaults). MinCount on a
// FormatAuto source is checked against the format detected at each load.
func (s *Source) checkOptions() error {
	if (len(s.Countries) > 0 || len(s.ASNs) > 0) && s.Format == FormatAuto {
		s.Format = FormatMMDB
	}
	switch {
	case strings.Contains(s.Path, "://") && !s.IsURL():
		return fmt.Errorf("%q: only http:// and https:// URLs are supported", s.Path)
	case s.Format == FormatMMDB && s.selection().Empty():
		return errors.New("format mmdb needs countries or asns")
	case s.Format != FormatMMDB && (!s.selection().Empty() || s.Invert):
		return fmt.Errorf("countries, asns and invert apply to format mmdb only, not %s", s.Format)
	case s.MinCount > 0 && s.Format != FormatIpsum && s.Format != FormatAuto:
		return fmt.Errorf("min-count applies to format ipsum only, not %s", s.Format)
	case !s.IsURL() && (s.Refresh != 0 || s.StaleAfter != 0):
		return errors.New("refresh and stale-after apply to http:// and https:// sources only")
	case s.Refresh < 0 || s.StaleAfter < 0:
		return errors.New("refresh and stale-after must be positive")
	}
	if s.IsURL() {
		if s.Refresh == 0 {
			s.Refresh = DefaultRefresh
		}
		if s.StaleAfter == 0 {
			s.StaleAfter = DefaultStaleAfter
		}
	}
	return nil
}

// fetchOnce downloads a URL source into a temporary directory, parses it, and removes it.
func fetchOnce(src Source, opts Options) (*Parsed, error) {
	lerr := func(path string, err error) error { return &LoadError{Name: src.Name, Path: path, Err: err} }
	dir, err := os.MkdirTemp("", "spoaguard-fetch-")
	if err != nil {
		return nil, lerr(src.Path, err)
	}
	defer os.RemoveAll(dir)
	cfg := opts.Feed
	cfg.Name, cfg.URL, cfg.Dir, cfg.MaxBytes = src.Name, src.Path, dir, src.maxBytes()
	f, err := feed.New(cfg)
	if err != nil {
		return nil, lerr(src.Path, err)
	}
	d, err := f.Fetch(context.Background())
	if err == nil && d == nil {
		err = errors.New("the server answered 304 Not Modified to an unconditional request")
	}
	if err != nil {
		return nil, lerr(f.URL(), err)
	}
	defer d.Reject(errors.New("not kept"))
	s := src
	s.Path = d.Path
	p, _, err := parseFileStat(s, time.Now().Add(opts.LoadTimeout))
	if le, ok := err.(*LoadError); ok {
		le.Path = f.URL()
	}
	return p, err
}

// remote is the download side of a URL source.
type remote struct {
	f        *feed.Fetcher
	download *feed.Download // staged with the source's contents; committed or rejected with them
	first    time.Duration  // delay of the first refresh after start
	wake     chan struct{}  // a reload asks for a download now
}

// newRemote makes the fetcher of a URL source. Downloads are kept in opts.StateDir/feeds, or
// in dir (a private temporary directory, then nothing outlives the process).
func (m *Manager) newRemote(st *sourceState, dir string) error {
	cfg := m.opts.Feed
	cfg.Name, cfg.URL, cfg.Dir, cfg.Logger = st.src.Name, st.src.Path, dir, m.log
	cfg.MaxBytes = st.src.maxBytes()
	f, err := feed.New(cfg)
	if err != nil {
		return err
	}
	st.remote = &remote{f: f, wake: make(chan struct{}, 1)}
	st.status.Path = f.URL()
	return nil
}

// feedDir is where downloads are kept: the state directory, or a temporary one made on first
// use and removed by Close.
func (m *Manager) feedDir() (string, error) {
	if m.opts.StateDir != "" {
		return filepath.Join(m.opts.StateDir, "feeds"), nil
	}
	if m.tmpDir == "" {
		d, err := os.MkdirTemp("", "spoaguard-feeds-")
		if err != nil {
			return "", err
		}
		m.tmpDir = d
		m.log.Warn("blocklist: no state directory: downloaded lists are not kept across restarts", "dir", d)
	}
	return m.tmpDir, nil
}

// loadRemoteAtStart gives a URL source its first contents: the cached copy of the last good
// download when there is one (at once, without network, and the first refresh comes when that
// copy is due), or else a download now.
func (m *Manager) loadRemoteAtStart(st *sourceState, now time.Time) error {
	r := st.remote
	if at, ok := r.f.Cached(); ok {
		err := m.loadPath(st, r.f.CachePath(), now)
		if err == nil {
			r.f.UseCached()
			r.first = max(0, st.src.Refresh-now.Sub(at))
			m.log.Info("blocklist: serving the cached copy of the last good download until the feed is refreshed",
				"list", st.src.Name, "url", r.f.URL(), "downloaded", at.Format(time.RFC3339), "refresh_in", r.first.Round(time.Second))
			return nil
		}
		r.f.Forget() // the copy is unusable: the next request must not be conditional on it
		m.record(st, err, now)
		m.log.Warn("blocklist: the cached copy cannot be used; downloading", "list", st.src.Name, "err", err)
	}
	d, err := r.f.Fetch(context.Background()) // bounded by the feed's attempts and timeouts
	if err == nil && d == nil {
		err = errors.New("the server answered 304 Not Modified to an unconditional request")
	}
	if err != nil {
		err = &LoadError{Name: st.src.Name, Path: r.f.URL(), Err: err}
		m.fail(st, err, now)
		return err
	}
	r.first = st.src.Refresh
	return m.loadDownload(st, d, now)
}

// loadDownload checks a download exactly as a file is checked (parse, completeness markers, the
// shrink guard) and stages it; the download becomes the cached copy only when a snapshot with
// it is published (commit).
func (m *Manager) loadDownload(st *sourceState, d *feed.Download, now time.Time) error {
	if err := m.loadPath(st, d.Path, now); err != nil {
		d.Reject(err)
		m.fail(st, err, now)
		return err
	}
	st.remote.download = d
	return nil
}

// settleDownload commits or rejects the download staged with a source's contents.
func (st *sourceState) settleDownload(published bool, reason error) error {
	if st.remote == nil || st.remote.download == nil {
		return nil
	}
	d := st.remote.download
	st.remote.download = nil
	if !published {
		d.Reject(reason)
		return nil
	}
	return d.Commit()
}

// refreshLoop downloads a URL source every Refresh (with a little jitter, so that agents
// started together do not fetch together), or at once when woken by Reload, until ctx is done.
func (m *Manager) refreshLoop(ctx context.Context, st *sourceState) {
	r := st.remote
	wait := r.first
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
			t.Stop()
		case <-t.C:
		}
		m.refresh(ctx, st)
		wait = st.src.Refresh - st.src.Refresh/20 + rand.N(st.src.Refresh/10+1)
	}
}

// refresh fetches a URL source once and, if it changed, loads and publishes it.
func (m *Manager) refresh(ctx context.Context, st *sourceState) {
	d, err := st.remote.f.Fetch(ctx)
	if ctx.Err() != nil {
		if d != nil {
			d.Reject(ctx.Err())
		}
		return
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	defer m.gc.restore() // the load tightens GOGC
	now := time.Now()
	if err != nil {
		m.fail(st, &LoadError{Name: st.src.Name, Path: st.remote.f.URL(), Err: err}, now)
		return
	}
	if d == nil {
		m.log.Debug("blocklist: feed not modified", "list", st.src.Name)
		return
	}
	if m.loadDownload(st, d, now) == nil {
		if err := m.publish(now); err != nil {
			m.log.Error("blocklist: snapshot build failed; keeping the previous one", "err", err)
		}
	}
}

// startRemotes starts the refresh loop of every URL source, each until ctx is done.
func (m *Manager) startRemotes(ctx context.Context) {
	for _, st := range m.srcs {
		if st.remote != nil {
			go m.refreshLoop(ctx, st)
		}
	}
}

// wakeRemotes asks every URL source's loop for a download now (SIGHUP).
func (m *Manager) wakeRemotes() {
	for _, st := range m.srcs {
		if st.remote != nil {
			select {
			case st.remote.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Stale returns the names of the URL sources whose downloads have failed for longer than their
// StaleAfter: their contents are still served, but readiness should say they are old.
func (m *Manager) Stale() []string {
	var out []string
	now := time.Now()
	for _, st := range m.srcs {
		if st.remote != nil && st.remote.f.Stats().Stale(now, st.src.StaleAfter) {
			out = append(out, st.src.Name)
		}
	}
	return out
}
