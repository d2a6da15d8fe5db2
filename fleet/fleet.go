package fleet

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	synced  bool          // a full sync has completed since start
	advance chan struct{} // closed and replaced whenever pos moves or a sync completes

	up       *metrics.Gauge
	lag      *metrics.Gauge
	resyncs  *metrics.Counter
	batches  *metrics.Counter
	changes  *metrics.Counter
	failures *metrics.Counter
	writes   *metrics.Counter
	wfail    *metrics.Counter
	lagS     float64
	upV      float64 // 1 up, 0 down, -1 not known yet
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
	rdb, err := newClient(opt.URL)
	if err != nil {
		return nil, err
	}
	ns := opt.Namespace
	f := &Fleet{
		opt: opt, rdb: rdb, sink: sink, log: opt.Logger.With("component", "redis"),
		keys:    []string{ns + ":entries", ns + ":expiry", ns + ":log", ns + ":head", ns + ":epoch"},
		advance: make(chan struct{}), upV: -1,
	}
	m := opt.Metrics
	f.up = m.NewGauge("spoaguard_redis_up", func() float64 { f.mu.Lock(); defer f.mu.Unlock(); return max(0, f.upV) })
	f.lag = m.NewGauge("spoaguard_redis_lag_seconds", func() float64 { f.mu.Lock(); defer f.mu.Unlock(); return f.lagS })
	f.resyncs = m.NewCounter("spoaguard_redis_resyncs_total")
	f.batches = m.NewCounter("spoaguard_redis_batches_applied_total")
	f.changes = m.NewCounter("spoaguard_redis_changes_applied_total")
	f.failures = m.NewCounter("spoaguard_redis_errors_total")
	f.writes = m.NewCounter("spoaguard_redis_writes_total")
	f.wfail = m.NewCounter("spoaguard_redis_write_errors_total")
	return f, nil
}

// newClient parses a redis:// or rediss:// URL, with Sentinel when it names a master.
func newClient(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, fmt.Errorf("redis URL %q: want redis://[user:pass@]host:port/db or rediss://…", redact(raw))
	}
	if u.Query().Has("master_name") {
		fo, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redis URL %q: %v", redact(raw), err)
		}
		return redis.NewFailoverClient(fo), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %v", redact(raw), err)
	}
	return redis.NewClient(o), nil
}

// redact hides a URL's password for logs and errors.
func redact(raw string) string {
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

// Write writes one batch of changes to Redis and waits until this agent has applied it, so
// that the caller reads its own write. It returns an error wrapping ErrUnavailable when Redis
// does not accept the batch; nothing is queued.
func (f *Fleet) Write(ctx context.Context, changes []Change) error {
	ctx, cancel := context.WithTimeout(ctx, f.opt.WriteTimeout)
	defer cancel()
	f.writes.Inc()
	batch, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	args := make([]any, 0, 4+4*len(changes))
	args = append(args, newToken(), time.Now().UnixMilli(), f.opt.LogRetention.Milliseconds(), string(batch))
	for _, c := range changes {
		rec, exp := "", int64(0)
		if c.Op == Put {
			b, err := json.Marshal(c.Record)
			if err != nil {
				return err
			}
			rec, exp = string(b), c.Record.Expires
		}
		args = append(args, string(c.Op), c.Key, rec, exp)
	}
	res, err := writeScript.Run(ctx, f.rdb, f.keys, args...).StringSlice()
	if err != nil || len(res) != 2 {
		f.wfail.Inc()
		return fmt.Errorf("%w: writing %d changes: %v", ErrUnavailable, len(changes), err)
	}
	return f.waitApplied(ctx, res[0], res[1])
}

// waitApplied waits until the Follower has applied log entry id of epoch.
func (f *Fleet) waitApplied(ctx context.Context, epoch, id string) error {
	for {
		f.mu.Lock()
		done := f.synced && f.epoch == epoch && compareID(f.pos, id) >= 0
		ch := f.advance
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: Redis accepted the change (log %s) but this agent has not applied it yet: %v", ErrUnavailable, id, ctx.Err())
		}
	}
}

