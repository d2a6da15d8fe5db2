package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/fleet"
	"github.com/spoaguard/spoaguard/internal/background"
	"github.com/spoaguard/spoaguard/internal/httpserve"
	"github.com/spoaguard/spoaguard/live"
	"github.com/spoaguard/spoaguard/state"
)

// observeSet returns which of sources' lists are in observe mode, by name.
func observeSet(sources []blocklist.Source) map[string]bool {
	m := map[string]bool{}
	for _, s := range sources {
		if s.Observe {
			m[s.Name] = true
		}
	}
	return m
}

// observed reports whether the file list name is in observe mode in the lists in force.
func (l *liveLists) observed(name string) bool {
	m := l.observe.Load()
	return m != nil && (*m)[name]
}

// setLists makes mgr, loaded from sources, the lists in force: the observe modes first, so
// that the handler, which reads them when it first meets mgr's snapshot, sees the new ones.
func (l *liveLists) setLists(mgr *blocklist.Manager, sources []blocklist.Source) *blocklist.Manager {
	m := observeSet(sources)
	l.observe.Store(&m)
	return l.mgr.Swap(mgr)
}

// openLive opens the live set, from the state directory when there is one: its entries are
// loaded, and the expired ones dropped, before the agent accepts HAProxy. close stops the
// set and closes its store.
func openLive(o *options, log *slog.Logger, set *metrics.Set, bg *background.Priority) (ls *live.Set, close func(), err error) {
	var db *state.DB
	opts := live.Options{Metrics: set, Logger: log, MaxEntries: o.liveMaxEntries, Thread: bg.Lower}
	if o.stateDir != "" {
		if db, err = state.Open(o.stateDir); err != nil {
			return nil, nil, err
		}
		opts.Store = db
	}
	if ls, err = live.Open(opts); err != nil {
		if db != nil {
			db.Close()
		}
		return nil, nil, err
	}
	if db != nil {
		log.Info("live set loaded", "state_file", db.Path(), "entries", ls.Table().Len())
	} else if o.redisURL != "" {
		log.Warn("no -state-dir: live bans come from Redis at start; an agent that starts while Redis is away has none until it reaches it")
	} else {
		log.Warn("no -state-dir: live bans are kept in memory only and will not survive a restart")
	}
	return ls, func() {
		ls.Close()
		if db != nil {
			if err := db.Close(); err != nil {
				log.Error("closing the state file", "err", err)
			}
		}
	}, nil
}

// startAPI binds the admin API (nil when -api is not set) and serves it, each request on a
// thread of bg's priority.
func startAPI(o *options, log *slog.Logger, set *metrics.Set, ls *live.Set, fl *fleet.Fleet, h *decision.Handler, bg *background.Priority) (*httpserve.Endpoint, error) {
	if o.apiAddr == "" {
		return nil, nil
	}
	var token string
	if o.apiTokenFile != "" {
		var err error
		if token, err = admin.ReadTokenFile(o.apiTokenFile); err != nil {
			return nil, err
		}
		warnWeakToken(log, o.apiTokenFile, token)
	}
	if !strings.HasPrefix(o.apiAddr, "unix:") && token == "" {
		return nil, errors.New("a TCP admin API needs -api-token-file")
	}
	cfg := admin.Config{Live: ls, Explain: h.Explain, Token: token, Metrics: set, Logger: log}
	if fl != nil {
		cfg.Apply = fleetApply(fl, ls)
	}
	handler, err := admin.NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	ep, _, err := admin.Listen(o.apiAddr, bg.Handler(handler))
	if err != nil {
		return nil, fmt.Errorf("admin API listener: %w", err)
	}
	go func() {
		if err := ep.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin API listener stopped", "err", err)
		}
	}()
	return ep, nil
}

// minTokenLen is the shortest bearer token not warned about: 16 random characters are
// beyond guessing through an API that answers a request at a time.
const minTokenLen = 16

// warnWeakToken warns of a token that other users of the host can read, or that is short
// enough to guess: the token is what stands between the API's TCP port and the blocklist.
func warnWeakToken(log *slog.Logger, path, token string) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		log.Warn("the admin API's token file can be read by every user of the host: chmod o-r it", "file", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	if len(token) < minTokenLen {
		log.Warn("the admin API's token is short: use at least 16 random characters", "file", path, "length", len(token))
	}
}
