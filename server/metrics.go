package server

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
)

// serverMetrics are the shared counters. Event loops never touch them per frame: a session
// counts into its batchStats and flushes them once per read event (flush), so loops do not
// contend on these cache lines frame by frame.
type serverMetrics struct {
	set             *metrics.Set
	framesHello     *metrics.Counter
	framesNotify    *metrics.Counter
	framesUnset     *metrics.Counter
	framesDisc      *metrics.Counter
	acks            *metrics.Counter
	connsOpen       *metrics.Gauge
	connsTotal      *metrics.Counter
	connsRefused    *metrics.Counter
	fragsInflight   *metrics.Gauge
	fragsAborted    *metrics.Counter
	backlogClosures *metrics.Counter
	peersRejected   *metrics.Counter
	enrollFailures  *metrics.Counter
	acceptPauses    *metrics.Counter
	acceptPaused    *metrics.Gauge
	buffered        *metrics.Gauge
}

func newServerMetrics(set *metrics.Set) *serverMetrics {
	m := &serverMetrics{
		set:             set,
		framesHello:     set.GetOrCreateCounter(`spoaguard_frames_received_total{type="hello"}`),
		framesNotify:    set.GetOrCreateCounter(`spoaguard_frames_received_total{type="notify"}`),
		framesUnset:     set.GetOrCreateCounter(`spoaguard_frames_received_total{type="unset"}`),
		framesDisc:      set.GetOrCreateCounter(`spoaguard_frames_received_total{type="disconnect"}`),
		acks:            set.GetOrCreateCounter(`spoaguard_acks_total`),
		connsOpen:       set.GetOrCreateGauge(`spoaguard_connections_open`, nil),
		connsTotal:      set.GetOrCreateCounter(`spoaguard_connections_total`),
		connsRefused:    set.GetOrCreateCounter(`spoaguard_connections_refused_total`),
		fragsInflight:   set.GetOrCreateGauge(`spoaguard_fragments_inflight`, nil),
		fragsAborted:    set.GetOrCreateCounter(`spoaguard_fragments_aborted_total`),
		backlogClosures: set.GetOrCreateCounter(`spoaguard_backlog_closures_total`),
		peersRejected:   set.GetOrCreateCounter(`spoaguard_connections_rejected_peer_total`),
		enrollFailures:  set.GetOrCreateCounter(`spoaguard_connections_dropped_total`),
		acceptPauses:    set.GetOrCreateCounter(`spoaguard_accept_pauses_total`),
		acceptPaused:    set.GetOrCreateGauge(`spoaguard_accept_paused_listeners`, nil),
		buffered:        set.GetOrCreateGauge(`spoaguard_buffered_bytes`, nil),
	}
	for _, l := range []string{"table_full", "idle_timeout", "frame_timeout", "write_timeout", "buffer_budget"} {
		m.closedByLimit(l) // every series exists from the start, at 0
	}
	return m
}

// closedByLimit is the counter of connections a limit ended (limits.go); limit is one of a
// fixed set of labels.
func (m *serverMetrics) closedByLimit(limit string) *metrics.Counter {
	return m.set.GetOrCreateCounter(`spoaguard_connections_closed_by_limit_total{limit="` + limit + `"}`)
}

// batchStats are a session's plain counters for one read event.
type batchStats struct {
	hello, notify, unset, disc, acks int
}

func (m *serverMetrics) flush(b *batchStats) {
	if b.notify != 0 {
		m.framesNotify.Add(b.notify)
	}
	if b.acks != 0 {
		m.acks.Add(b.acks)
	}
	if b.unset != 0 {
		m.framesUnset.Add(b.unset)
	}
	if b.hello != 0 {
		m.framesHello.Add(b.hello)
	}
	if b.disc != 0 {
		m.framesDisc.Add(b.disc)
	}
	*b = batchStats{}
}

// disconnect counts a DISCONNECT frame sent ("agent") or received ("haproxy"). It runs once
// per connection at most, so building the label is fine; statuses outside HAProxy's table
// share one label value to bound the number of series a peer can create.
func (m *serverMetrics) disconnect(side string, st codec.Status) {
	label := "other"
	if st <= codec.StatusResourceAllocation || st == codec.StatusUnknown {
		label = strconv.FormatUint(uint64(st), 10)
	}
	m.set.GetOrCreateCounter(`spoaguard_disconnects_total{side="` + side + `",status="` + label + `"}`).Inc()
}
