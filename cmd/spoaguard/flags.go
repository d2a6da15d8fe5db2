package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/config"
	"github.com/spoaguard/spoaguard/fleet"
	"github.com/spoaguard/spoaguard/internal/background"
	"github.com/spoaguard/spoaguard/live"
	"github.com/spoaguard/spoaguard/server"
)

// options is the parsed command line.
type options struct {
	listen         []string
	sources        []blocklist.Source
	messages       []string
	arg            string
	scope          codec.Scope
	varBlocked     string
	varList        string
	varLists       string
	varObserved    string
	stateDir       string
	apiAddr        string
	apiTokenFile   string
	liveMaxEntries int
	backgroundNice int
	redisURL       string
	redisNamespace string
	reloadInterval time.Duration
	maxShrink      float64
	listMaxBytes   int64
	listMaxEntries int
	listTimeout    time.Duration
	metricsAddr    string
	maxFrameSize   uint
	pipelining     bool
	fragmentation  bool
	loops          int
	maxConns       int
	helloTimeout   time.Duration
	idleTimeout    time.Duration
	frameTimeout   time.Duration
	writeTimeout   time.Duration
	maxBuffered    int64
	allowPeers     []netip.Prefix
	socketMode     os.FileMode
	socketGroup    string
	maxQueued      int
	maxReassembly  int
	shutdownTime   time.Duration
	logLevel       slog.Level
	logJSON        bool

	configPath string            // -config: the file re-read on SIGHUP
	check      bool              // -check: load and report, do not serve
	version    bool              // -version: print the build and exit
	settings   map[string]string // every flag's value after the command line and the file
}

const usageHead = `spoaguard: an HAProxy SPOE agent that blocks client addresses found in blocklists.

HAProxy sends a NOTIFY with the client address for every request; spoaguard answers with
set-var actions: <scope>.<var-prefix>.<var-blocked> (bool, always set) and, when blocked,
<scope>.<var-prefix>.<var-list> (the name of the first matching deny list). A NOTIFY without
the configured message or address is answered blocked=false.

Usage:
  spoaguard -listen 127.0.0.1:12345 -deny NAME=PATH[,OPTIONS] [-allow NAME=PATH[,OPTIONS]] [flags]

PATH is a file, or an http:// or https:// URL downloaded every refresh interval.

List options (comma-separated after PATH):
  format=FMT        auto (default), plain, netset, spamhaus-drop, spamhaus-json, ipsum,
                    range, ipset-save, mmdb
  min-count=N       ipsum: keep addresses listed by at least N lists
  min-prefix-v4=N   refuse IPv4 prefixes shorter than /N (default 8)
  min-prefix-v6=N   refuse IPv6 prefixes shorter than /N (default 16)
  allow-short       accept prefixes of any length in this list
  observe           deny lists only: never block; a match sets <var-observed> and is counted
  max-bytes=N       refuse a file over N bytes, or over N once decompressed (-list-max-bytes)
  max-entries=N     refuse a file of more than N entries (-list-max-entries)
  max-shrink=S      this list's -max-shrink
  allow-empty       an empty file, or a reload that empties the list, is a list with no entries
  refresh=D         URL: download every D (default 1h)
  stale-after=D     URL: report the list stale once its downloads have failed for D (default 24h)
  countries=CC+CC   mmdb: the networks of these countries (country.iso_code), e.g. CN+RU
  asns=N+N          mmdb: the networks of these autonomous systems, e.g. 64496+64511
  invert            mmdb: every address except the selected networks

Live bans: with -api, addresses are banned and unbanned at run time (see Commands below),
in front of the files; with -state-dir they survive a restart. Precedence: any allow entry
(file or live) wins; otherwise every matching deny list blocks, the first one (file lists in
order, then live lists by name) in <var-list>, all of them in <var-lists>; lists in observe
mode never block and only set <var-observed>.

Signals: SIGHUP reloads every list now; SIGTERM/SIGINT answer in-flight NOTIFYs, send
AGENT-DISCONNECT (status 0) to every connection and exit.

Flags:
`

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
func (m *multiFlag) Repeatable() bool   { return true } // a sequence in the config file