// Run follows the shared set into the sink until ctx is done: a full sync, then the log,
// resyncing on a gap and reconnecting with jittered backoff when Redis is away.
func (f *Fleet) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	needSync := true
	for ctx.Err() == nil {
		var err error
		if needSync {
			if err = f.resync(ctx); err == nil {
				needSync = false
			}
		} else {
			needSync, err = f.follow(ctx)
		}
		if err == nil {
			if !needSync {
				f.setUp(true)
				backoff = 100 * time.Millisecond
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.failures.Inc()
		if f.setUp(false) {
			f.log.Warn("redis unavailable: enforcing the last known live set, reconnecting", "err", err)
		}
		// Jittered exponential backoff: a thousand agents must not reconnect in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, f.opt.MaxBackoff)
		// Back from an outage: resume from the position if the epoch and head allow it.
		needSync, err = f.checkPosition(ctx)
		if err != nil {
			needSync = !f.Synced() // still away: try again after the next backoff
		}
	}
}

// setUp records Redis's state and reports whether it changed.
func (f *Fleet) setUp(up bool) bool {
	v := 0.0
	if up {
		v = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := f.upV != v
	f.upV = v
	return changed
}

// resync reads the whole set and swaps it into the sink.
func (f *Fleet) resync(ctx context.Context) error {
	start := time.Now()
	res, err := ensureEpochScript.Run(ctx, f.rdb, []string{f.keys[4], f.keys[3]}, newToken()).StringSlice()
	if err != nil || len(res) != 2 {
		return fmt.Errorf("reading the epoch: %v", err)
	}
	epoch, head := res[0], res[1]
	records, err := f.scan(ctx)
	if err != nil {
		return err
	}
	if err := f.sink.Replace(records); err != nil {
		return fmt.Errorf("applying the full sync: %v", err)
	}
	f.resyncs.Inc()
	f.mu.Lock()
	old := f.epoch
	f.epoch, f.pos, f.synced = epoch, head, true
	f.signalLocked()
	f.mu.Unlock()
	f.setUp(true)
	if old != "" && old != epoch {
		f.log.Warn("redis: the shared set was replaced or flushed (new epoch); converged to what Redis holds", "entries", len(records))
	}
	f.log.Info("redis: full sync", "entries", len(records), "log", head, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// scanCount is the HSCAN batch: large enough that a million entries take few round trips,
// small enough that no single call holds Redis for long.
const scanCount = 20000

// scan reads every entry. The next HSCAN is in flight while a page is decoded.
func (f *Fleet) scan(ctx context.Context) ([]Record, error) {
	type page struct {
		kv  []string
		err error
	}
	pages := make(chan page, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		var cursor uint64
		for {
			kv, next, err := f.rdb.HScan(ctx, f.keys[0], cursor, "*", scanCount).Result()
			select {
			case pages <- page{kv, err}:
			case <-ctx.Done():
				return
			}
			if cursor = next; err != nil || cursor == 0 {
				return
			}
		}
	}()
	var records []Record
	for p := range pages {
		if p.err != nil {
			return nil, fmt.Errorf("reading the entries: %v", p.err)
		}
		for i := 0; i+1 < len(p.kv); i += 2 {
			var r Record
			if err := json.Unmarshal([]byte(p.kv[i+1]), &r); err != nil || r.Addr == "" {
				f.log.Warn("redis: skipping an unreadable entry", "key", p.kv[i], "err", err)
				continue
			}
			records = append(records, r)
		}
	}
	return records, nil
}

// follow applies the log's next batches. It reports whether a resync is needed.
func (f *Fleet) follow(ctx context.Context) (bool, error) {
	f.mu.Lock()
	pos, epoch := f.pos, f.epoch
	f.mu.Unlock()
	streams, err := f.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{f.keys[2], pos}, Count: 1000, Block: f.opt.Poll,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return f.checkPosition(ctx) // quiet: check for a flush or failover that wrote nothing
	}
	if err != nil {
		return false, err
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			if m.Values["epoch"] != epoch {
				f.log.Warn("redis: the log's epoch changed; resyncing", "log", m.ID)
				return true, nil
			}
			if m.Values["prev"] != pos {
				f.log.Warn("redis: the log has a gap (trimmed past this agent's position, or a failover); resyncing", "position", pos, "next", m.ID)
				return true, nil
			}
			raw, _ := m.Values["changes"].(string)
			changes, err := decodeChanges(raw)
			if err != nil {
				f.log.Warn("redis: unreadable log entry; resyncing", "log", m.ID, "err", err)
				return true, nil
			}
			if err := f.sink.Apply(changes); err != nil {
				return false, fmt.Errorf("applying log %s: %v", m.ID, err)
			}
			f.batches.Inc()
			f.changes.Add(len(changes))
			pos = m.ID
			f.mu.Lock()
			f.pos = pos
			f.lagS = max(0, time.Since(time.UnixMilli(idMillis(m.ID))).Seconds())
			f.signalLocked()
			f.mu.Unlock()
		}
	}
	return false, nil
}

// checkPosition compares the epoch and head with this agent's position: a changed epoch or
// a head behind the position needs a resync.
func (f *Fleet) checkPosition(ctx context.Context) (bool, error) {
	vals, err := f.rdb.MGet(ctx, f.keys[4], f.keys[3]).Result()
	if err != nil {
		return false, err
	}
	epoch, _ := vals[0].(string)
	head, _ := vals[1].(string)
	if head == "" {
		head = "0-0"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.synced {
		return true, nil
	}
	if epoch != f.epoch {
		f.log.Warn("redis: the epoch changed (flushed or replaced); resyncing")
		return true, nil
	}
	if compareID(head, f.pos) < 0 {
		f.log.Warn("redis: the log's head is behind this agent's position (failover lost writes); resyncing", "head", head, "position", f.pos)
		return true, nil
	}
	if head == f.pos {
		f.lagS = 0
	}
	return false, nil
}

func (f *Fleet) signalLocked() {
	close(f.advance)
	f.advance = make(chan struct{})
}

// newToken is a random epoch candidate.
func newToken() string {
	var b [12]byte
	_, _ = cryptorand.Read(b[:]) // never fails on Linux
	return hex.EncodeToString(b[:])
}

// compareID orders two stream IDs "ms-seq".
func compareID(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if c := cmp.Compare(am, bm); c != 0 {
		return c
	}
	return cmp.Compare(as, bs)
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

func idMillis(id string) int64 { ms, _ := splitID(id); return int64(ms) }
