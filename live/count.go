package live

import "github.com/spoaguard/spoaguard/blocklist"

// Count reports what applying changes to t would count, as Set.Apply does: a Put of a key
// already there (in t, or earlier in the batch) is an update, a Delete of a key there a
// removal. A writer that applies its changes elsewhere (a fleet's shared store) answers with
// it.
func (t *Table) Count(changes []Change) Counts {
	var c Counts
	present := make(map[blocklist.Entry]bool, len(changes))
	for i := range changes {
		addr := changes[i].Entry.Addr
		there, seen := present[addr]
		if !seen {
			_, there = t.Get(addr)
		}
		switch changes[i].Op {
		case Put:
			if there {
				c.Updated++
			} else {
				c.Added++
			}
			present[addr] = true
		case Delete:
			if there {
				c.Removed++
			}
			present[addr] = false
		}
	}
	return c
}

// LastChanges returns the last change of each key in changes: what applying the batch leaves
// the key, whatever came before it in the batch.
func LastChanges(changes []Change) map[blocklist.Entry]*Change {
	last := make(map[blocklist.Entry]*Change, len(changes))
	for i := range changes {
		last[changes[i].Entry.Addr] = &changes[i]
	}
	return last
}
