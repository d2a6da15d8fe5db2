package blocklist

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spoaguard/spoaguard/feed"
	"github.com/spoaguard/spoaguard/geoip"
)

// ErrShrunk is the error of a load whose entry count fell by more than the shrink limit.
var ErrShrunk = errors.New("file shrank too much since the last good load; held back")

// ErrClosed is what Reload returns once the Manager is closed.
var ErrClosed = errors.New("blocklist: manager closed")

// ShrinkGuardMinEntries is the size from which the shrink limit applies: a cut of a list this
// big is evidence of a truncated file, while a shorter list is one a person edits by hand.
const ShrinkGuardMinEntries = 100

// Options configure a Manager.
type Options struct {
	PollInterval time.Duration // how often files are checked for changes; default 5s
	// ShrinkLimit holds back a file whose entry count fell by more than this share since its
	// last good load of at least ShrinkGuardMinEntries entries (default 0.5): a feed caught
	// half-written must not wipe a list. Negative: never. Source.MaxShrink overrides it.
	ShrinkLimit float64
	// MaxBytes and MaxEntries are the caps of the sources that set none (Source.MaxBytes,
	// Source.MaxEntries); 0 = DefaultMaxBytes, DefaultMaxEntries.
	MaxBytes   int64
	MaxEntries int
	// LoadTimeout is the time budget of one file's load (default DefaultLoadTimeout): a
	// load that takes longer is refused as a failed one is.
	LoadTimeout time.Duration
	Logger      *slog.Logger // default slog.Default()
	Build       BuildOptions

	// StateDir keeps the last good download of each URL source (in StateDir/feeds), served at
	// the next start without network. "" keeps downloads for the life of the process only.
	StateDir string
	// Feed is the template of every URL source's downloader (timeouts, retries, User-Agent);
	// its Name, URL and Dir are the source's, its MaxBytes the source's cap.
	Feed feed.Config
}

// setDefaults fills in the defaults of the options left zero.
func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.ShrinkLimit == 0 {
		o.ShrinkLimit = 0.5
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
}

// capSource gives s the caps of o for those it sets none of.
func (o *Options) capSource(s *Source) {
	if s.MaxBytes <= 0 {
		s.MaxBytes = o.MaxBytes
	}
	if s.MaxEntries <= 0 {
		s.MaxEntries = o.MaxEntries
	}
}

// SourceStatus is the state of one source, for logs and metrics.
type SourceStatus struct {
	Name   string
	Path   string
	Kind   Kind
	Format Format // as detected at the last good load

	Entries      int // entries in the contents currently served
	Skipped      int // lines skipped at the last good load
	SkippedLines []SkippedLine
	// Unmatched are, for a geoip list, the countries and ASNs of its selection that match no
	// network of the database at the last good load (logged as a warning at each load).
	Unmatched geoip.Selection

	LastGood      time.Time // last successful load
	LastError     string    // last failure ("" if none since the last good load)
	LastErrorTime time.Time
	Loads         uint64 // successful loads
	Failures      uint64 // failed loads (after start, each kept the previous contents)

	LoadTime time.Duration // reading, parsing and checking the contents served
	Bytes    int           // memory of the parsed ranges kept for rebuilds (the snapshot's is in ReloadStats)

	Feed  *feed.Stats // downloads of a URL source; nil for files
	Stale bool        // a URL source whose downloads have failed for longer than its StaleAfter
}

// ReloadStats describe the manager's snapshot builds.
type ReloadStats struct {
	Builds       uint64        // snapshots published
	LastBuild    time.Time     // when the current snapshot was published
	LastDuration time.Duration // parse + build time of the last reload that published a snapshot
	Entries      int           // entries over all sources in the current snapshot
	Snapshot     Stats
}

// Manager owns the sources and publishes snapshots. Snapshot is safe to call from any goroutine
// at any time; Reload and Run may run concurrently (loads are serialised).
//
// Two locks keep a slow or hostile file from stalling anything but its own load: loadMu is
// held while files are read and a snapshot is built; mu guards only what Status and Stats
// report and is held just to copy or update it, never while a file is read. Metrics, health
// and shutdown therefore never wait on a load.
type Manager struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]

	loadMu sync.Mutex     // serialises loads; guards the sources' parsed, staged, seen, inError
	srcs   []*sourceState // fixed at creation
	gc     loadGC         // under loadMu

	mu    sync.Mutex // guards the sources' status, and stats
	stats ReloadStats

	reqMu  sync.Mutex
	next   *reloadRun // the run that Reload callers arriving now join; nil when none waits
	closed chan struct{}
	close  sync.Once

	tmpDir string // downloads of URL sources when there is no StateDir
}

type sourceState struct {
	src     Source
	parsed  *Parsed // last good contents, compacted: in the published snapshot; kept when a reload fails
	staged  *Parsed // parsed by this reload, committed only once a snapshot with it is built
	seen    fileID  // file identity at the last attempt, so an unchanged file is not re-read
	inError bool    // the last attempt failed
	status  SourceStatus
	remote  *remote // the downloader of a URL source; nil for files
}

