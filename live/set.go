package live

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
)

// Store keeps the live set across restarts (an embedded database in the state directory,
// or a shared one). The Set calls it from one goroutine at a time.
type Store interface {
	// Load returns every stored entry, in any order.
	Load() ([]Entry, error)
	// Apply stores put (replacing entries with the same key) and removes the entries with
	// the keys in del, all or nothing. The change must be durable when it returns nil.
	Apply(put []*Entry, del []blocklist.Entry) error
}

// Options configure a Set; the zero value is an empty set kept in memory only.
type Options struct {
	Store   Store        // nil: nothing survives a restart
	Metrics *metrics.Set // default: a private set
	Logger  *slog.Logger // default: slog.Default()
	Now     func() time.Time
	// MaxEntries bounds the entries a batch may grow the set to (0: DefaultMaxEntries); see
	// ErrFull.
	MaxEntries int
	// Thread, when set, is called first by the goroutine that applies the batches and the
	// expiries, which lives until Close: it may lock the goroutine to its OS thread, as
	// background.Priority.Lower does to lower that thread's priority.
	Thread func()
}

// DefaultMaxEntries is the default of Options.MaxEntries: ten times the 100,000 entries of
// one POST that the API takes, about 270 MB of heap (BenchmarkMemory1M: 281 bytes an entry
// with an expiry and a comment).
const DefaultMaxEntries = 1_000_000

// ErrFull is wrapped by the error of a batch that would grow the set past Options.MaxEntries.
// Such a batch changes nothing. A batch that does not grow the set (updates, removals, as
// many removals as additions) is never refused, so that a set over its limit, loaded from a
// store written under a higher one, can always shrink; nothing is dropped to make room.
var ErrFull = errors.New("the live set is full")

// Counts is what one Apply did.
type Counts struct{ Added, Updated, Removed int }

// maxRound bounds the requests coalesced into one round.
const maxRound = 1024

// maxExpiryWait is the longest the set sleeps while an entry is due to expire: the timer is
// set to the entry's time, and this bounds the lateness a wall-clock step could cause.
const maxExpiryWait = time.Second

// expiryGap is the least time between two rounds of expiries: entries expiring close together
// (a burst of bans with one ttl) are removed in one round, at most this late. It also sets how
// large a round of a steady stream of expiries is, and so how long it holds the core: on a
// core shared with an event loop, the loop's thread waits while the round runs. At 10k bans a
// second with 1 s ttls, 50 ms made rounds of 500 expiries that ran for 1.0–1.6 ms each; 10 ms
// makes rounds of 100 (see PERFORMANCE.md, "live set under load").
const expiryGap = 10 * time.Millisecond

// expiryShare bounds the time rounds of expiries take from the set's goroutine, and from the
// store: after a round that took d (a store's synced write included), the next one waits at
// least expiryShare times d, so that at most 1/(expiryShare+1) of the time goes to them. With
// a state directory a round of expiries is a synced write: 0.8 ms for 100 of them on this
// machine's disk, and ten times that on a slow one. maxExpiryGap caps the wait, so that an
// entry still stops matching within a second of its time.
const (
	expiryShare  = 4
	maxExpiryGap = 500 * time.Millisecond
)

// expiryGapAfter is the least time from a round of expiries that took d to the next.
func expiryGapAfter(d time.Duration) time.Duration {
	return min(max(expiryGap, expiryShare*d), maxExpiryGap)
}

// Set is the live set. Apply and Table are safe for concurrent use.
type Set struct {
	opts  Options
	table atomic.Pointer[Table]
	reqs  chan *request
	quit  chan struct{}
	done  chan struct{}

	added, updated, deleted, expired *metrics.Counter
	refused                          *metrics.Counter // batches refused by ErrFull
	compactIndex, compactTable       *metrics.Counter // compactions (see compact.go)
	roundTime                        *metrics.Histogram
	gauges                           map[string]bool // the spoaguard_live_entries series registered

	exp        expiries      // owned by the goroutine that applies changes
	lastExpiry time.Time     // when it last removed expired entries
	expiryTook time.Duration // how long that round took
}

