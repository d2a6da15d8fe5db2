package decision

import (
	"errors"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/live"
	"github.com/spoaguard/spoaguard/server"
)

// SnapshotSource gives the blocklist snapshot in force; *blocklist.Manager is one. Snapshot
// must be cheap (one atomic load): it is called once per batch of NOTIFYs.
type SnapshotSource interface {
	Snapshot() *blocklist.Snapshot
}

// LiveSource gives the live table in force; *live.Set is one. Like Snapshot, Table is one
// atomic load, once per batch.
type LiveSource interface {
	Table() *live.Table
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
	src         SnapshotSource
	live        LiveSource // nil: no live set
	messages    [][]byte
	arg         []byte
	scope       codec.Scope
	varBlocked  string
	varList     string
	varLists    string
	varObserved string
	observe     func(string) bool // file lists in observe mode

	// allowedActions is the LIST-OF-ACTIONS of every ACK that does not block, encoded once.
	allowedActions []byte

	set       *metrics.Set
	allowed   *metrics.Counter
	blocked   *metrics.Counter
	undecided undecidedState
	perSnap   atomic.Pointer[verdicts] // the verdicts of the latest snapshot and live table seen
}

var _ server.Handler = (*Handler)(nil)

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
		src:         src,
		arg:         []byte(cfg.Arg),
		scope:       scope,
		live:        cfg.Live,
		varBlocked:  cfg.VarBlocked,
		varList:     cfg.VarList,
		varLists:    cfg.VarLists,
		varObserved: cfg.VarObserved,
		observe:     cfg.Observe,
		set:         cfg.Metrics,
		allowed:     cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="allowed"}`),
		blocked:     cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="blocked"}`),
	}
	for _, m := range cfg.Messages {
		h.messages = append(h.messages, []byte(m))
	}
	if h.observe == nil {
		h.observe = func(string) bool { return false }
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

// table returns the live table in force, nil without a live set.
func (h *Handler) table() *live.Table {
	if h.live == nil {
		return nil
	}
	return h.live.Table()
}
