package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Record is one live entry as Redis holds it (the JSON in NS:entries and in the log). Its
// fields are a stable interface for tools that write the layout. The tags are that layout:
// appendRecord writes what encoding/json would, and encoding/json reads what the fast
// decoder leaves to it.
type Record struct {
	Addr    string `json:"addr"`              // canonical address, prefix or range text; the entry's key
	Action  string `json:"action"`            // "deny" or "allow"
	List    string `json:"list"`              // the list it reports as
	Observe bool   `json:"observe,omitempty"` // reported, never blocks
	Expires int64  `json:"expires,omitempty"` // Unix milliseconds; 0: never
	Comment string `json:"comment,omitempty"`
	Created int64  `json:"created"` // Unix milliseconds
}

// ExpiresAt is the record's expiry as a time, zero for none.
func (r *Record) ExpiresAt() time.Time {
	if r.Expires == 0 {
		return time.Time{}
	}
	return time.UnixMilli(r.Expires)
}

// Op is what a Change does.
type Op string

const (
	// Put adds or replaces the record with its key.
	Put Op = "put"
	// Delete removes the record with the change's key.
	Delete Op = "del"
)

// Change is one element of a batch in the log.
type Change struct {
	Op     Op      `json:"op"`
	Key    string  `json:"key"`
	Record *Record `json:"rec,omitempty"` // Put only
}

// decodeChanges parses a log batch's changes field: the agents' own layout on the fast
// path, any other JSON through encoding/json.
func decodeChanges(s string) ([]Change, error) {
	cs, ok := decodeChangesFast(s)
	if !ok {
		cs = nil
		if err := json.Unmarshal([]byte(s), &cs); err != nil {
			return nil, fmt.Errorf("changes: %w", err)
		}
	}
	if err := validateChanges(cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// validateChanges checks what a batch must hold beyond its JSON: a key in every change, a
// known op, a record in every put.
func validateChanges(cs []Change) error {
	for i := range cs {
		switch {
		case cs[i].Key == "":
			return fmt.Errorf("changes[%d]: no key", i)
		case cs[i].Op == Put && cs[i].Record == nil:
			return fmt.Errorf("changes[%d]: put without a record", i)
		case cs[i].Op != Put && cs[i].Op != Delete:
			return fmt.Errorf("changes[%d]: op %q: want put or del", i, cs[i].Op)
		}
	}
	return nil
}

// decodeRecord decodes an entry's record (NS:entries' value): the agents' own layout with
// d's fast path, any other JSON through encoding/json. key is the entry's hash field.
func decodeRecord(d *decoder, s, key string, r *Record) error {
	if !d.record(s, key, r) {
		*r = Record{}
		if err := json.Unmarshal([]byte(s), r); err != nil {
			return err
		}
	}
	if r.Addr == "" {
		return errNoAddr
	}
	return nil
}

var errNoAddr = errors.New("no addr")

// Sink is the agent's live set, which a Follower keeps equal to what Redis holds.
type Sink interface {
	// Replace swaps the whole set for records, in one step.
	Replace(records []Record) error
	// Apply applies one batch of changes, in order, in one step.
	Apply(changes []Change) error
}