type request struct {
	changes []Change
	counts  Counts
	err     error
	done    chan struct{}
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("live: the set is closed")

// Open loads the store's entries, drops those that have expired, publishes the first Table
// and starts the goroutine that applies changes and expiries.
func Open(opts Options) (*Set, error) {
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	m := opts.Metrics
	s := &Set{
		opts:         opts,
		reqs:         make(chan *request),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		added:        m.GetOrCreateCounter(`spoaguard_live_changes_total{op="add"}`),
		updated:      m.GetOrCreateCounter(`spoaguard_live_changes_total{op="update"}`),
		deleted:      m.GetOrCreateCounter(`spoaguard_live_changes_total{op="delete"}`),
		expired:      m.GetOrCreateCounter(`spoaguard_live_changes_total{op="expire"}`),
		refused:      m.GetOrCreateCounter(`spoaguard_live_refused_total{reason="full"}`),
		compactIndex: m.GetOrCreateCounter(`spoaguard_live_compactions_total{part="index"}`),
		compactTable: m.GetOrCreateCounter(`spoaguard_live_compactions_total{part="table"}`),
		roundTime:    m.GetOrCreateHistogram(`spoaguard_live_apply_duration_seconds`),
	}
	var entries []Entry
	if opts.Store != nil {
		stored, err := opts.Store.Load()
		if err != nil {
			return nil, err
		}
		now := opts.Now()
		var gone []blocklist.Entry
		for _, e := range stored {
			if e.Expired(now) {
				gone = append(gone, e.Addr)
				continue
			}
			entries = append(entries, e)
		}
		if len(gone) > 0 {
			if err := opts.Store.Apply(nil, gone); err != nil {
				return nil, fmt.Errorf("removing %d expired live entries: %w", len(gone), err)
			}
			s.expired.Add(len(gone))
		}
	}
	slices.SortFunc(entries, func(a, b Entry) int { return compareAddr(a.Addr, b.Addr) })
	entries = slices.CompactFunc(entries, func(a, b Entry) bool { return a.Addr == b.Addr })
	t, err := buildTable(entries)
	if err != nil {
		return nil, err
	}
	s.publish(t)
	s.exp.fill(t.idx)
	limit := opts.MaxEntries
	m.GetOrCreateGauge(`spoaguard_live_entries_limit`, func() float64 { return float64(limit) })
	if n := t.Len(); n > limit {
		opts.Logger.Warn("live set: the stored entries are more than its limit; they are all kept, and batches that add entries are refused until it is below it",
			"entries", n, "limit", limit)
	}
	go s.run()
	return s, nil
}

// Table returns the table in force: one atomic load.
func (s *Set) Table() *Table { return s.table.Load() }

// Now is the set's clock (Options.Now), the one its entries expire by.
func (s *Set) Now() time.Time { return s.opts.Now() }

// Apply applies a batch of changes, all or nothing, and returns once they are durable (with a
// Store) and in force: a Lookup that starts after Apply returns sees them. Changes to one key
// within a batch apply in order. A Put without Created gets the current time.
//
// Concurrent batches are coalesced into one store write and one table build.
func (s *Set) Apply(changes []Change) (Counts, error) {
	now := s.opts.Now()
	// A copy, so that the defaults filled in below leave the caller's slice as it was.
	changes = slices.Clone(changes)
	for i := range changes {
		c := &changes[i]
		if !c.Entry.Addr.First.IsValid() {
			return Counts{}, fmt.Errorf("change %d: no address", i)
		}
		if c.Op == Put {
			if c.Entry.List == "" {
				c.Entry.List = DefaultList
			}
			if c.Entry.Created.IsZero() {
				c.Entry.Created = now
			}
		}
	}
	r := &request{changes: changes, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return Counts{}, ErrClosed
	}
	<-r.done
	if errors.Is(r.err, ErrFull) {
		s.refused.Inc()
	}
	return r.counts, r.err
}

// Room returns nil when the set can take a batch that Table.Count reports as c, and otherwise
// the error Apply would return, wrapping ErrFull: for a writer that must refuse a batch before
// it applies it, such as a fleet's agent writing to the shared set.
func (s *Set) Room(c Counts) error {
	n := s.Table().Len()
	if grow := c.Added - c.Removed; grow > 0 && n+grow > s.opts.MaxEntries {
		s.refused.Inc()
		return s.fullError(n, grow)
	}
	return nil
}

// MaxEntries is the most entries a batch may grow the set to (Options.MaxEntries).
func (s *Set) MaxEntries() int { return s.opts.MaxEntries }

func (s *Set) fullError(n, more int) error {
	return fmt.Errorf("%w: it holds %d entries, and %d more would pass its limit of %d", ErrFull, n, more, s.opts.MaxEntries)
}

// Close stops the goroutine that applies changes and expiries. Apply fails afterwards; the
// last Table stays readable.
func (s *Set) Close() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}

