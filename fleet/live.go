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
// order and one place a key, and leaves the others out: logged, and counted in Dropped. A new
// entry that has expired, or that the batch removes again, takes no place.
type LiveSink struct {
	Set     *live.Set
	Dropped *metrics.Counter // entries left out for want of room; nil: not counted
	Logger  *slog.Logger     // nil: slog.Default()
}

// apply applies changes to the set, leaving out the new entries it has no room for.
func (s LiveSink) apply(changes []live.Change) error {
	_, err := s.Set.Apply(changes)
	if !errors.Is(err, live.ErrFull) {
		return err
	}
	// The last change of each key decides what the batch leaves it. A key the set holds, or
	// one the batch leaves absent, takes no room: all its changes are applied, in order.
	last := live.LastChanges(changes)
	t, now := s.Set.Table(), s.Set.Now()
	var kept, fresh []live.Change
	for _, c := range changes {
		l := last[c.Entry.Addr]
		if _, held := t.Get(c.Entry.Addr); held || l.Op == live.Delete {
			kept = append(kept, c)
		} else if !l.Entry.Expired(now) {
			fresh = append(fresh, c) // a new entry that has not expired: it takes a place
		}
	}
	if _, err := s.Set.Apply(kept); err != nil {
		return err
	}
	// What the removals freed, taken by the new entries in order, one place a key.
	room := s.Set.MaxEntries() - s.Set.Table().Len()
	placed := map[blocklist.Entry]bool{}
	var fit []live.Change
	taken, dropped := 0, 0
	for _, c := range fresh {
		in, seen := placed[c.Entry.Addr]
		if !seen {
			in = taken < room
			placed[c.Entry.Addr] = in
			if in {
				taken++
			} else {
				dropped++
			}
		}
		if in {
			fit = append(fit, c)
		}
	}
	if len(fit) > 0 {
		if _, err := s.Set.Apply(fit); err != nil {
			return err
		}
	}
	if dropped == 0 {
		return nil // the expired entries made the batch too large; those in force all fit
	}
	if s.Dropped != nil {
		s.Dropped.Add(dropped)
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("redis: the shared live set has more entries than this agent's limit; new ones left out of its copy",
		"dropped", dropped, "limit", s.Set.MaxEntries())
	return nil
}

// Replace swaps the whole live set for records: entries the records lack are deleted and
// every record is put, in one batch, so there is no empty window.
func (s LiveSink) Replace(records []Record) error {
	changes := make([]live.Change, 0, len(records))
	keep := make(map[blocklist.Entry]struct{}, len(records))
	for i := range records {
		e, err := EntryOf(&records[i])
		if err != nil {
			continue // unreadable records were skipped with a warning when read; skip here too
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
	return s.apply(changes)
}

// Apply applies one batch of the log.
func (s LiveSink) Apply(changes []Change) error {
	lc := make([]live.Change, 0, len(changes))
	for i := range changes {
		c := &changes[i]
		if c.Op == Delete {
			addr, err := blocklist.ParseEntry(c.Key)
			if err != nil {
				continue // nothing this agent could hold has that key
			}
			lc = append(lc, live.Change{Op: live.Delete, Entry: live.Entry{Addr: addr}})
			continue
		}
		e, err := EntryOf(c.Record)
		if err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		lc = append(lc, live.Change{Op: live.Put, Entry: e})
	}
	return s.apply(lc)
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
	r := Record{Addr: e.Key(), Action: e.Action.String(), List: e.List, Observe: e.Observe, Comment: e.Comment}
	if !e.Expires.IsZero() {
		r.Expires = e.Expires.UnixMilli()
	}
	if !e.Created.IsZero() {
		r.Created = e.Created.UnixMilli()
	}
	return r
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