// commandLineOnly are the flags the config file cannot set.
var commandLineOnly = []string{"config", "check", "version"}

// parseFlags parses args (without the program name) and the -config file they name: a flag on
// the command line overrides the file's key for it. Errors name the flag at fault, and the
// file's line when the file set it. -h writes the usage to help and returns flag.ErrHelp.
func parseFlags(args []string, help io.Writer) (_ *options, err error) {
	o := &options{}
	fs := flag.NewFlagSet("spoaguard", flag.ContinueOnError)
	// The flag package prints an error and the whole usage for a bad flag: the caller prints
	// the error alone, with a hint, and the usage goes out only when asked for.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var listen, deny, allow, messages multiFlag
	var scope, logLevel, logFormat, socketMode string
	var allowPeers multiFlag
	fs.Var(&listen, "listen", "`address` to accept HAProxy on: IP:port, [IPv6]:port or unix:/path; repeatable (default 127.0.0.1:12345)")
	fs.Var(&deny, "deny", "deny list `NAME=PATH[,OPTIONS]`; repeatable; the first matching deny list names the block")
	fs.Var(&allow, "allow", "allow list `NAME=PATH[,OPTIONS]`; repeatable; an address on an allow list is never blocked")
	fs.Var(&messages, "message", "SPOE `message` name carrying the client address; repeatable or comma-separated (default check-client-ip)")
	fs.StringVar(&o.arg, "arg", "ip", "message `argument` holding the client address (IPV4/IPV6, or a STRING such as req.hdr(x-forwarded-for)); when it is absent, NULL or not an address, the message's first IPV4/IPV6 argument is used")
	fs.StringVar(&scope, "scope", "txn", "`scope` of the variables set: proc, sess, txn, req or res")
	fs.StringVar(&o.varBlocked, "var-blocked", "blocked", "`name` of the bool variable set on every ACK")
	fs.StringVar(&o.varList, "var-list", "list", "`name` of the string variable holding the matching deny list")
	fs.StringVar(&o.varLists, "var-lists", "lists", "`name` of the string variable holding every matching deny list, comma-separated (set when blocked)")
	fs.StringVar(&o.varObserved, "var-observed", "observed", "`name` of the string variable holding the matching lists in observe mode, comma-separated")
	fs.StringVar(&o.stateDir, "state-dir", "", "`directory` of the agent's state, which survives a restart: live bans (live.db) and the last good download of each URL list (feeds/), served at start without network; \"\" keeps them in memory only")
	fs.StringVar(&o.apiAddr, "api", "", "`address` of the admin API (live bans, /v1/check): IP:port (needs -api-token-file) or unix:/path (the socket's mode and group are the access control); \"\" disables it")
	fs.StringVar(&o.apiTokenFile, "api-token-file", "", "`file` holding the bearer token every admin API request must carry (required for a TCP -api)")
	fs.IntVar(&o.liveMaxEntries, "live-max-entries", live.DefaultMaxEntries, "most `entries` the live set may grow to (about 280 bytes of memory each); a change that would pass it is refused whole (the API answers 507), and removals always pass")
	fs.IntVar(&o.backgroundNice, "background-nice", 0, "`nice` value, 0 to 19, of the threads serving the admin API and applying live bans and expiries; above 0 the event loops get a shared core back sooner while bans are posted, and under load the API answers later; not for cores shared with other busy processes, where a lowered thread holds up the runtime (PERFORMANCE.md); 0 runs them as the loops")
	fs.StringVar(&o.redisURL, "redis", "", "`URL` of the Redis that shares the live set across a fleet of agents: redis://[user:pass@]host:port/db, rediss:// for TLS, ?master_name=NAME for Sentinel (docs/FLEET.md); \"\" keeps the live set local")
	fs.StringVar(&o.redisNamespace, "redis-namespace", fleet.DefaultNamespace, "`prefix` of the Redis keys: the agents naming the same Redis and namespace share one live set")
	fs.DurationVar(&o.reloadInterval, "reload-interval", 5*time.Second, "how often list files are checked for changes")
	fs.Float64Var(&o.maxShrink, "max-shrink", 0.5, "largest `share` of its entries a list of 100 entries or more may lose in one reload; a file that shrinks more is held back as likely truncated (1 accepts any shrink; list option max-shrink)")
	fs.Int64Var(&o.listMaxBytes, "list-max-bytes", blocklist.DefaultMaxBytes, "largest list file, and its size after decompression, in `bytes`; a larger file is refused and the list keeps its contents (list option max-bytes)")
	fs.IntVar(&o.listMaxEntries, "list-max-entries", blocklist.DefaultMaxEntries, "most entries a list file may hold; a file with more is refused and the list keeps its contents (list option max-entries)")
	fs.DurationVar(&o.listTimeout, "list-load-timeout", blocklist.DefaultLoadTimeout, "time budget of one list file's load; a slower load is refused and the list keeps its contents")
	fs.StringVar(&o.metricsAddr, "metrics", "127.0.0.1:12346", "`address` of the HTTP listener serving /metrics (Prometheus text), /healthz (liveness) and /readyz (readiness); \"\" disables it")
	fs.UintVar(&o.maxFrameSize, "max-frame-size", codec.DefaultMaxFrameSize, "largest SPOP frame accepted; the handshake answers min(HAProxy's, this), at least 256, at most 1048576. Keep the default, which echoes HAProxy's 16380: a smaller value makes HAProxy 2.6 fragment NOTIFYs (or, with -fragmentation=false, disconnect with status 10 and reconnect in a loop), and HAProxy 3.1.x before 3.2 may send larger NOTIFYs anyway")
	fs.BoolVar(&o.pipelining, "pipelining", true, "announce the pipelining capability (many NOTIFYs in flight per connection)")
	fs.BoolVar(&o.fragmentation, "fragmentation", true, "announce the fragmentation capability and reassemble fragmented NOTIFYs (HAProxy 2.6)")
	fs.IntVar(&o.loops, "loops", 0, "event loops; 0 = GOMAXPROCS (GOMAXPROCS is raised to loops+1 if lower, so that a P stays idle while the loops wait)")
	fs.IntVar(&o.maxConns, "max-conns", server.DefaultMaxConns, "most HAProxy connections open at once; a newcomer past it ends the connection idle the longest (AGENT-DISCONNECT 13)")
	fs.DurationVar(&o.helloTimeout, "hello-timeout", server.DefaultHelloTimeout, "close a connection that has not sent its HELLO within this time")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "end (AGENT-DISCONNECT) a handshaken connection that has sent no frame for this long; keep it above HAProxy's own idle timeouts (2.6 SPOE \"timeout idle\", 3.x backend \"timeout server\")")
	fs.DurationVar(&o.frameTimeout, "frame-timeout", server.DefaultFrameTimeout, "end a connection whose frame or fragmented NOTIFY has started and not finished within this time")
	fs.DurationVar(&o.writeTimeout, "write-timeout", server.DefaultWriteTimeout, "close a connection whose queued ACKs have not drained within this time (a peer that does not read)")
	fs.Int64Var(&o.maxBuffered, "max-buffered", server.DefaultMaxBuffered, "`bytes` of buffered input, queued output and reassembly over all connections; past it the connections holding the most are closed")
	fs.Var(&allowPeers, "allow-peer", "accept TCP connections only from these `networks` (CIDR or address, comma-separated or repeatable); default any")
	fs.StringVar(&socketMode, "socket-mode", "0660", "permission `mode` (octal) of the -listen unix: sockets")
	fs.StringVar(&o.socketGroup, "socket-group", "", "`group` (name or id) given to the -listen unix: sockets, e.g. HAProxy's; default the agent's")
	fs.IntVar(&o.maxQueued, "max-queued-output", server.DefaultMaxQueuedOutput, "`bytes` of ACKs queued for a peer that does not read before its input is paused")
	fs.IntVar(&o.maxReassembly, "max-reassembly", server.DefaultMaxReassembly, "largest reassembled fragmented NOTIFY, in `bytes`")
	fs.DurationVar(&o.shutdownTime, "shutdown-timeout", 5*time.Second, "longest graceful shutdown after SIGTERM/SIGINT")
	fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&o.configPath, "config", "", "YAML configuration `file`: its keys are these flags' names (a flag given here overrides it) and \"lists\"; re-read on SIGHUP")
	fs.BoolVar(&o.version, "version", false, "print the version, VCS revision and time, and Go version, and exit")
	fs.BoolVar(&o.check, "check", false, "load the configuration and every list, print what would be served and exit: 0 if all is well, 1 if not")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, usageHead)
			fs.SetOutput(help)
			fs.PrintDefaults()
			fmt.Fprint(help, "\n"+commandsUsage)
		}
		return nil, err
	}
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	var file *config.File
	if o.configPath != "" {
		if file, err = config.Load(o.configPath, fs, commandLineOnly...); err != nil {
			return nil, err
		}
		defer func() { err = file.Annotate(err) }()
	}
	o.settings = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { o.settings[f.Name] = f.Value.String() })

	o.listen = listen
	if len(o.listen) == 0 {
		o.listen = []string{"127.0.0.1:12345"}
	}
	for _, m := range messages {
		for _, name := range strings.Split(m, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.messages = append(o.messages, name)
			}
		}
	}
	if len(o.messages) == 0 {
		o.messages = []string{"check-client-ip"}
	}
	if o.maxShrink <= 0 || o.maxShrink > 1 {
		return nil, fmt.Errorf("-max-shrink %g: want a share above 0, at most 1", o.maxShrink)
	}
	var ok bool
	if o.scope, ok = codec.ParseScope(scope); !ok {
		return nil, fmt.Errorf("-scope %q: want proc, sess, txn, req or res", scope)
	}
	if vars := []string{o.varBlocked, o.varList, o.varLists, o.varObserved}; slices.Contains(vars, "") || len(slices.Compact(slices.Sorted(slices.Values(vars)))) != len(vars) {
		return nil, errors.New("-var-blocked, -var-list, -var-lists and -var-observed must be different non-empty names")
	}
	if o.apiAddr != "" && !strings.HasPrefix(o.apiAddr, "unix:") && o.apiTokenFile == "" {
		return nil, fmt.Errorf("-api %s: a TCP admin API needs -api-token-file (or listen on unix:/path)", o.apiAddr)
	}
	if err := o.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", logLevel)
	}
	switch logFormat {
	case "text":
	case "json":
		o.logJSON = true
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", logFormat)
	}
	if o.liveMaxEntries <= 0 {
		return nil, fmt.Errorf("-live-max-entries %d: must be positive", o.liveMaxEntries)
	}
	if o.backgroundNice < 0 || o.backgroundNice > background.MaxNice {
		return nil, fmt.Errorf("-background-nice %d: must be between 0 and %d", o.backgroundNice, background.MaxNice)
	}
	if o.reloadInterval <= 0 {
		return nil, fmt.Errorf("-reload-interval %s: must be positive", o.reloadInterval)
	}
	if o.shutdownTime <= 0 {
		return nil, fmt.Errorf("-shutdown-timeout %s: must be positive", o.shutdownTime)
	}
	if o.maxFrameSize < codec.MinMaxFrameSize || o.maxFrameSize > server.MaxMaxFrameSize {
		return nil, fmt.Errorf("-max-frame-size %d: must be between %d and %d", o.maxFrameSize, codec.MinMaxFrameSize, server.MaxMaxFrameSize)
	}
	for _, v := range allowPeers {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pfx, err := parsePeer(p)
			if err != nil {
				return nil, fmt.Errorf("-allow-peer %q: %w", p, err)
			}
			o.allowPeers = append(o.allowPeers, pfx)
		}
	}
	if m, err := strconv.ParseUint(socketMode, 8, 32); err != nil || m > 0o777 || m == 0 {
		return nil, fmt.Errorf("-socket-mode %q: want octal permission bits such as 0660", socketMode)
	} else {
		o.socketMode = os.FileMode(m)
	}
	// One flag per error, so that the config file's line is named (File.Annotate).
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"list-max-bytes", o.listMaxBytes <= 0}, {"list-max-entries", o.listMaxEntries <= 0},
		{"list-load-timeout", o.listTimeout <= 0}, {"idle-timeout", o.idleTimeout <= 0},
		{"frame-timeout", o.frameTimeout <= 0}, {"write-timeout", o.writeTimeout <= 0},
		{"max-buffered", o.maxBuffered <= 0}, {"max-conns", o.maxConns <= 0},
		{"hello-timeout", o.helloTimeout <= 0}, {"max-queued-output", o.maxQueued <= 0},
		{"max-reassembly", o.maxReassembly <= 0},
	} {
		if c.bad {
			return nil, fmt.Errorf("-%s %s: must be positive", c.name, fs.Lookup(c.name).Value)
		}
	}
	if o.loops < 0 {
		return nil, fmt.Errorf("-loops %d: must not be negative (0 is one per core)", o.loops)
	}
	if o.redisURL != "" {
		if err := fleet.CheckURL(o.redisURL); err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
	}
	if o.maxReassembly < int(o.maxFrameSize) && o.fragmentation {
		return nil, fmt.Errorf("-max-reassembly %d is smaller than -max-frame-size %d: no fragmented NOTIFY could be reassembled", o.maxReassembly, o.maxFrameSize)
	}
	names := map[string]bool{}
	for _, spec := range deny {
		src, err := config.ParseListFlag(spec, blocklist.Deny)
		if err != nil {
			return nil, fmt.Errorf("-deny %q: %w", spec, err)
		}
		o.sources = append(o.sources, src)
	}
	for _, spec := range allow {
		src, err := config.ParseListFlag(spec, blocklist.Allow)
		if err != nil {
			return nil, fmt.Errorf("-allow %q: %w", spec, err)
		}
		o.sources = append(o.sources, src)
	}
	deniers := len(deny)
	if file != nil {
		for _, l := range file.Lists {
			for _, s := range o.sources {
				if s.Name == l.Source.Name {
					return nil, fmt.Errorf("%s:%d: list name %q is used twice", file.Path, l.Line, s.Name)
				}
			}
			o.sources = append(o.sources, l.Source)
			if l.Source.Kind == blocklist.Deny {
				deniers++
			}
		}
	}
	// The live deny entries of -api and -redis block too: an agent fed only live bans is
	// a deployment, one with neither those nor a deny list blocks nothing.
	if deniers == 0 && o.apiAddr == "" && o.redisURL == "" {
		if file != nil { // an empty or cut-short file, most likely: name it
			return nil, fmt.Errorf("%s: no deny entry in lists (and no -deny list, -api or -redis for live bans): nothing would ever be blocked", file.Path)
		}
		return nil, errors.New("no -deny list (or deny entry in the config file's lists), and no -api or -redis for live bans: nothing would ever be blocked")
	}
	for _, s := range o.sources {
		if s.Observe && s.Kind != blocklist.Deny {
			return nil, fmt.Errorf("list %q: observe applies to deny lists only", s.Name)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("list name %q is used twice", s.Name)
		}
		names[s.Name] = true
	}
	return o, nil
}

// parsePeer parses an -allow-peer network: a CIDR, or an address for itself alone.
func parsePeer(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() {
			return p, errors.New("an IPv4-mapped network: write it as IPv4")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
