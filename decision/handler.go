package decision

import (
	"errors"
	"sync/atomic"
	"weak"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/server"
)

// SnapshotSource gives the blocklist snapshot in force; *blocklist.Manager is one. Snapshot
// must be cheap (one atomic load): it is called once per batch of NOTIFYs.
type SnapshotSource interface {
	Snapshot() *blocklist.Snapshot
}

// Handler answers each NOTIFY with the blocklist's decision for the client address it
// carries. A NOTIFY without the configured message, or whose address is NULL, missing or not
// an address, is undecided: it is answered blocked=false (every ACK carries at least that
// action, because HAProxy 3.1.x stalls on an empty ACK), counted in
// spoaguard_undecided_total rather than as a decision, warned about, and judged by Readiness.
//
// A Handler is shared by every connection of a server; each connection gets its own part
// from NewConn.
type Handler struct {
	src        SnapshotSource
	messages   [][]byte
	arg        []byte
	scope      codec.Scope
	varBlocked string
	varList    string

	// allowedActions is the LIST-OF-ACTIONS of every ACK that does not block, encoded once.
	allowedActions []byte

	set       *metrics.Set
	allowed   *metrics.Counter
	blocked   *metrics.Counter
	undecided undecidedState
	perSnap   atomic.Pointer[verdicts]
}

var _ server.Handler = (*Handler)(nil)

// verdicts is what the handler derives from one snapshot, built when a batch first meets the
// snapshot (connections racing on a new snapshot may each build it, alike): the hot path only
// compares a pointer. It refers to its snapshot weakly, so that a replaced snapshot of
// millions of entries is not kept alive by a handler that has seen no traffic since.
type verdicts struct {
	snap weak.Pointer[blocklist.Snapshot]
	// blockedActions[i] is the LIST-OF-ACTIONS of an ACK blocked by deny list i
	// (blocked=true, list=name), encoded once so that an ACK is a header and one copy.
	blockedActions [][]byte
	// counters[i] is deny list i's spoaguard_blocked_total (nil for allow lists).
	counters []*metrics.Counter
}

// New returns a handler that looks addresses up in src's snapshots.
func New(src SnapshotSource, cfg Config) (*Handler, error) {
	if src == nil {
		return nil, errors.New("decision: nil snapshot source")
	}
	cfg, scope, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		src:        src,
		arg:        []byte(cfg.Arg),
		scope:      scope,
		varBlocked: cfg.VarBlocked,
		varList:    cfg.VarList,
		set:        cfg.Metrics,
		allowed:    cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="allowed"}`),
		blocked:    cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="blocked"}`),
	}
	for _, m := range cfg.Messages {
		h.messages = append(h.messages, []byte(m))
	}
	h.allowedActions = codec.AppendSetVar(nil, scope, h.varBlocked, codec.BoolValue(false))
	h.undecided.init(cfg.Metrics, cfg.Logger, cfg)
	return h, nil
}

// Readiness is the handler's health.Check: whether the NOTIFYs of the last 10 s or so were
// decided. It is "not ready" when NOTIFYs came and none could be
// decided (blocking is off, as with a misnamed -message), "degraded" when some could not.
func (h *Handler) Readiness() []health.Condition {
	return h.undecided.readiness(h.allowed.Get() + h.blocked.Get())
}

// NewConn implements server.Handler.
func (h *Handler) NewConn() server.ConnHandler { return &conn{h: h} }

// verdictsFor returns what the handler derives from snap, building it the first time a
// snapshot is seen. Connections that race on a new snapshot may each build it; they build
// the same.
func (h *Handler) verdictsFor(snap *blocklist.Snapshot) *verdicts {
	if v := h.perSnap.Load(); v != nil && v.snap.Value() == snap {
		return v
	}
	v := &verdicts{snap: weak.Make(snap)}
	if snap != nil {
		n := snap.NumLists()
		v.blockedActions = make([][]byte, n)
		v.counters = make([]*metrics.Counter, n)
		for i := range n {
			if snap.ListKind(i) != blocklist.Deny {
				continue // an allow list never blocks
			}
			name := snap.ListName(i)
			a := codec.AppendSetVar(nil, h.scope, h.varBlocked, codec.BoolValue(true))
			v.blockedActions[i] = codec.AppendSetVar(a, h.scope, h.varList, codec.StringValue(name))
			v.counters[i] = h.set.GetOrCreateCounter(`spoaguard_blocked_total{list="` + string(name) + `"}`)
		}
	}
	h.perSnap.Store(v)
	return v
}
