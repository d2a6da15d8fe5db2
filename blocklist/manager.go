package blocklist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrShrunk is the error of a load whose entry count fell by more than the shrink limit.
var ErrShrunk = errors.New("file shrank too much since the last good load; held back")

// Options configure a Manager.
type Options struct {
	PollInterval time.Duration // how often files are checked for changes; default 5s
	// ShrinkLimit holds back a file whose entry count fell by more than this share since its last
	// good load (default 0.5): a feed caught half-written must not wipe a list. Negative: never.
	ShrinkLimit float64
	Logger      *slog.Logger // default slog.Default()
	Build       BuildOptions
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

	LastGood      time.Time // last successful load
	LastError     string    // last failure ("" if none since the last good load)
	LastErrorTime time.Time
	Loads         uint64 // successful loads
	Failures      uint64 // failed loads (the previous contents were kept)
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
// at any time; Reload and Run may run concurrently (reloads are serialised).
type Manager struct {
	opts Options
	log  *slog.Logger
	snap atomic.Pointer[Snapshot]

	mu    sync.Mutex // serialises reloads; guards srcs and stats
	srcs  []*sourceState
	stats ReloadStats
}

type sourceState struct {
	src    Source
	parsed *Parsed // last good contents: in the published snapshot; kept when a reload fails
	staged *Parsed // parsed by this reload, committed only once a snapshot with it is built
	seen   fileID  // file identity at the last attempt, so an unchanged bad file is not re-read
	status SourceStatus
}

// NewManager loads every source once and publishes the first snapshot. A source that cannot be
// loaded is an error at start-up (a *LoadError naming the file, and the line where relevant);
// all failures are reported together.
func NewManager(sources []Source, opts Options) (*Manager, error) {
	if len(sources) == 0 {
		return nil, errors.New("blocklist: no sources")
	}
	if len(sources) > MaxLists {
		return nil, fmt.Errorf("blocklist: %d sources; at most %d are supported", len(sources), MaxLists)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.ShrinkLimit == 0 {
		opts.ShrinkLimit = 0.5
	}
	m := &Manager{opts: opts, log: opts.Logger}
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
		m.srcs = append(m.srcs, &sourceState{src: s, status: SourceStatus{Name: s.Name, Path: s.Path, Kind: s.Kind, Format: s.Format}})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	var errs []error
	for _, st := range m.srcs {
		if err := m.load(st, start); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := m.publish(start); err != nil {
		return nil, err
	}
	return m, nil
}

// Snapshot returns the current snapshot: one atomic load. Load it once per batch of lookups.
func (m *Manager) Snapshot() *Snapshot { return m.snap.Load() }

// Reload re-reads every source now (SIGHUP). Sources that fail keep their previous contents; the
// failures are returned joined, and recorded in Status.
func (m *Manager) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	var errs []error
	loaded := false
	for _, st := range m.srcs {
		if err := m.load(st, start); err != nil {
			errs = append(errs, err)
		} else {
			loaded = true
		}
	}
	if loaded {
		if err := m.publish(start); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run polls the sources' identity (device, inode, size, mtime) every PollInterval and reloads
// the ones that changed, until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.poll()
		}
	}
}

// poll reloads the sources whose file identity changed since the last attempt.
func (m *Manager) poll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	loaded := false
	for _, st := range m.srcs {
		fi, err := os.Stat(st.src.Path)
		if err != nil {
			if st.seen != (fileID{}) { // report a vanished file once, keep serving its contents
				st.seen = fileID{}
				m.fail(st, &LoadError{Name: st.src.Name, Path: st.src.Path, Err: err}, start)
			}
			continue
		}
		if idOf(fi) == st.seen {
			continue
		}
		if m.load(st, start) == nil {
			loaded = true
		}
	}
	if loaded {
		if err := m.publish(start); err != nil {
			m.log.Error("blocklist: snapshot build failed; keeping the previous one", "err", err)
		}
	}
}

// load parses one source; on success its contents replace the previous ones (not yet published).
func (m *Manager) load(st *sourceState, now time.Time) error {
	p, id, err := parseFileStat(st.src)
	if err != nil {
		if !errors.Is(err, ErrChanged) { // a file caught mid-write is retried at the next poll
			st.seen = id
			if fi, serr := os.Stat(st.src.Path); serr == nil {
				st.seen = idOf(fi)
			}
		}
		m.fail(st, err, now)
		return err
	}
	st.seen = id
	if prev := st.parsed; prev != nil && m.opts.ShrinkLimit > 0 &&
		float64(p.Entries) < float64(prev.Entries)*(1-m.opts.ShrinkLimit) {
		err := &LoadError{Name: st.src.Name, Path: st.src.Path,
			Err: fmt.Errorf("%w: %d entries, was %d", ErrShrunk, p.Entries, prev.Entries)}
		m.fail(st, err, now)
		return err
	}
	st.staged = p
	return nil
}

// commit makes a staged load the source's contents, once a snapshot holding it is published.
func (m *Manager) commit(st *sourceState, now time.Time) {
	p := st.staged
	st.parsed, st.staged = p, nil
	s := &st.status
	s.Format, s.Entries, s.Skipped, s.SkippedLines = p.Format, p.Entries, p.Skipped, p.SkippedLines
	s.LastGood, s.LastError, s.LastErrorTime = now, "", time.Time{}
	s.Loads++
	attrs := []any{"list", st.src.Name, "path", st.src.Path, "format", p.Format.String(), "entries", p.Entries, "skipped", p.Skipped}
	if p.Skipped > 0 {
		attrs = append(attrs, "first_skipped", p.SkippedLines[0].String())
	}
	m.log.Info("blocklist: loaded", attrs...)
}

func (m *Manager) fail(st *sourceState, err error, now time.Time) {
	st.status.LastError, st.status.LastErrorTime = err.Error(), now
	st.status.Failures++
	m.log.Warn("blocklist: load failed; keeping the previous contents", "list", st.src.Name, "err", err)
}

// publish builds a snapshot from the staged loads and the other sources' last good contents
// and swaps it in. If the build fails, the staged loads are dropped and reported as failures
// of their sources: the previous snapshot stays, and so do the contents it was built from, so
// one unbuildable file cannot block later reloads of the others.
func (m *Manager) publish(start time.Time) error {
	lists := make([]List, len(m.srcs))
	entries := 0
	for i, st := range m.srcs {
		p := st.parsed
		if st.staged != nil {
			p = st.staged
		}
		lists[i] = List{Name: st.src.Name, Kind: st.src.Kind, Parsed: p}
		if p != nil {
			entries += p.Entries
		}
	}
	s, err := Build(lists, m.opts.Build)
	if err != nil {
		for _, st := range m.srcs {
			if st.staged != nil {
				st.staged = nil
				m.fail(st, &LoadError{Name: st.src.Name, Path: st.src.Path, Err: fmt.Errorf("snapshot build: %w", err)}, start)
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
	m.stats.Builds++
	m.stats.LastBuild, m.stats.LastDuration = now, now.Sub(start)
	m.stats.Entries = entries
	m.stats.Snapshot = s.Stats()
	return nil
}

// Status returns a copy of every source's state, in source order.
func (m *Manager) Status() []SourceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SourceStatus, len(m.srcs))
	for i, st := range m.srcs {
		out[i] = st.status
	}
	return out
}

// Stats returns the manager's build statistics.
func (m *Manager) Stats() ReloadStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}
