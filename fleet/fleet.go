package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
)

// Options configure a Fleet.
type Options struct {
	// URL is redis://[user:pass@]host:port/db, or rediss:// for TLS. A master_name query
	// parameter (with more sentinels as addr=host:port) selects Sentinel failover:
	// redis://sentinel1:26379/0?master_name=mymaster&addr=sentinel2:26379.
	URL string
	// Namespace prefixes every key (default "spoaguard").
	Namespace string
	// LogRetention is how long the change log keeps batches (default 24h). An agent that is
	// away for longer resyncs in whole when it comes back.
	LogRetention time.Duration
	// WriteTimeout bounds a write: Redis accepting it and this agent applying it (default 5s).
	WriteTimeout time.Duration
	// Poll is how long a blocking read of the log waits before the Follower checks the epoch
	// and head for a flush or failover that wrote nothing (default 1s).
	Poll time.Duration
	// MaxBackoff caps the jittered reconnect backoff (default 10s).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	Metrics    *metrics.Set // default: a private set
}

// DefaultNamespace is the namespace of Options that name none.
const DefaultNamespace = "spoaguard"

// ErrUnavailable wraps every write refused because Redis cannot be reached.
var ErrUnavailable = errors.New("redis unavailable")

// Fleet is one agent's connection to the shared live set: it follows the log into a Sink
// (Run) and writes changes for the agent's API (Write).
type Fleet struct {
	opt  Options
	rdb  redis.UniversalClient
	sink Sink
	log  *slog.Logger
	keys []string // entries, expiry, log, head, epoch

	mu      sync.Mutex
	epoch   string
	pos     string        // ID of the last batch applied
	skip    string        // a log entry that forced a resync: reading resumes after it, not at a head before it
	synced  bool          // a full sync has completed since start
	advance chan struct{} // closed and replaced whenever pos moves or a sync completes

	resyncs   *metrics.Counter
	batches   *metrics.Counter
	changes   *metrics.Counter
	failures  *metrics.Counter
	writes    *metrics.Counter
	wfail     *metrics.Counter
	lagS      float64
	upV       float64   // 1 up, 0 down, -1 not known yet
	downSince time.Time // when upV last turned 0

	// The entries the sink left out for want of room, owned by Run's goroutine (limited nil:
	// a sink without a limit), and what the gauges read of them.
	limited     limitedSink
	left        leftQueue
	restoreDue  bool          // a pass brought back all it may and more fit: read the log without blocking
	lastSync    time.Time     // when the last full sync started
	syncGap     time.Duration // least time from lastSync to a full sync for the entries forgotten
	leftN       atomic.Int64
	forgottenN  atomic.Int64
	restored    *metrics.Counter
	leftExpired *metrics.Counter
	// The warnings of entries left out, owned by Run's goroutine.
	leftWarn           warnBudget
	leftWarnSuppressed *metrics.Counter
}

