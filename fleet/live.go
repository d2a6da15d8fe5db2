package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
)

// LiveSink keeps a live.Set equal to the shared set. With a Store (the state directory), the
// Set persists what it applies, so a node that starts while Redis is away enforces the copy
// it last had.
//
// The shared set may hold more entries than this agent's set may grow to (another agent,
// with a higher -live-max-entries, wrote them). Then the sink applies every removal and
// every change to an entry the set holds, adds the new entries that fit, in the batch's
// order and one place a key, and leaves the others out: counted in Dropped, and logged (by a
// Fleet, within a budget: the first batch, then at most one warning a minute). A new
// entry that has expired, or that the batch removes again, takes no place. The Fleet that
// follows the shared set into the sink remembers the keys of the entries left out, and
// brings them back, in the order they were left out and ahead of newer ones, as removals and
// expiries make room.
type LiveSink struct {
	Set     *live.Set
	Dropped *metrics.Counter // entries left out for want of room; nil: not counted
	Logger  *slog.Logger     // nil: slog.Default()
}

// Replace swaps the whole live set for records: entries the records lack are deleted and
// every record is put, in one batch, so there is no empty window.
func (s LiveSink) Replace(records []Record) error {
	left, err := s.replaceFitting(records)
	s.warnLeftOut(len(left))
	return err
}

// Apply applies one batch of the log.
func (s LiveSink) Apply(changes []Change) error {
	left, err := s.applyFitting(changes, 0)
	s.warnLeftOut(len(left))
	return err
}