// reloadRun is one reload that any number of Reload calls wait for.
type reloadRun struct {
	done    chan struct{}
	err     error
	callers int // Reload calls waiting for it (under reqMu)
}

// NewManager loads every source once and publishes the first snapshot. A source that cannot be
// loaded is an error at start-up (a *LoadError naming the file, and the line where relevant);
// all failures are reported together.
func NewManager(sources []Source, opts Options) (*Manager, error) {
	if len(sources) > MaxLists {
		return nil, fmt.Errorf("blocklist: %d sources; at most %d are supported", len(sources), MaxLists)
	}
	opts.setDefaults()
	m := &Manager{opts: opts, log: opts.Logger, closed: make(chan struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	names := map[string]bool{}
	for _, s := range sources {
		if s.Name == "" || s.Path == "" {
			return nil, fmt.Errorf("blocklist: source %q (%s): name and path are required", s.Name, s.Path)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("blocklist: duplicate source name %q", s.Name)
		}
		names[s.Name] = true
		opts.capSource(&s)
		if s.MaxShrink <= 0 {
			s.MaxShrink = opts.ShrinkLimit
		}
		if err := s.checkOptions(); err != nil {
			m.Close()
			return nil, fmt.Errorf("blocklist: source %q: %w", s.Name, err)
		}
		st := &sourceState{src: s, status: SourceStatus{Name: s.Name, Path: s.Path, Kind: s.Kind, Format: s.Format}}
		if s.IsURL() {
			dir, err := m.feedDir()
			if err == nil {
				err = m.newRemote(st, dir)
			}
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("blocklist: source %q: %w", s.Name, err)
			}
		}
		m.srcs = append(m.srcs, st)
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	defer m.gc.restore()
	start := time.Now()
	var errs []error
	for _, st := range m.srcs {
		load := m.load
		if st.remote != nil {
			load = m.loadRemoteAtStart
		}
		if err := load(st, start); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := m.publish(start); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		for _, st := range m.srcs {
			_ = st.settleDownload(false, errors.New("start-up failed"))
		}
		m.Close()
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Snapshot returns the current snapshot: one atomic load. Load it once per batch of lookups.
func (m *Manager) Snapshot() *Snapshot { return m.snap.Load() }

// Close stops Run and makes Reload return ErrClosed; a load in progress finishes on its own,
// within its time budget, and is published. The current snapshot stays in service. Without a
// StateDir, the temporary directory of the downloads is removed.
func (m *Manager) Close() {
	m.close.Do(func() {
		close(m.closed)
		if m.tmpDir != "" {
			_ = os.RemoveAll(m.tmpDir)
		}
	})
}

// load parses one file source; on success its contents replace the previous ones (not yet
// published). The caller holds loadMu.
func (m *Manager) load(st *sourceState, now time.Time) error {
	err := m.loadPath(st, st.src.Path, now)
	if err != nil {
		m.fail(st, err, now)
	}
	return err
}

// loadPath parses the source's contents from path: its file, or a URL source's download or
// cached copy, which pass every check a file passes. Errors name the source's file or URL;
// the caller records them (fail).
func (m *Manager) loadPath(st *sourceState, path string, now time.Time) error {
	m.gc.tighten()
	src := st.src
	src.Path = path
	began := time.Now()
	p, id, err := parseFileStat(src, began.Add(m.opts.LoadTimeout))
	if p != nil {
		p.LoadTime = time.Since(began)
	}
	if le, ok := err.(*LoadError); ok && st.remote != nil {
		le.Path = st.status.Path
	}
	if err != nil {
		if !errors.Is(err, ErrChanged) { // a file caught mid-write is retried at the next poll
			st.seen = id
			if fi, serr := os.Stat(st.src.Path); serr == nil {
				st.seen = idOf(fi)
			}
		}
		return err
	}
	st.seen = id
	if prev := st.parsed; prev != nil && shrunk(prev.Entries, p.Entries, st.src) {
		return &LoadError{Name: st.src.Name, Path: st.status.Path,
			Err: fmt.Errorf("%w: %d entries, was %d (max-shrink %g)", ErrShrunk, p.Entries, prev.Entries, st.src.MaxShrink)}
	}
	p.compact() // before the build, which then reads the merged ranges instead of merging a copy
	st.staged = p
	return nil
}

// shrunk reports whether a list of was entries, now now, lost more than src allows.
func shrunk(was, now int, src Source) bool {
	if src.MaxShrink <= 0 || was < ShrinkGuardMinEntries || (now == 0 && src.AllowEmpty) {
		return false
	}
	return float64(now) < float64(was)*(1-src.MaxShrink)
}

// commit makes a staged load, compacted to what a later build needs, the source's contents
// once a snapshot holding it is published. The caller holds loadMu.
func (m *Manager) commit(st *sourceState, now time.Time) {
	p := st.staged
	st.parsed, st.staged, st.inError = p, nil, false
	m.mu.Lock()
	s := &st.status
	s.Format, s.Entries, s.Skipped, s.SkippedLines = p.Format, p.Entries, p.Skipped, p.SkippedLines
	s.Unmatched = p.Unmatched
	s.LastGood, s.LastError, s.LastErrorTime = now, "", time.Time{}
	s.Loads++
	s.LoadTime, s.Bytes = p.LoadTime, p.Bytes()
	m.mu.Unlock()
	if err := st.settleDownload(true, nil); err != nil {
		m.log.Warn("blocklist: download applied but not kept for the next start", "list", st.src.Name, "err", err)
	}
	attrs := []any{"list", st.src.Name, "path", st.status.Path, "format", p.Format.String(), "entries", p.Entries, "skipped", p.Skipped}
	if p.Skipped > 0 {
		attrs = append(attrs, "first_skipped", p.SkippedLines[0].String())
	}
	m.log.Info("blocklist: loaded", attrs...)
	if !p.Unmatched.Empty() {
		m.log.Warn("blocklist: the geoip selection has countries or ASNs that match no network of the database",
			"list", st.src.Name, "path", st.status.Path, "unmatched", p.Unmatched.String(), "entries", p.Entries)
	}
}

// fail records a failed load and logs what the list serves instead: its previous contents
// when it has any (a reload); otherwise nothing, and NewManager fails, since it starts only
// with every list loaded. The caller holds loadMu.
func (m *Manager) fail(st *sourceState, err error, now time.Time) {
	m.record(st, err, now)
	if st.parsed != nil {
		m.log.Warn("blocklist: load failed; keeping the previous contents", "list", st.src.Name, "err", err)
		return
	}
	m.log.Error("blocklist: load failed; the list has no previous contents to keep, and the lists do not start without it",
		"list", st.src.Name, "err", err)
}

// record counts a failed load in the source's status, without a log. The caller holds loadMu.
func (m *Manager) record(st *sourceState, err error, now time.Time) {
	st.inError = true
	m.mu.Lock()
	st.status.LastError, st.status.LastErrorTime = err.Error(), now
	st.status.Failures++
	m.mu.Unlock()
}

// publish builds a snapshot from the staged loads and the other sources' last good contents
// and swaps it in. If the build fails, the staged loads are dropped and reported as failures
// of their sources: the previous snapshot stays, and so do the contents it was built from, so
// one unbuildable file cannot block later reloads of the others. The caller holds loadMu.
func (m *Manager) publish(start time.Time) error {
	lists := make([]List, len(m.srcs))
	entries, dropped := 0, false
	for i, st := range m.srcs {
		p := st.parsed
		if st.staged != nil {
			p = st.staged
			if st.parsed != nil {
				// The build does not need the ranges the staged load replaces: dropped now,
				// they leave a reload's peak with one copy of the list's ranges beside the
				// snapshot in service instead of two. A failed build reads them back from it.
				st.parsed.v4, st.parsed.v6, dropped = nil, nil, true
			}
		}
		lists[i] = List{Name: st.src.Name, Kind: st.src.Kind, Parsed: p}
		if p != nil {
			entries += p.Entries
		}
	}
	if dropped {
		reclaim()
	}
	s, err := Build(lists, m.opts.Build)
	if err != nil {
		served := m.snap.Load()
		for i, st := range m.srcs {
			if st.staged != nil {
				if st.parsed != nil {
					st.parsed.v4, st.parsed.v6 = served.listRanges(i)
				}
				st.staged = nil
				lerr := &LoadError{Name: st.src.Name, Path: st.status.Path, Err: fmt.Errorf("snapshot build: %w", err)}
				_ = st.settleDownload(false, lerr)
				m.fail(st, lerr, start)
			}
		}
		return err
	}
	m.snap.Store(s)
	for _, st := range m.srcs {
		if st.staged != nil {
			m.commit(st, start)
		}
	}
	now := time.Now()
	m.mu.Lock()
	m.stats.Builds++
	m.stats.LastBuild, m.stats.LastDuration = now, now.Sub(start)
	m.stats.Entries = entries
	m.stats.Snapshot = s.Stats()
	m.mu.Unlock()
	releaseMemory()
	return nil
}

// Status returns a copy of every source's state, in source order. It never waits on a load.
func (m *Manager) Status() []SourceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SourceStatus, len(m.srcs))
	now := time.Now()
	for i, st := range m.srcs {
		out[i] = st.status
		if st.remote != nil {
			fs := st.remote.f.Stats()
			out[i].Feed, out[i].Stale = &fs, fs.Stale(now, st.src.StaleAfter)
		}
	}
	return out
}

// Stats returns the manager's build statistics. It never waits on a load.
func (m *Manager) Stats() ReloadStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}
