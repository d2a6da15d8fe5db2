package main

import (
	"slices"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/feed"
)

// listMetrics keeps the per-list series and the reload counters in the metrics set, for the
// lists in force: a list added by a reload gets its series, a removed one loses them. Gauges
// read the manager at scrape time; the counters are advanced by sync, so they keep counting
// across a reload that replaces the manager (whose own counts start again at zero).
type listMetrics struct {
	set   *metrics.Set
	lists *liveLists

	reloads        *metrics.Counter // snapshots published after start-up, by SIGHUP or polling
	reloadDuration *metrics.Gauge

	mu       sync.Mutex
	mgr      *blocklist.Manager // whose counts seen holds
	builds   uint64             // mgr's builds already counted
	series   map[string][]string
	failures map[string]*metrics.Counter
	seen     map[string]uint64 // mgr's failures per list already counted
	feeds    map[string]*feedCounters
}

// feedCounters are the counters of a list downloaded by URL, and the manager's counts of them
// already added.
type feedCounters struct {
	updated, notModified, failed, received *metrics.Counter
	seen                                   feed.Stats
}

var listGauges = []struct {
	name  string
	value func(st *blocklist.SourceStatus) float64
}{
	{"spoaguard_list_entries", func(st *blocklist.SourceStatus) float64 { return float64(st.Entries) }},
	{"spoaguard_list_skipped_lines", func(st *blocklist.SourceStatus) float64 { return float64(st.Skipped) }},
	{"spoaguard_list_last_reload_timestamp_seconds", func(st *blocklist.SourceStatus) float64 {
		if st.LastGood.IsZero() {
			return 0
		}
		return float64(st.LastGood.Unix())
	}},
	{"spoaguard_list_last_error", func(st *blocklist.SourceStatus) float64 {
		if st.LastError != "" {
			return 1
		}
		return 0
	}},
	{"spoaguard_list_load_duration_seconds", func(st *blocklist.SourceStatus) float64 { return st.LoadTime.Seconds() }},
	{"spoaguard_list_memory_bytes", func(st *blocklist.SourceStatus) float64 { return float64(st.Bytes) }},
	// a geoip list's countries and ASNs that match no network of its database (0 for others)
	{"spoaguard_list_unmatched_selectors", func(st *blocklist.SourceStatus) float64 {
		return float64(len(st.Unmatched.Countries) + len(st.Unmatched.ASNs))
	}},
}

// feedGauges are the gauges of a list downloaded by URL.
var feedGauges = []struct {
	name  string
	value func(st *blocklist.SourceStatus) float64
}{
	{"spoaguard_feed_last_success_timestamp_seconds", func(st *blocklist.SourceStatus) float64 {
		if st.Feed == nil || st.Feed.LastSuccess.IsZero() {
			return 0
		}
		return float64(st.Feed.LastSuccess.Unix())
	}},
	{"spoaguard_feed_bytes", func(st *blocklist.SourceStatus) float64 {
		if st.Feed == nil {
			return 0
		}
		return float64(st.Feed.Bytes)
	}},
	{"spoaguard_feed_stale", func(st *blocklist.SourceStatus) float64 {
		if st.Stale {
			return 1
		}
		return 0
	}},
}

func newListMetrics(set *metrics.Set, lists *liveLists) *listMetrics {
	m := &listMetrics{set: set, lists: lists, series: map[string][]string{},
		failures: map[string]*metrics.Counter{}, seen: map[string]uint64{}, feeds: map[string]*feedCounters{}}
	m.reloads = set.NewCounter(`spoaguard_reloads_total`)
	m.reloadDuration = set.NewGauge(`spoaguard_reload_duration_seconds`, func() float64 {
		return lists.mgr.Load().Stats().LastDuration.Seconds()
	})
	set.NewGauge(`spoaguard_snapshot_bytes`, func() float64 {
		return float64(lists.mgr.Load().Stats().Snapshot.Bytes)
	})
	mgr := lists.mgr.Load()
	m.mgr, m.builds = mgr, mgr.Stats().Builds // the start-up load is not a reload
	m.sync()
	return m
}

// swapped counts a reload that replaced the manager.
func (m *listMetrics) swapped() {
	m.reloads.Inc()
	m.sync()
}

// sync registers the series of new lists, drops those of removed ones, and advances the
// counters to the current manager's counts.
func (m *listMetrics) sync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	mgr := m.lists.mgr.Load()
	if mgr != m.mgr {
		m.mgr, m.builds = mgr, mgr.Stats().Builds
		clear(m.seen)
		for _, fc := range m.feeds {
			fc.seen = feed.Stats{}
		}
	}
	if b := mgr.Stats().Builds; b > m.builds {
		m.reloads.Add(int(b - m.builds))
		m.builds = b
	}
	current := map[string]bool{}
	for _, st := range mgr.Status() {
		current[st.Name] = true
		if _, ok := m.series[st.Name]; !ok {
			m.register(st.Name, st.Feed != nil)
		}
		if fc := m.feeds[st.Name]; fc != nil && st.Feed != nil {
			fc.advance(st.Feed)
		}
		if d := st.Failures - m.seen[st.Name]; d > 0 {
			m.failures[st.Name].Add(int(d))
		}
		m.seen[st.Name] = st.Failures
	}
	for name, series := range m.series {
		if !current[name] {
			for _, s := range series {
				m.set.UnregisterMetric(s)
			}
			delete(m.series, name)
			delete(m.failures, name)
			delete(m.feeds, name)
		}
	}
}

func (m *listMetrics) register(name string, downloaded bool) {
	label := `{list=` + strconv.Quote(name) + `}`
	var series []string
	gauges := listGauges
	if downloaded {
		gauges = append(slices.Clip(gauges), feedGauges...)
		fc := &feedCounters{}
		for _, c := range []struct {
			p    **metrics.Counter
			name string
		}{
			{&fc.updated, `spoaguard_feed_fetches_total{list=` + strconv.Quote(name) + `,result="updated"}`},
			{&fc.notModified, `spoaguard_feed_fetches_total{list=` + strconv.Quote(name) + `,result="not_modified"}`},
			{&fc.failed, `spoaguard_feed_fetches_total{list=` + strconv.Quote(name) + `,result="failed"}`},
			{&fc.received, `spoaguard_feed_received_bytes_total` + label},
		} {
			*c.p = m.set.NewCounter(c.name)
			series = append(series, c.name)
		}
		m.feeds[name] = fc
	}
	for _, g := range gauges {
		value := g.value
		s := g.name + label
		m.set.NewGauge(s, func() float64 {
			for _, st := range m.lists.mgr.Load().Status() {
				if st.Name == name {
					return value(&st)
				}
			}
			return 0
		})
		series = append(series, s)
	}
	s := `spoaguard_list_load_failures_total` + label
	m.failures[name] = m.set.NewCounter(s)
	m.series[name] = append(series, s)
}

// advance adds what the manager counted since the last call.
func (fc *feedCounters) advance(now *feed.Stats) {
	add := func(c *metrics.Counter, cur, seen uint64) {
		if cur > seen {
			c.Add(int(cur - seen))
		}
	}
	add(fc.updated, now.Updated, fc.seen.Updated)
	add(fc.notModified, now.NotModified, fc.seen.NotModified)
	add(fc.failed, now.Failed, fc.seen.Failed)
	add(fc.received, now.BytesTotal, fc.seen.BytesTotal)
	fc.seen = *now
}
