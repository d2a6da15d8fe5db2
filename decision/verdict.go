package decision

import (
	"math/bits"
	"weak"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/live"
)

// A list is numbered in one space across both sources: file list i is i, live list j (bit j
// of a live.Table mask) is liveBase+j. The order of the numbers is the order of precedence
// among deny lists: the first matching one names the block.
const (
	liveBase = blocklist.MaxLists
	numLists = blocklist.MaxLists + live.MaxLists
)

// matches is a set of lists in that numbering: the file lists' mask and the live lists'.
type matches struct{ file, live uint64 }

func (m matches) any() bool             { return m.file|m.live != 0 }
func (m matches) one() bool             { return bits.OnesCount64(m.file)+bits.OnesCount64(m.live) == 1 }
func (m matches) and(o matches) matches { return matches{m.file & o.file, m.live & o.live} }

// first returns the lowest-numbered list in m, which must not be empty.
func (m matches) first() int {
	if m.file != 0 {
		return bits.TrailingZeros64(m.file)
	}
	return liveBase + bits.TrailingZeros64(m.live)
}

// each calls f for each list in m, in order.
func (m matches) each(f func(i int)) {
	for f64, base := m.file, 0; ; f64, base = m.live, liveBase {
		for x := f64; x != 0; x &= x - 1 {
			f(base + bits.TrailingZeros64(x))
		}
		if base == liveBase {
			return
		}
	}
}

// verdicts is what the handler derives from one snapshot and one live table, built when a
// batch first meets them (connections racing on a new pair may each build it, alike): the hot
// path only compares two pointers. It refers to both weakly, so that a replaced snapshot of
// millions of entries is not kept alive by a handler that has seen no traffic since.
type verdicts struct {
	snap  weak.Pointer[blocklist.Snapshot]
	table weak.Pointer[live.Table]

	// deny are the lists that block, allow the lists that exempt, observe the deny lists in
	// observe mode.
	deny, allow, observe matches

	names [numLists][]byte
	// canon[i] is the lowest-numbered list named as list i is: a live list may take a file
	// list's name, and the lists variables name it once.
	canon [numLists]uint8
	// blockedOne[i] is the LIST-OF-ACTIONS of an ACK blocked by list i alone (blocked=true,
	// list=name, lists=name), blockedHead[i] its first two actions, for an ACK on which
	// several deny lists match, whose lists variable is encoded per ACK. observedOne[i] is
	// the observed=name action.
	blockedOne, blockedHead, observedOne [numLists][]byte
	// blocked[i] is list i's spoaguard_blocked_total, observed[i] its
	// spoaguard_observed_total (nil where the list cannot block, or observe).
	blocked, observed [numLists]*metrics.Counter

	liveLists []live.List // the table's lists, without their counts
}

// sameLive reports whether table numbers its lists as v's table does, so that v's encodings
// serve it too.
func (v *verdicts) sameLive(table *live.Table) bool {
	if table.NumLists() != len(v.liveLists) {
		return false
	}
	for j, l := range v.liveLists {
		if t := table.List(j); t.Name != l.Name || t.Action != l.Action || t.Observe != l.Observe {
			return false
		}
	}
	return true
}

// verdictsFor returns what the handler derives from snap and table, building it the first
// time the pair is seen. A live table whose lists are those of the one before (a change of
// entries only, the common case) takes a copy of its verdicts, encodings and all.
func (h *Handler) verdictsFor(snap *blocklist.Snapshot, table *live.Table) *verdicts {
	if v := h.perSnap.Load(); v != nil && v.snap.Value() == snap {
		if v.table.Value() == table {
			return v
		}
		if v.sameLive(table) {
			nv := *v
			nv.table = weak.Make(table)
			h.perSnap.Store(&nv)
			return &nv
		}
	}
	v := &verdicts{snap: weak.Make(snap), table: weak.Make(table)}
	for i := range snap.NumLists() {
		name := snap.ListName(i)
		switch {
		case snap.ListKind(i) == blocklist.Allow:
			v.allow.file |= 1 << i
		case h.observe(string(name)):
			v.observe.file |= 1 << i
		default:
			v.deny.file |= 1 << i
		}
		h.encode(v, i, name)
	}
	deny, allow, observe := table.Masks()
	v.deny.live, v.allow.live, v.observe.live = deny, allow, observe
	for j := range table.NumLists() {
		l := table.List(j)
		l.Entries = 0
		v.liveLists = append(v.liveLists, l)
		h.encode(v, liveBase+j, []byte(l.Name))
	}
	h.perSnap.Store(v)
	return v
}

// encode fills in v's pre-encoded actions and counters of list i, named name, once the lists
// numbered below i are.
func (h *Handler) encode(v *verdicts, i int, name []byte) {
	v.names[i] = name
	v.canon[i] = uint8(i)
	for j := range i {
		if v.names[j] != nil && string(v.names[j]) == string(name) {
			v.canon[i] = uint8(j)
			break
		}
	}
	bit := matches{}
	if i < liveBase {
		bit.file = 1 << i
	} else {
		bit.live = 1 << (i - liveBase)
	}
	switch {
	case bit.and(v.deny).any():
		a := codec.AppendSetVar(nil, h.scope, h.varBlocked, codec.BoolValue(true))
		a = codec.AppendSetVar(a, h.scope, h.varList, codec.StringValue(name))
		v.blockedHead[i] = a
		v.blockedOne[i] = codec.AppendSetVar(a[:len(a):len(a)], h.scope, h.varLists, codec.StringValue(name))
		v.blocked[i] = h.set.GetOrCreateCounter(`spoaguard_blocked_total{list="` + string(name) + `"}`)
	case bit.and(v.observe).any():
		v.observedOne[i] = codec.AppendSetVar(nil, h.scope, h.varObserved, codec.StringValue(name))
		v.observed[i] = h.set.GetOrCreateCounter(`spoaguard_observed_total{list="` + string(name) + `"}`)
	}
}

// judge applies the precedence to the lists matching an address: if any allow list matches
// (file or live), nothing blocks and nothing is observed; otherwise every matching deny list
// blocks and every matching observe list is reported.
func (v *verdicts) judge(m matches) (deny, observe matches) {
	if m.and(v.allow).any() {
		return matches{}, matches{}
	}
	return m.and(v.deny), m.and(v.observe)
}

// eachName calls f with each list in m, in order, skipping a list named as one before it.
func (v *verdicts) eachName(m matches, f func(i int)) {
	var seen [numLists / 64]uint64
	m.each(func(i int) {
		c := v.canon[i]
		if seen[c/64]&(1<<(c%64)) != 0 {
			return
		}
		seen[c/64] |= 1 << (c % 64)
		f(i)
	})
}

// appendJoined appends the names of the lists in m to dst, comma-separated, each once.
func (v *verdicts) appendJoined(dst []byte, m matches) []byte {
	start := len(dst)
	v.eachName(m, func(i int) {
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = append(dst, v.names[i]...)
	})
	return dst
}