// New returns a Fleet for opt that keeps sink in step once Run is called. It does not
// connect: an agent starts, and enforces what it has, whether or not Redis answers.
func New(opt Options, sink Sink) (*Fleet, error) {
	if opt.Namespace == "" {
		opt.Namespace = DefaultNamespace
	}
	if strings.ContainsAny(opt.Namespace, " \t\r\n{}") {
		return nil, fmt.Errorf("redis namespace %q: no spaces or braces", opt.Namespace)
	}
	if opt.LogRetention <= 0 {
		opt.LogRetention = 24 * time.Hour
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 5 * time.Second
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	refused := opt.Metrics.NewCounter("spoaguard_redis_replies_refused_total")
	rdb, err := newClient(opt.URL, refused)
	if err != nil {
		return nil, err
	}
	ns := opt.Namespace
	f := &Fleet{
		opt: opt, rdb: rdb, sink: sink, log: opt.Logger.With("component", "redis"),
		keys:    []string{ns + ":entries", ns + ":expiry", ns + ":log", ns + ":head", ns + ":epoch"},
		advance: make(chan struct{}), upV: -1,
	}
	if ls, ok := sink.(limitedSink); ok {
		_, limit := ls.room()
		f.limited, f.left.max, f.syncGap = ls, max(limit, minRemembered), forgottenResyncGap
	}
	clientLog.Store(f.log)
	setClientLogger.Do(func() { redis.SetLogger(clientLogger{}) })
	m := opt.Metrics
	m.NewGauge("spoaguard_redis_up", func() float64 { f.mu.Lock(); defer f.mu.Unlock(); return max(0, f.upV) })
	m.NewGauge("spoaguard_redis_lag_seconds", func() float64 { f.mu.Lock(); defer f.mu.Unlock(); return f.lagS })
	f.resyncs = m.NewCounter("spoaguard_redis_resyncs_total")
	f.batches = m.NewCounter("spoaguard_redis_batches_applied_total")
	f.changes = m.NewCounter("spoaguard_redis_changes_applied_total")
	f.failures = m.NewCounter("spoaguard_redis_errors_total")
	f.writes = m.NewCounter("spoaguard_redis_writes_total")
	f.wfail = m.NewCounter("spoaguard_redis_write_errors_total")
	m.NewGauge("spoaguard_redis_entries_left_out", func() float64 { return float64(f.leftN.Load()) })
	m.NewGauge("spoaguard_redis_entries_left_out_forgotten", func() float64 { return float64(f.forgottenN.Load()) })
	f.restored = m.NewCounter("spoaguard_redis_entries_restored_total")
	f.leftExpired = m.NewCounter("spoaguard_redis_entries_left_out_expired_total")
	f.leftWarnSuppressed = m.NewCounter("spoaguard_redis_left_out_warnings_suppressed_total")
	return f, nil
}

// clientLog receives go-redis's own messages (a dial that failed, a connection pool's
// retries): the log of the last Fleet made, at debug level. The library's default writes them
// to stderr unstructured, several a second while Redis is away, past -log-format and
// -log-level; the follower's warning already says when Redis is away and when it is back.
var (
	clientLog       atomic.Pointer[slog.Logger]
	setClientLogger sync.Once
)

// clientLogger is go-redis's logger (redis.SetLogger is process-wide).
type clientLogger struct{}

func (clientLogger) Printf(ctx context.Context, format string, v ...any) {
	if l := clientLog.Load(); l != nil && l.Enabled(ctx, slog.LevelDebug) {
		l.DebugContext(ctx, "redis client: "+strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	}
}

// newClient parses a redis:// or rediss:// URL, with Sentinel when it names a master. Its
// connections refuse the replies past the bounds of guard.go (counted in refused), and a
// command's context bounds its reads and writes on the socket, so that Write returns within
// its WriteTimeout whatever the server does.
func newClient(raw string, refused *metrics.Counter) (redis.UniversalClient, error) {
	fo, o, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	if fo != nil {
		timeout := fo.DialTimeout
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		fo.Dialer = guardedDialer(redis.NewDialer(&redis.Options{DialTimeout: timeout, TLSConfig: fo.TLSConfig}), refused)
		fo.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(fo), nil
	}
	o.Dialer = guardedDialer(redis.NewDialer(o), refused)
	o.ContextTimeoutEnabled = true
	return redis.NewClient(o), nil
}

// CheckURL says whether raw is a Redis URL New accepts, without connecting: -check and the
// command line refuse a URL the agent would refuse at start.
func CheckURL(raw string) error {
	_, _, err := parseURL(raw)
	return err
}

// parseURL parses a redis:// or rediss:// URL into a Sentinel client's options when it names
// a master (master_name), a plain client's otherwise.
func parseURL(raw string) (*redis.FailoverOptions, *redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, nil, fmt.Errorf("redis URL %q: want redis://[user:pass@]host:port/db or rediss://…", Redact(raw))
	}
	if u.Query().Has("master_name") {
		fo, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("redis URL %q: %v", Redact(raw), err)
		}
		return fo, nil, nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("redis URL %q: %v", Redact(raw), err)
	}
	return nil, o, nil
}

// Redact hides a URL's password, for logs and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: hide everything between the scheme and the last '@'.
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			if sch := strings.Index(raw, "://"); sch >= 0 && sch < at {
				return raw[:sch+3] + "xxxxx" + raw[at:]
			}
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close closes the connection to Redis.
func (f *Fleet) Close() error { return f.rdb.Close() }

// Up reports whether Redis answered the follower's last request.
func (f *Fleet) Up() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.upV == 1 }

// Synced reports whether a full sync has completed since start.
func (f *Fleet) Synced() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.synced }
