package decision

import (
	"net/netip"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
)

// Explanation is the decision on one address, as HAProxy would get it now, with every list
// and entry behind it.
type Explanation struct {
	Addr     netip.Addr // unmapped
	Blocked  bool
	List     string   // the deciding deny list, "" when not blocked
	Lists    []string // every matching deny list (the lists variable), nil when not blocked
	Observed []string // the matching observe lists (the observed variable)
	Matches  []Match
}

// Match is one list covering the address.
type Match struct {
	List    string
	Action  blocklist.Kind
	Observe bool
	Live    bool            // a live entry, else a file list
	Entry   blocklist.Entry // the live entry's address
	Expires time.Time       // the live entry's expiry, zero for none
}

// Explain decides a as a NOTIFY carrying it would be decided now, from the same snapshot,
// live table and precedence, and says which lists and live entries match.
func (h *Handler) Explain(a netip.Addr) Explanation {
	a = a.Unmap()
	snap, table := h.src.Snapshot(), h.table()
	v := h.verdictsFor(snap, table)
	b := a.AsSlice()
	m := matches{snap.Lookup(b).Matched, table.Lookup(b)}
	deny, observe := v.judge(m)
	x := Explanation{Addr: a, Blocked: deny.any()}
	if x.Blocked {
		x.List = string(v.names[deny.first()])
		v.eachName(deny, func(i int) { x.Lists = append(x.Lists, string(v.names[i])) })
	}
	v.eachName(observe, func(i int) { x.Observed = append(x.Observed, string(v.names[i])) })
	matches{file: m.file}.each(func(i int) {
		x.Matches = append(x.Matches, Match{List: string(v.names[i]), Action: snap.ListKind(i), Observe: v.observe.file&(1<<i) != 0})
	})
	for _, e := range table.Covering(a) {
		x.Matches = append(x.Matches, Match{List: e.List, Action: e.Action, Observe: e.Observe, Live: true, Entry: e.Addr, Expires: e.Expires})
	}
	return x
}
