// Command spoaguard is an HAProxy SPOE agent that checks each request's client address
// against blocklists and tells HAProxy, through SPOP set-var actions, whether to block it.
// Run spoaguard -h for its flags; scripts/haproxy holds matching HAProxy configurations.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/health"
	"github.com/spoaguard/spoaguard/internal/background"
	"github.com/spoaguard/spoaguard/internal/httpserve"
	"github.com/spoaguard/spoaguard/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, hup)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus prints run's error, if any, and returns the exit status: 0 (also after -h), 2
// for a command-line mistake (one line and a hint, not the usage), 1 for any other failure.
func exitStatus(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "spoaguard: %v\nRun 'spoaguard -h' for the flags.\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "spoaguard: %v\n", err)
	return 1
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run is the whole agent: it returns when ctx is done (after a graceful shutdown) or when
// start-up fails. Each value on hup re-reads the -config file and reloads the lists. With
// -check it reports on stdout and returns instead of serving.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, hup <-chan os.Signal) error {
	if len(args) > 0 {
		if cmd, ok := commands[args[0]]; ok {
			err := cmd(args[1:], stdout)
			if errors.Is(err, flag.ErrHelp) { // the commands' flags write nothing themselves
				fmt.Fprint(stdout, commandsUsage)
			}
			return err
		}
	}
	o, err := parseFlags(args, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		if checkRequested(args) { // -check exits 1 on any failure, as a unit's ExecStartPre expects
			return err
		}
		return usageError{err}
	}
	if o.version {
		fmt.Fprintln(stdout, readBuildInfo())
		return nil
	}
	if o.check {
		return runCheck(o, stdout)
	}
	level := new(slog.LevelVar)
	level.Set(o.logLevel)
	log := newLogger(o, level, stderr)
	slog.SetDefault(log)

	// Lists first: a missing or unparsable file stops start-up with its name and line,
	// before anything listens.
	mgr, err := newManager(o, log)
	if err != nil {
		return fmt.Errorf("loading lists: %w", err)
	}
	lists := &liveLists{}
	lists.setLists(mgr, o.sources)
	set := metrics.NewSet()
	bg, err := background.New(o.backgroundNice, set)
	if err != nil {
		return err
	}
	// The live set next, for the same reason: a state file that cannot be read stops the
	// start, naming it.
	ls, closeLive, err := openLive(o, log, set, bg)
	if err != nil {
		return fmt.Errorf("live bans: %w", err)
	}
	defer closeLive()
	fl, stopFleet, err := startFleet(o, log, set, ls)
	if err != nil {
		return usageError{err}
	}
	defer stopFleet()
	h, err := decision.New(lists, decision.Config{
		Messages: o.messages, Arg: o.arg, Scope: o.scope.String(),
		VarBlocked: o.varBlocked, VarList: o.varList, VarLists: o.varLists, VarObserved: o.varObserved,
		Observe: lists.observed, Live: ls, Metrics: set, Logger: log,
	})
	if err != nil {
		return usageError{err}
	}
	ready := newReadiness(set, lists, h)
	srv, err := server.New(serverConfig(o, log, set), h)
	if err != nil {
		return usageError{err}
	}
	lm := newListMetrics(set, lists)
	readBuildInfo().register(set)

	ready.Add(serverReadiness(srv))
	if fl != nil {
		ready.Add(fleetReadiness(fl))
	}
	var cfgState *configState
	if o.configPath != "" {
		cfgState = newConfigState(o.configPath, set)
		ready.Add(cfgState.condition)
	}
	// Refused rather than found out under load, when accepting would pause.
	if msg := fdShortfall(o.maxConns); msg != "" {
		return errors.New(msg)
	}
	// The metrics listener is bound before the agent starts so that a busy port is a
	// start-up error, not a log line.
	var httpSrv *httpserve.Endpoint
	if o.metricsAddr != "" {
		if httpSrv, err = httpserve.Listen(o.metricsAddr, metricsHandler(set, lm, srv, ready), httpserve.Limits{}); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		defer httpSrv.Close()
	}
	api, err := startAPI(o, log, set, ls, fl, h, bg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		if api != nil { // nothing half-started: no ban is taken by an agent that does not serve
			_ = api.Close()
		}
		return err
	}
	metricsAt := "disabled"
	if httpSrv != nil {
		go func() {
			if err := httpSrv.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		metricsAt = httpSrv.Addr().String()
	}
	apiAt := "disabled"
	if api != nil {
		apiAt = api.Addr().String()
	}
	logStartup(log, o, srv, mgr, metricsAt, apiAt)
	// The lists are loaded and every listener is bound: systemd may start HAProxy now.
	sdNotify(fmt.Sprintf("READY=1\nSTATUS=serving %d lists, %d entries", len(o.sources), mgr.Stats().Entries))

	runCtx, cancelRun := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := &reloader{args: args, o: o, log: log, level: level, lists: lists, metrics: lm, config: cfgState}
	go func() {
		defer close(done)
		r.run(runCtx, hup)
	}()

	select {
	case <-ctx.Done():
	case <-srv.Done():
		// The SPOP server stopped by itself: exit non-zero so that a supervisor restarts
		// the agent, rather than answer health checks for a port nobody serves.
		if httpSrv != nil {
			_ = httpSrv.Close()
		}
		cancelRun()
		<-done
		return fmt.Errorf("SPOP server stopped: %w", srv.Err())
	}
	sdNotify("STOPPING=1")
	log.Info("shutting down: answering in-flight NOTIFYs, then AGENT-DISCONNECT to every connection",
		"connections", srv.OpenConns(), "timeout", o.shutdownTime)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTime)
	defer cancel()
	err = srv.Shutdown(sctx)
	if httpSrv != nil {
		_ = httpSrv.Shutdown(sctx)
	}
	if api != nil {
		_ = api.Shutdown(sctx)
	}
	cancelRun()
	lists.mgr.Load().Close() // a SIGHUP reload waiting on a list load returns now
	select {
	case <-done:
	case <-sctx.Done():
		// A SIGHUP that changed the lists loads the new ones before they replace the running
		// ones, and a download can take minutes: the shutdown does not wait past its deadline.
		log.Warn("shutting down while a SIGHUP still loads the lists of a changed configuration; they are not applied")
	}
	lists.mgr.Load().Close() // and the temporary download directory, when there is no -state-dir
	if err != nil {
		return fmt.Errorf("graceful shutdown incomplete: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(o *options, level slog.Leveler, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if o.logJSON {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func logStartup(log *slog.Logger, o *options, srv *server.Server, mgr *blocklist.Manager, metricsAt, apiAt string) {
	var addrs []string
	for _, a := range srv.Addrs() {
		if a != nil {
			addrs = append(addrs, a.String())
		}
	}
	for _, st := range mgr.Status() {
		log.Info("list", "name", st.Name, "kind", st.Kind.String(), "path", st.Path, "format", st.Format.String(),
			"entries", st.Entries, "skipped_lines", st.Skipped)
	}
	stats := mgr.Stats()
	log.Info("spoaguard started", "listen", strings.Join(addrs, ","), "metrics", metricsAt, "api", apiAt,
		"lists", len(o.sources), "entries", stats.Entries, "build", stats.LastDuration.Round(time.Millisecond),
		"messages", strings.Join(o.messages, ","), "arg", o.arg,
		"vars", fmt.Sprintf("%s.<prefix>.%s / %s / %s / %s", o.scope, o.varBlocked, o.varList, o.varLists, o.varObserved),
		"max_frame_size", o.maxFrameSize, "pipelining", o.pipelining, "fragmentation", o.fragmentation,
		"loops", srv.Loops(), "gomaxprocs", runtime.GOMAXPROCS(0), "max_conns", o.maxConns, "reload_interval", o.reloadInterval)
}

func metricsHandler(set *metrics.Set, lm *listMetrics, srv *server.Server, ready *health.Readiness) http.Handler {
	mux := http.NewServeMux()
	// HELP and TYPE lines: Prometheus and VictoriaMetrics then know counters from gauges
	// without guessing from the name.
	metrics.ExposeMetadata(true)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		lm.sync() // the reload and failure counters as of now, not as of the last second's tick
		set.WritePrometheus(w)
		// go_goroutines, go_memstats_*, process_resident_memory_bytes, process_open_fds:
		// what a leak shows up in first (scripts/soak.sh watches them; scripts/bench.sh
		// reads allocations per ACK from go_memstats_mallocs_total).
		metrics.WriteProcessMetrics(w)
		metrics.WriteFDMetrics(w) // lists /proc/self/fd: per scrape, never on the hot path
	})
	// Liveness: the process answers. Whether it does its job is /readyz's question.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %d connections\n", srv.OpenConns())
	})
	mux.Handle("/readyz", ready)
	return mux
}

// serverConfig is the SPOP server's configuration from the options.
func serverConfig(o *options, log *slog.Logger, set *metrics.Set) server.Config {
	return server.Config{
		Listen:               o.listen,
		MaxFrameSize:         uint32(o.maxFrameSize),
		DisablePipelining:    !o.pipelining,
		DisableFragmentation: !o.fragmentation,
		MaxReassembly:        o.maxReassembly,
		MaxQueuedOutput:      o.maxQueued,
		Loops:                o.loops,
		MaxConns:             o.maxConns,
		HelloTimeout:         o.helloTimeout,
		IdleTimeout:          o.idleTimeout,
		FrameTimeout:         o.frameTimeout,
		WriteTimeout:         o.writeTimeout,
		MaxBuffered:          o.maxBuffered,
		AllowPeers:           o.allowPeers,
		SocketMode:           o.socketMode,
		SocketGroup:          o.socketGroup,
		Logger:               log,
		Metrics:              set,
	}
}
