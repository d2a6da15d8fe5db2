// Command spoaguard-bench is spoaguard's benchmark tool: an SPOP load generator that plays
// HAProxy (run), the do-nothing agent spoaguard is measured against (null-agent) and its
// do-nothing admin API (null-api), the generator of the synthetic blocklist (gen-list), a table of results (table) and the reader
// of one field of the results (field).
//
//	spoaguard-bench run -addr 127.0.0.1:12345 -conns 8 -inflight 20 -duration 10s
//	spoaguard-bench null-agent -listen 127.0.0.1:12346
//	spoaguard-bench null-api -listen unix:/tmp/null-api.sock
//	spoaguard-bench gen-list -n 2000000 -o list.txt -targets targets.txt
//	spoaguard-bench gen-targets -o targets.txt ipsum=ipsum.txt,format=ipsum tor=tor.txt
//	spoaguard-bench table -ceiling null reports/*.json
//	spoaguard-bench field acks_per_sec reports/*.json
//
// Each subcommand documents its flags with -h. run exits 1 when the run failed (any wrong,
// unexpected or missing ACK, or a connection lost), 2 on a usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/spoaguard/spoaguard/bench"
	"github.com/spoaguard/spoaguard/bench/nullagent"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
)

const usage = `usage: spoaguard-bench <command> [flags]

commands:
  run         drive an SPOP agent like HAProxy and report ACK/s, latency and errors
  null-agent  serve the do-nothing agent (handshake + canned ACK), the throughput ceiling
  gen-list    write a synthetic blocklist and a targets file that matches it
  gen-targets write a targets file for agents serving given list files (real feeds)
  table       print a Markdown table comparing agents from run -json reports
  field       print one field of run -json reports, one line per report (for scripts)
  idle        hold handshaken idle connections open (memory per idle connection)
  attack      play hostile peers in waves: silent, idle, half-sent, never reading, HTTP
  bans        post bans to an agent's admin API at a steady rate (live changes under load)
  null-api    serve the do-nothing admin API (answers POST /v1/bans, applies nothing)

"spoaguard-bench <command> -h" lists the command's flags.
`

// commands maps each command of the usage to the function that runs it with its arguments.
var commands = map[string]func(args []string) error{
	"run":         runCmd,
	"null-agent":  nullAgentCmd,
	"gen-list":    genListCmd,
	"gen-targets": genTargetsCmd,
	"table":       tableCmd,
	"field":       fieldCmd,
	"idle":        idleCmd,
	"attack":      attackCmd,
	"bans":        bansCmd,
	"null-api":    nullAPICmd,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "spoaguard-bench: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "spoaguard-bench:", err)
		os.Exit(1)
	}
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: spoaguard-bench %s [flags]\n\n%s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func runCmd(args []string) error {
	fs := newFlagSet("run", `Opens -conns connections to the agent, does the HELLO handshake on each, then keeps
exactly -inflight NOTIFYs in flight per connection, refilling as ACKs arrive (the
replacements of one read go out in one write). Every ACK is matched to its NOTIFY and
its decision checked; any wrong, unexpected or missing ACK fails the run (exit 1).
Targets come from -targets (a file written by gen-list, or "ADDR [blocked|allowed]"
lines) or are generated: -gen N addresses outside every synthetic list (all allowed).`)
	// A flag that is a field of the run's configuration sets it; the others are read after
	// parsing.
	cfg := bench.Config{Check: bench.Check{Scope: codec.ScopeTxn}}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:12345", "agent address `host:port`")
	fs.IntVar(&cfg.Conns, "conns", 8, "connections")
	fs.IntVar(&cfg.InFlight, "inflight", 20, "NOTIFYs in flight per connection (HAProxy: up to 20)")
	ids := fs.String("ids", "3.x", "stream-id style: 2.6 (global counter from 0) or 3.x (odd per connection)")
	targetsFile := fs.String("targets", "", "targets `file` (default: generate with -gen)")
	gen := fs.Int("gen", 65536, "with no -targets: generate this many addresses, none listed")
	v6 := fs.Float64("v6", 0, "with -gen: share of IPv6 addresses (0..1)")
	seed := fs.Uint64("seed", 1, "with -gen: random seed")
	fs.StringVar(&cfg.Message, "message", "check-client-ip", "NOTIFY message name")
	fs.StringVar(&cfg.Arg, "arg", "ip", "argument carrying the address")
	fs.StringVar(&cfg.Check.VarBlocked, "var-blocked", "blocked", "txn variable the agent sets to the decision (BOOL)")
	fs.StringVar(&cfg.Check.VarList, "var-list", "list", "txn variable naming the matching list (STRING)")
	fs.StringVar(&cfg.Check.ListName, "list", "", "if set, every blocked ACK must name this list")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before the measured window")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window (at most 1h)")
	fs.Uint64Var(&cfg.MaxACKs, "acks", 0, "end the measured window after this many ACKs (0: no count bound)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "pace NOTIFYs to this many per second in total (0: as fast as the agent answers)")
	fs.DurationVar(&cfg.AckTimeout, "ack-timeout", 2*time.Second, "a NOTIFY un-ACKed this long is missing")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 5*time.Second, "connect + handshake timeout per connection")
	fs.IntVar(&cfg.AgentPID, "agent-pid", 0, "agent `pid`: CPU time per ACK from /proc/PID/stat")
	fs.StringVar(&cfg.AgentMetrics, "agent-metrics", "", "agent Prometheus `url`: allocations per ACK from go_memstats_mallocs_total")
	jsonOut := fs.String("json", "", "also write the report as JSON to this `file` (- for stdout)")
	label := fs.String("label", "", "label printed with the report")
	agentName := fs.String("agent-name", "", "name of the agent under test, for table (e.g. null, spoaguard)")
	cell := fs.String("cell", "", "name of the load shape, for table: runs of one cell form one row")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to this `file`")
	zipf := fs.Float64("zipf", 0, "draw the NOTIFYs' targets with heavy-tailed weights, the target at position k with weight 1/(k+1)^`S` (S > 1); 0: each target in turn")
	zipfDraws := fs.Int("zipf-draws", 262144, "with -zipf: how many targets to draw (the run cycles through them)")
	expectAllowed := fs.Bool("expect-allowed", false, "expect blocked=false for every target, whatever -targets says: for the do-nothing agent, sent the NOTIFYs another agent is measured with")
	fs.Parse(args)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var err error
	if cfg.IDStyle, err = bench.ParseIDStyle(*ids); err != nil {
		return err
	}
	var targets []bench.Target
	if *targetsFile != "" {
		f, err := os.Open(*targetsFile)
		if err != nil {
			return err
		}
		targets, err = bench.ReadTargets(f)
		f.Close()
		if err != nil {
			return err
		}
	} else {
		targets = bench.CleanTargets(*gen, *v6, *seed)
	}
	if *zipf != 0 {
		if targets, err = bench.Zipf(targets, *zipfDraws, *zipf, *seed); err != nil {
			return err
		}
	}
	if *expectAllowed {
		for i := range targets {
			targets[i].Blocked = false
		}
	}
	cfg.Targets = targets
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, runErr := bench.Run(ctx, cfg)
	if rep == nil {
		return runErr
	}
	rep.Label, rep.AgentName, rep.Cell = *label, *agentName, *cell
	rep.WriteText(os.Stdout)
	if *jsonOut != "" {
		w := os.Stdout
		if *jsonOut != "-" {
			f, err := os.Create(*jsonOut)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := rep.WriteJSON(w); err != nil {
			return err
		}
	}
	return runErr
}

