package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/feed"
	"github.com/spoaguard/spoaguard/health"
)

// liveLists is the handler's snapshot source: the manager of the lists in force. A reload
// whose configuration names other lists (or list options) loads them into a new manager and
// swaps it in whole, so a NOTIFY sees either the old lists or the new ones.
type liveLists struct {
	mgr     atomic.Pointer[blocklist.Manager]
	observe atomic.Pointer[map[string]bool] // the lists in observe mode, by name
}

// Snapshot is two atomic loads, once per batch of NOTIFYs.
func (l *liveLists) Snapshot() *blocklist.Snapshot { return l.mgr.Load().Snapshot() }

func newManager(o *options, log *slog.Logger) (*blocklist.Manager, error) {
	return blocklist.NewManager(o.sources, listOptions(o, log))
}

// listOptions are the options the agent loads its lists with, -check's as well.
func listOptions(o *options, log *slog.Logger) blocklist.Options {
	return blocklist.Options{PollInterval: o.reloadInterval, ShrinkLimit: o.maxShrink,
		MaxBytes: o.listMaxBytes, MaxEntries: o.listMaxEntries, LoadTimeout: o.listTimeout, Logger: log,
		StateDir: o.stateDir, Feed: feed.Config{UserAgent: userAgent()}}
}

// userAgent identifies spoaguard to the feeds it downloads: spoaguard/<-version's version>.
func userAgent() string {
	return "spoaguard/" + readBuildInfo().version + " (+https://github.com/spoaguard/spoaguard)"
}

// liveSettings are the flags a SIGHUP applies to the running agent, besides the config file's
// lists. A change to any other flag's key is logged as needing a restart.
var liveSettings = map[string]bool{"deny": true, "allow": true, "reload-interval": true, "max-shrink": true, "log-level": true}

// reloader applies SIGHUPs and logs every snapshot published.
type reloader struct {
	args    []string // the command line, re-parsed with the file on SIGHUP
	o       *options // the configuration in force
	log     *slog.Logger
	level   *slog.LevelVar
	lists   *liveLists
	metrics *listMetrics

	stopPoll context.CancelFunc // stops the current manager's file polling
	builds   uint64             // the current manager's builds last reported
	config   *configState       // what the last SIGHUP made of the -config file; nil without one
	loads    map[string]uint64  // each list's loads at the last report, to name the lists a reload changed
}

// configState is what the last SIGHUP made of the -config file. A file that does not parse, or
// whose lists do not load, leaves the running configuration in force: /readyz (the "config"
// condition, degraded) and the metrics say so, not only the log, since a SIGHUP sent by hand
// or by a container runtime has no ExecReload check in front of it.
type configState struct {
	path string

	mu      sync.Mutex
	err     string    // why the file of the last SIGHUP was not applied; "" when it was
	at      time.Time // that SIGHUP's time
	restart []string  // settings the file changes that only a restart applies

	applied, failed *metrics.Counter
}

func newConfigState(path string, set *metrics.Set) *configState {
	c := &configState{path: path,
		applied: set.NewCounter(`spoaguard_config_reloads_total{result="applied"}`),
		failed:  set.NewCounter(`spoaguard_config_reloads_total{result="failed"}`)}
	set.NewGauge(`spoaguard_config_last_reload_successful`, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err != "" {
			return 0
		}
		return 1
	})
	return c
}

// done records a SIGHUP's outcome: err is why the file was not applied (nil: it was), restart
// the settings it changes that need a restart.
func (c *configState) done(err error, restart []string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.err = time.Now(), ""
	if err != nil {
		c.err = err.Error()
		c.failed.Inc()
		return
	}
	c.restart = restart
	c.applied.Inc()
}

// condition is the "config" readiness condition.
func (c *configState) condition() []health.Condition {
	c.mu.Lock()
	defer c.mu.Unlock()
	cond := health.Condition{Name: "config", Level: health.Ready, Detail: "in force: " + c.path}
	switch {
	case c.err != "":
		cond.Level = health.Degraded
		cond.Detail = fmt.Sprintf("not applied: the SIGHUP at %s left the configuration read before in force: %s",
			c.at.UTC().Format(time.RFC3339), c.err)
	case len(c.restart) > 0:
		cond.Detail += "; changed settings that need a restart: " + strings.Join(c.restart, ", ")
	}
	return []health.Condition{cond}
}

func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	r.startPolling(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			sdNotify("RELOADING=1")
			r.reload(ctx)
			st := r.lists.mgr.Load().Stats()
			sdNotify(fmt.Sprintf("READY=1\nSTATUS=serving %d lists, %d entries", len(r.o.sources), st.Entries))
		case <-tick.C:
			r.report("")
			r.metrics.sync()
		}
	}
}

func (r *reloader) startPolling(ctx context.Context) {
	mgr := r.lists.mgr.Load()
	pctx, cancel := context.WithCancel(ctx)
	r.stopPoll, r.builds = cancel, mgr.Stats().Builds
	r.changedLists(mgr) // the loads so far are the new manager's start
	go mgr.Run(pctx)
}