// warnLeftOut logs the n entries a batch left out, each time: called alone, Apply and Replace
// warn of every batch. A Fleet warns within a budget instead (Fleet.warnLeftOut).
func (s LiveSink) warnLeftOut(n int) {
	if n == 0 {
		return
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn(leftOutWarning, "dropped", n, "limit", s.Set.MaxEntries())
}

// leftOutWarning is the warning of entries left out for want of room.
const leftOutWarning = "redis: the shared live set has more entries than this agent's limit; new ones left out of its copy until removals or expiries make room for them"

func (s LiveSink) replaceFitting(records []Record) ([]leftEntry, error) {
	changes := make([]live.Change, 0, len(records))
	keep := make(map[blocklist.Entry]struct{}, len(records))
	var from []int // the record of each change, once one was skipped; nil: the same index
	for i := range records {
		e, err := EntryOf(&records[i])
		if err != nil {
			from = skipped(from, len(changes))
			continue // unreadable records were skipped with a warning when read; skip here too
		}
		if from != nil {
			from = append(from, i)
		}
		keep[e.Addr] = struct{}{}
		changes = append(changes, live.Change{Op: live.Put, Entry: e})
	}
	s.Set.Table().Each(func(e *live.Entry) bool {
		if _, ok := keep[e.Addr]; !ok {
			changes = append(changes, live.Change{Op: live.Delete, Entry: live.Entry{Addr: e.Addr}})
		}
		return true
	})
	// A key is only asked for a put that was left out: one of the records.
	return s.apply(changes, func(i int) string { return records[at(from, i)].Addr }, 0)
}

func (s LiveSink) applyFitting(changes []Change, waiting int) ([]leftEntry, error) {
	lc := make([]live.Change, 0, len(changes))
	var from []int // the change of each of lc, once one was skipped; nil: the same index
	for i := range changes {
		c := &changes[i]
		if c.Op == Delete {
			addr, err := blocklist.ParseEntry(c.Key)
			if err != nil {
				from = skipped(from, len(lc))
				continue // nothing this agent could hold has that key
			}
			if from != nil {
				from = append(from, i)
			}
			lc = append(lc, live.Change{Op: live.Delete, Entry: live.Entry{Addr: addr}})
			continue
		}
		e, err := EntryOf(c.Record)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		if from != nil {
			from = append(from, i)
		}
		lc = append(lc, live.Change{Op: live.Put, Entry: e})
	}
	return s.apply(lc, func(i int) string { return changes[at(from, i)].Key }, waiting)
}

// skipped starts from, the index in the input of each converted change, when the input's
// next element is skipped: until then each change's index is its own (from nil).
func skipped(from []int, n int) []int {
	if from != nil {
		return from
	}
	from = make([]int, n, n+16)
	for j := range from {
		from[j] = j
	}
	return from
}

// at is the input's index of converted change i.
func at(from []int, i int) int {
	if from == nil {
		return i
	}
	return from[i]
}

// room is how many more entries the set may take, and its limit.
func (s LiveSink) room() (free, limit int) {
	limit = s.Set.MaxEntries()
	return max(0, limit-s.Set.Table().Len()), limit
}

// now is the clock the set's entries expire by.
func (s LiveSink) now() time.Time { return s.Set.Now() }

// apply applies changes to the set, leaving out the new entries it has no room for beyond
// waiting places (kept for entries left out earlier, which come first), and returns those it
// left out, each once, in the batch's order. keyOf(i) is the shared set's key of changes[i];
// it is asked only for the entries left out.
func (s LiveSink) apply(changes []live.Change, keyOf func(int) string, waiting int) ([]leftEntry, error) {
	if waiting == 0 {
		// The common case: the batch fits, in one Apply and nothing else.
		_, err := s.Set.Apply(changes)
		if !errors.Is(err, live.ErrFull) {
			return nil, err
		}
	}
	// The last change of each key decides what the batch leaves it. A key the set holds, or
	// one the batch leaves absent, takes no room: all its changes are applied, in order.
	last := live.LastChanges(changes)
	t, now := s.Set.Table(), s.Set.Now()
	var kept []live.Change
	var fresh []int
	for i := range changes {
		c := &changes[i]
		l := last[c.Entry.Addr]
		if _, held := t.Get(c.Entry.Addr); held || l.Op == live.Delete {
			kept = append(kept, *c)
		} else if !l.Entry.Expired(now) {
			fresh = append(fresh, i) // a new entry that has not expired: it takes a place
		}
	}
	if len(kept) > 0 {
		if _, err := s.Set.Apply(kept); err != nil {
			return nil, err
		}
	}
	// What the removals freed, past the places kept for the waiting entries, taken by the
	// new entries in order, one place a key.
	room := s.Set.MaxEntries() - s.Set.Table().Len() - waiting
	placed := map[blocklist.Entry]bool{}
	var fit []live.Change
	var left []leftEntry
	taken := 0
	for _, i := range fresh {
		c := &changes[i]
		in, seen := placed[c.Entry.Addr]
		if !seen {
			in = taken < room
			placed[c.Entry.Addr] = in
			if in {
				taken++
			} else {
				left = append(left, leftEntry{key: keyOf(i), expires: unixMilli(last[c.Entry.Addr].Entry.Expires)})
			}
		}
		if in {
			fit = append(fit, *c)
		}
	}
	if len(fit) > 0 {
		if _, err := s.Set.Apply(fit); err != nil {
			return nil, err
		}
	}
	if len(left) == 0 {
		return nil, nil // the expired entries made the batch too large; those in force all fit
	}
	if s.Dropped != nil {
		s.Dropped.Add(len(left))
	}
	return left, nil
}

// unixMilli is t in Unix milliseconds, 0 for the zero time (no expiry), as in a Record.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// EntryOf converts a record to a live entry.
func EntryOf(r *Record) (live.Entry, error) {
	addr, err := blocklist.ParseEntry(r.Addr)
	if err != nil {
		return live.Entry{}, err
	}
	action, err := blocklist.ParseKind(r.Action)
	if err != nil {
		return live.Entry{}, err
	}
	e := live.Entry{Addr: addr, Action: action, List: r.List, Observe: r.Observe, Expires: r.ExpiresAt(), Comment: r.Comment}
	if r.Created != 0 {
		e.Created = time.UnixMilli(r.Created)
	}
	return e, nil
}

// RecordOf converts a live entry to its record.
func RecordOf(e *live.Entry) Record {
	return Record{Addr: e.Key(), Action: e.Action.String(), List: e.List, Observe: e.Observe,
		Expires: unixMilli(e.Expires), Comment: e.Comment, Created: unixMilli(e.Created)}
}

// ChangesOf converts live changes to the log's changes, for Write.
func ChangesOf(changes []live.Change) []Change {
	out := make([]Change, len(changes))
	for i := range changes {
		c := &changes[i]
		if c.Op == live.Delete {
			out[i] = Change{Op: Delete, Key: c.Entry.Key()}
			continue
		}
		r := RecordOf(&c.Entry)
		out[i] = Change{Op: Put, Key: r.Addr, Record: &r}
	}
	return out
}