func nullAgentCmd(args []string) error {
	fs := newFlagSet("null-agent", `Serves the do-nothing agent: HELLO handshake, then a canned ACK (set-var
txn.<var-blocked> = false, ids copied) for every NOTIFY, without decoding it, all ACKs
of one read in one write. Runs until SIGINT or SIGTERM.`)
	listen := fs.String("listen", "127.0.0.1:12346", "listen `address`")
	loops := fs.Int("loops", 1, "gnet event loops")
	varBlocked := fs.String("var-blocked", "blocked", "variable set to false in every ACK")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics (Go runtime, for allocations per ACK) on this `address`")
	fs.Parse(args)

	a, err := nullagent.Start(nullagent.Config{Addr: *listen, Loops: *loops, VarBlocked: *varBlocked})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "null-agent: listening on %s, %d loops, pid %d\n", a.Addr(), *loops, os.Getpid())
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { metrics.WritePrometheus(w, true) })
		srv := &http.Server{Addr: *metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				fmt.Fprintln(os.Stderr, "null-agent: metrics:", err)
			}
		}()
		defer srv.Close()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-waitChan(a):
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	return a.Stop(stopCtx)
}

func waitChan(a *nullagent.Agent) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- a.Wait() }()
	return ch
}

func genListCmd(args []string) error {
	fs := newFlagSet("gen-list", `Writes a synthetic blocklist in plain format (one address or prefix a line) and,
with -targets, a targets file for "run -targets": -sample addresses the list covers
(expected blocked) mixed with addresses no synthetic list can cover (expected allowed).
The same flags always give the same files.`)
	n := fs.Int("n", 2000000, "list entries")
	out := fs.String("o", "synthetic-list.txt", "list `file`")
	v6 := fs.Float64("v6", 0.1, "share of IPv6 entries (0..1)")
	prefixes := fs.Float64("prefixes", 0.1, "share of entries that are prefixes (/24, /48) rather than hosts")
	seed := fs.Uint64("seed", 1, "random seed")
	targetsOut := fs.String("targets", "", "also write a targets `file`")
	targetsN := fs.Int("targets-n", 65536, "targets to write")
	listed := fs.Float64("listed", 0.05, "share of targets the list covers (0..1)")
	targetsV6 := fs.Float64("targets-v6", 0.1, "share of IPv6 among the allowed targets (0..1)")
	fs.Parse(args)

	sample := 0
	if *targetsOut != "" {
		sample = max(1, int(float64(*targetsN)**listed))
	}
	l := bench.SyntheticList{Entries: *n, V6Share: *v6, PrefixShare: *prefixes, Seed: *seed}
	members, err := l.WriteFile(*out, sample)
	if err != nil {
		return err
	}
	if *targetsOut == "" {
		return nil
	}
	clean := bench.CleanTargets(*targetsN, *targetsV6, *seed+1)
	tf, err := os.Create(*targetsOut)
	if err != nil {
		return err
	}
	if err := bench.WriteTargets(tf, bench.Mix(members, clean, *targetsN, *listed)); err != nil {
		tf.Close()
		return err
	}
	return tf.Close()
}