func (s *Set) run() {
	defer close(s.done)
	if s.opts.Thread != nil {
		s.opts.Thread()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.arm(timer)
		select {
		case r := <-s.reqs:
			round := []*request{r}
		drain:
			for len(round) < maxRound {
				select {
				case r := <-s.reqs:
					round = append(round, r)
				default:
					break drain
				}
			}
			s.applyRound(round)
		case <-timer.C:
			s.expire()
		case <-s.quit:
			return
		}
	}
}

// arm sets timer to the next expiry, at most maxExpiryWait and at least expiryGapAfter the
// last round of expiries.
func (s *Set) arm(timer *time.Timer) {
	next := s.exp.next(s.table.Load())
	wait := time.Hour
	if !next.IsZero() {
		now := s.opts.Now()
		wait = min(max(next.Sub(now), s.lastExpiry.Add(expiryGapAfter(s.expiryTook)).Sub(now), 0), maxExpiryWait)
	}
	timer.Reset(wait)
}

// applyRound applies the requests of one round. When the round as a whole fails (too many
// lists, or the store refusing it), each request is applied alone so that only the guilty
// ones fail.
func (s *Set) applyRound(round []*request) {
	start := time.Now()
	defer func() {
		s.roundTime.UpdateDuration(start)
		for _, r := range round {
			close(r.done)
		}
	}()
	err := s.commit(round, false)
	if err == nil || len(round) == 1 {
		for _, r := range round {
			if err != nil {
				r.err, r.counts = err, Counts{}
			}
		}
		return
	}
	for _, r := range round {
		one := []*request{r}
		if err := s.commit(one, false); err != nil {
			r.err, r.counts = err, Counts{}
		}
	}
}

// tagged is a change of a round with the index of its request, and its address's key.
type tagged struct {
	c   *Change
	req int
	seq int // order in the round
	k   key
}