// report logs a snapshot published since the last report, with the lists loaded again for it.
// trigger "" is the manager's own doing: "file change" for files, "download" for URL lists.
func (r *reloader) report(trigger string) {
	mgr := r.lists.mgr.Load()
	st := mgr.Stats()
	if st.Builds == r.builds {
		return
	}
	r.builds = st.Builds
	names, files, urls := r.changedLists(mgr)
	if trigger == "" {
		switch {
		case urls && files:
			trigger = "file change and download"
		case urls:
			trigger = "download"
		default:
			trigger = "file change"
		}
	}
	r.log.Info("lists reloaded", "trigger", trigger, "lists", strings.Join(names, ","),
		"duration", st.LastDuration.Round(time.Microsecond), "entries", st.Entries)
}

// changedLists names the lists of mgr loaded since it was last asked, and says whether files,
// URL lists or both are among them.
func (r *reloader) changedLists(mgr *blocklist.Manager) (names []string, files, urls bool) {
	loads := map[string]uint64{}
	for _, st := range mgr.Status() {
		loads[st.Name] = st.Loads
		if st.Loads == r.loads[st.Name] {
			continue
		}
		names = append(names, st.Name)
		if st.Feed != nil {
			urls = true
		} else {
			files = true
		}
	}
	r.loads = loads
	return names, files, urls
}

// reload handles one SIGHUP: re-read the config file (if any), apply what can change live,
// report what needs a restart, and reload every list. A config that does not parse, or whose
// new lists do not load, changes nothing: the running lists are reloaded as they are.
func (r *reloader) reload(ctx context.Context) {
	if r.o.configPath == "" {
		r.log.Info("SIGHUP: reloading every list")
		r.reloadLists()
		return
	}
	r.log.Info("SIGHUP: re-reading the configuration and every list", "config", r.o.configPath)
	no, err := parseFlags(r.args, io.Discard)
	if err != nil {
		r.log.Error("SIGHUP: configuration not applied; the running one stays", "err", err)
		r.config.done(err, nil)
		r.reloadLists()
		return
	}
	restart := restartNeeded(r.o, no)
	for _, name := range restart {
		r.log.Warn("SIGHUP: setting changed, but it needs a restart to apply", "setting", name,
			"running", r.o.settings[name], "config", no.settings[name])
	}
	if no.logLevel != r.o.logLevel {
		r.level.Set(no.logLevel)
		r.o.logLevel = no.logLevel
		r.log.Info("SIGHUP: log level changed", "level", no.logLevel)
	}
	if slices.EqualFunc(no.sources, r.o.sources, blocklist.Source.Equal) && no.reloadInterval == r.o.reloadInterval && no.maxShrink == r.o.maxShrink {
		r.config.done(nil, restart)
		r.reloadLists()
		return
	}
	// The new lists load under the running values of everything else (-state-dir,
	// -list-max-bytes, ...): a setting logged above as needing a restart does not apply.
	next := *r.o
	next.sources, next.reloadInterval, next.maxShrink = no.sources, no.reloadInterval, no.maxShrink
	mgr, err := newManager(&next, r.log)
	if err != nil {
		r.log.Error("SIGHUP: the configuration's lists did not load; the running lists stay", "err", err)
		r.config.done(fmt.Errorf("the configuration's lists did not load: %w", err), nil)
		r.reloadLists()
		return
	}
	r.config.done(nil, restart)
	old := r.lists.setLists(mgr, no.sources)
	r.stopPoll()
	old.Close()
	r.o.sources, r.o.reloadInterval, r.o.maxShrink = no.sources, no.reloadInterval, no.maxShrink
	for _, name := range []string{"max-shrink", "reload-interval"} { // applied with the new lists
		if r.o.settings[name] != no.settings[name] {
			r.log.Info("SIGHUP: setting changed", "setting", name, "was", r.o.settings[name], "now", no.settings[name])
		}
	}
	for name := range liveSettings {
		r.o.settings[name] = no.settings[name]
	}
	r.startPolling(ctx)
	r.metrics.swapped()
	st := mgr.Stats()
	r.log.Info("lists reloaded", "trigger", "SIGHUP", "lists", listNames(mgr), "was", listNames(old),
		"duration", st.LastDuration.Round(time.Microsecond), "entries", st.Entries)
}

func (r *reloader) reloadLists() {
	if err := r.lists.mgr.Load().Reload(); err != nil {
		r.log.Warn("reload: some lists kept their previous contents", "err", err)
	}
	r.report("SIGHUP")
	r.metrics.sync()
}

// restartNeeded names the settings that differ between the running options and a re-read
// configuration and cannot change live, in name order.
func restartNeeded(running, next *options) []string {
	var out []string
	for name, v := range next.settings {
		if !liveSettings[name] && running.settings[name] != v {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func listNames(m *blocklist.Manager) string {
	var names []string
	for _, st := range m.Status() {
		names = append(names, st.Name)
	}
	return strings.Join(names, ",")
}

// checkRequested reports whether args ask for -check, for the exit status of a command line
// that does not parse.
func checkRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		switch strings.TrimLeft(a, "-") {
		case "check", "check=true", "check=1":
			return strings.HasPrefix(a, "-")
		}
	}
	return false
}
