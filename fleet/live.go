package fleet

import (
	"fmt"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
)

// LiveSink keeps a live.Set equal to the shared set. With a Store (the state directory), the
// Set persists what it applies, so a node that starts while Redis is away enforces the copy
// it last had.
type LiveSink struct{ Set *live.Set }

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
	_, err := s.Set.Apply(changes)
	return err
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
	_, err := s.Set.Apply(lc)
	return err
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