// commit merges the requests' changes into the table in force, stores them and publishes the
// new table. Its cost follows the number of changes (see Table.update), plus their sort.
func (s *Set) commit(round []*request, expiry bool) error {
	cur := s.table.Load()
	n := 0
	for _, r := range round {
		n += len(r.changes)
	}
	all := make([]tagged, 0, n)
	for ri, r := range round {
		r.counts = Counts{}
		for i := range r.changes {
			all = append(all, tagged{&r.changes[i], ri, len(all), keyOf(r.changes[i].Entry.Addr)})
		}
	}
	// Changes to one key keep their order, across requests too.
	slices.SortFunc(all, func(a, b tagged) int {
		if c := a.k.compare(b.k); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	// The round changes the index in place, one map operation per key: the key's last change
	// decides what it holds after the round, and the entry it replaces or removes is what it
	// held before. A round that fails puts the index back as it was, and compacts it as a
	// round in force does: the slots its new keys took are free again.
	idx := cur.idx // Open publishes a table before any round
	before := idx.len()
	touched := make([]touch, 0, len(all))
	undo := func() {
		for _, tc := range slices.Backward(touched) {
			if tc.old != nil {
				idx.put(tc.k, tc.old)
				s.exp.add(idx, tc.k) // a new version of the slot: its old place in the queue is dead
			} else {
				idx.remove(tc.k)
			}
		}
		s.compact(cur)
	}
	for j := 0; j < len(all); {
		k := all[j].c.Entry.Addr
		end := j + 1
		for end < len(all) && all[end].c.Entry.Addr == k {
			end++
		}
		tc := touch{k: all[j].k}
		if last := all[end-1].c; last.Op == Put {
			tc.new = &last.Entry
			tc.old = idx.put(tc.k, tc.new)
		} else {
			tc.old = idx.remove(tc.k)
		}
		present := tc.old != nil
		for ; j < end; j++ {
			c, counts := all[j].c, &round[all[j].req].counts
			switch c.Op {
			case Put:
				if present {
					counts.Updated++
				} else {
					counts.Added++
				}
				present = true
			case Delete:
				if present {
					counts.Removed++
				}
				present = false
			}
		}
		if tc.old != nil || tc.new != nil {
			touched = append(touched, tc)
		}
	}
	// A batch that grows the set past its limit is refused even when another batch of the
	// round shrinks it as much: applied one by one, in either order, it would be.
	if after := idx.len(); after > s.opts.MaxEntries && slices.ContainsFunc(round, grows) {
		undo()
		return s.fullError(before, after-before)
	}
	var put []*Entry
	var del []blocklist.Entry
	for _, tc := range touched {
		if tc.new != nil {
			put = append(put, tc.new)
		} else {
			del = append(del, tc.k.entry())
		}
	}
	t, err := cur.update(idx, touched)
	if err != nil {
		undo()
		return err
	}
	if s.opts.Store != nil && (len(put) > 0 || len(del) > 0) {
		if err := s.opts.Store.Apply(put, del); err != nil {
			if !expiry {
				undo()
				return fmt.Errorf("storing the change: %w", err)
			}
			// An expired entry must stop matching all the same; it is dropped from the store
			// when it is next loaded.
			s.opts.Logger.Error("live set: storing expiries failed", "err", err)
		}
	}
	t.setPending()
	s.publish(t)
	for _, tc := range touched {
		if tc.new != nil {
			s.exp.add(idx, tc.k)
		}
	}
	s.exp.compact(t)
	s.compact(t)
	for _, r := range round {
		s.added.Add(r.counts.Added)
		s.updated.Add(r.counts.Updated)
		if expiry {
			s.expired.Add(r.counts.Removed)
		} else {
			s.deleted.Add(r.counts.Removed)
		}
	}
	return nil
}

// grows reports whether r, as commit counted it, adds more entries than it removes.
func grows(r *request) bool { return r.counts.Added > r.counts.Removed }

// expire removes every entry whose time has come.
func (s *Set) expire() {
	start := time.Now() // the work's own time, whatever clock the entries expire by
	defer func() { s.expiryTook = time.Since(start) }()
	now := s.opts.Now()
	s.lastExpiry = now
	due := s.exp.due(s.table.Load(), now)
	if len(due) == 0 {
		return
	}
	changes := make([]Change, len(due))
	for i, a := range due {
		changes[i] = Change{Op: Delete, Entry: Entry{Addr: a}}
	}
	if err := s.commit([]*request{{changes: changes}}, true); err != nil {
		s.opts.Logger.Error("live set: applying expiries failed", "err", err)
	}
}

// publish makes t the table in force and updates spoaguard_live_entries: a series per list in
// t, registered in the metrics set, and none for a list that is gone.
func (s *Set) publish(t *Table) {
	s.table.Store(t)
	names := make(map[string]bool, t.NumLists())
	for i := range t.NumLists() {
		l := t.List(i)
		name := fmt.Sprintf(`spoaguard_live_entries{list=%q,action=%q,observe="%t"}`, l.Name, l.Action, l.Observe)
		names[name] = true
		s.opts.Metrics.GetOrCreateGauge(name, nil).Set(float64(l.Entries))
	}
	for name := range s.gauges {
		if !names[name] {
			s.opts.Metrics.UnregisterMetric(name)
		}
	}
	s.gauges = names
}