func genTargetsCmd(args []string) error {
	fs := newFlagSet("gen-targets LIST...", `Writes a targets file for "run -targets" against an agent serving the given lists,
all as deny lists: a share -listed of addresses the lists cover, picked evenly by range,
and random addresses they do not cover, each with the decision the lists give it. LIST is
NAME=PATH with optional ,format=FMT (as spoaguard's -deny takes it; default auto). For
real feeds, where gen-list's synthetic address split does not hold. The same lists and
flags always give the same file.`)
	out := fs.String("o", "targets.txt", "targets `file`")
	n := fs.Int("n", 65536, "targets to write")
	listed := fs.Float64("listed", 0.05, "share of targets the lists cover (0..1)")
	v6 := fs.Float64("v6", 0.1, "share of IPv6 among the targets the lists do not cover (0..1)")
	seed := fs.Uint64("seed", 1, "random seed")
	fs.Parse(args)
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	var lists []blocklist.List
	for _, arg := range fs.Args() {
		src, err := listSource(arg)
		if err != nil {
			return err
		}
		p, err := blocklist.ParseFile(src)
		if err != nil {
			return err
		}
		lists = append(lists, blocklist.List{Name: src.Name, Kind: blocklist.Deny, Parsed: p})
	}
	ts, err := bench.ListTargets(lists, *n, *listed, *v6, *seed)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := bench.WriteTargets(f, ts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listSource reads NAME=PATH[,format=FMT].
func listSource(arg string) (blocklist.Source, error) {
	name, rest, ok := strings.Cut(arg, "=")
	if !ok || name == "" || rest == "" {
		return blocklist.Source{}, fmt.Errorf("list %q: want NAME=PATH[,format=FMT]", arg)
	}
	path, opts, _ := strings.Cut(rest, ",")
	src := blocklist.Source{Name: name, Path: path, Kind: blocklist.Deny}
	if opts != "" {
		v, ok := strings.CutPrefix(opts, "format=")
		if !ok || strings.Contains(v, ",") {
			return blocklist.Source{}, fmt.Errorf("list %q: the only option is format=FMT", arg)
		}
		f, err := blocklist.ParseFormat(v)
		if err != nil {
			return blocklist.Source{}, fmt.Errorf("list %q: %w", arg, err)
		}
		src.Format = f
	}
	return src, nil
}

func tableCmd(args []string) error {
	fs := newFlagSet("table FILE...", `Reads reports written by "run -json" and prints one Markdown row per -cell, with the
agents of that cell side by side: ACK/s, p50/p99, CPU per ACK, and for each agent but
the ceiling its share of the ceiling's ACK/s, its CPU per ACK as a multiple of the
ceiling's, and its allocations per ACK.`)
	ceiling := fs.String("ceiling", "null", "agent-name the others are quoted against")
	fs.Parse(args)
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	reps, err := bench.ReadReports(fs.Args())
	if err != nil {
		return err
	}
	return bench.WriteTable(os.Stdout, reps, *ceiling)
}

func fieldCmd(args []string) error {
	fs := newFlagSet("field NAME FILE...", `Prints the field NAME of each report written by "run -json", one line per report in
the order given: NAME is the field's JSON name, with a dot into an object
("acks_per_sec", "latency.p99_ns", "acks_per_second_timeline"); numbers are printed in
full, an array's elements separated by spaces.`)
	fs.Parse(args)
	if fs.NArg() < 2 {
		fs.Usage()
		os.Exit(2)
	}
	reps, err := bench.ReadReports(fs.Args()[1:])
	if err != nil {
		return err
	}
	for _, r := range reps {
		v, err := r.Field(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Println(v)
	}
	return nil
}

func idleCmd(args []string) error {
	fs := newFlagSet("idle", `Opens -conns connections, does the HELLO handshake on each, prints "ready" once all
are up, keeps them idle for -hold, then closes them. For measuring an agent's memory per
idle connection (its RSS with and without them).`)
	addr := fs.String("addr", "127.0.0.1:12345", "agent address `host:port`")
	conns := fs.Int("conns", 1000, "connections")
	hold := fs.Duration("hold", 10*time.Second, "how long to keep them open (at most 1h)")
	fs.Parse(args)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return bench.HoldIdle(ctx, bench.Config{
		Addr: *addr, Conns: *conns, InFlight: 1, Targets: bench.CleanTargets(1, 0, 1), Duration: *hold,
	}, *hold, func() { fmt.Println("ready") })
}
