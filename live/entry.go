package live

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// DefaultList is the list of an entry that names none.
const DefaultList = "api"

// Entry is one live entry.
type Entry struct {
	Addr    blocklist.Entry // what it covers; Addr.String() is its key
	Action  blocklist.Kind  // Deny or Allow
	List    string          // the list it reports as, DefaultList when empty
	Observe bool            // reported (txn.<prefix>.observed), never blocks
	Expires time.Time       // zero: never
	Comment string
	Created time.Time
}

// Key is the entry's identity in the set: the canonical text of its address. Adding an entry
// with the key of an existing one replaces it.
func (e *Entry) Key() string { return e.Addr.String() }

// Expired reports whether e has an expiry and it has come at now.
func (e *Entry) Expired(now time.Time) bool { return !e.Expires.IsZero() && !e.Expires.After(now) }

// MaxCommentLen bounds an entry's comment.
const MaxCommentLen = 256

// Rules are the checks an entry passes before it enters the set.
type Rules struct {
	// MinPrefixV4 and MinPrefixV6 refuse entries wider than these prefixes (0: the list
	// files' defaults, blocklist.DefaultMinPrefixV4/V6) unless AllowShort is set.
	MinPrefixV4, MinPrefixV6 int
	AllowShort               bool
}

// ErrTooWide marks an entry that Rules.Check refuses for covering more than the minimum
// prefix: one that AllowShort would take.
var ErrTooWide = errors.New("a short prefix must be allowed explicitly")

// Check reports why e may not enter the set, or nil. It fills in the default list.
func (r Rules) Check(e *Entry) error {
	if !e.Addr.First.IsValid() {
		return errors.New("no address")
	}
	if e.List == "" {
		e.List = DefaultList
	}
	if !blocklist.ValidListName(e.List) {
		return fmt.Errorf("list %q: %s", e.List, blocklist.ListNameRule)
	}
	if e.Action == blocklist.Allow && e.Observe {
		return errors.New("observe applies to deny entries only")
	}
	if e.Action > blocklist.Allow {
		return fmt.Errorf("bad action %d", e.Action)
	}
	if len(e.Comment) > MaxCommentLen {
		return fmt.Errorf("comment longer than %d bytes", MaxCommentLen)
	}
	if !r.AllowShort {
		v4, v6 := cmp.Or(r.MinPrefixV4, blocklist.DefaultMinPrefixV4), cmp.Or(r.MinPrefixV6, blocklist.DefaultMinPrefixV6)
		if e.Addr.WiderThan(v4, v6) {
			return fmt.Errorf("%s is wider than /%d (IPv4) or /%d (IPv6): %w", e.Addr, v4, v6, ErrTooWide)
		}
	}
	return nil
}

// Op is what a Change does.
type Op uint8

const (
	// Put adds the entry, or replaces the entry with its key.
	Put Op = iota
	// Delete removes the entry with the change's key.
	Delete
)

// Change is one element of a batch given to Set.Apply.
type Change struct {
	Op    Op
	Entry Entry // Put: the entry; Delete: only Entry.Addr is read
}

// compareAddr orders entries by family, then first address, then last: the order of
// Table.Entries and of the after cursor of a listing.
func compareAddr(a, b blocklist.Entry) int {
	if c := a.First.Compare(b.First); c != 0 {
		return c // netip orders IPv4 before IPv6
	}
	return a.Last.Compare(b.Last)
}

// covers reports whether e covers a (a must be unmapped).
func covers(e blocklist.Entry, a netip.Addr) bool {
	return e.First.Compare(a) <= 0 && a.Compare(e.Last) <= 0
}
