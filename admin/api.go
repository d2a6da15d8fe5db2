package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
	"github.com/spoaguard/spoaguard/live"
)

// Defaults of Config.
const (
	// DefaultMaxBody admits 100,000 entries with room for comments (about 60 bytes each
	// without one).
	DefaultMaxBody = 32 << 20
	// DefaultPageSize is the limit of GET /v1/bans when none is given; MaxPageSize the most
	// one page returns.
	DefaultPageSize = 1000
	MaxPageSize     = 100_000
)

// Config is what the API serves.
type Config struct {
	Live *live.Set
	// Apply applies a batch of changes and returns once they are in force on this agent.
	// Default: Live.Apply. A fleet's agents write through the shared store instead; an error
	// wrapping ErrUnavailable answers 503.
	Apply   func(ctx context.Context, changes []live.Change) (live.Counts, error)
	Explain func(netip.Addr) decision.Explanation // the decision, as HAProxy gets it
	Rules   live.Rules                            // what an entry must pass; an explicit allow-short overrides the minimum prefixes
	// Token, when not empty, is required of every request as "Authorization: Bearer
	// <token>".
	Token   string
	MaxBody int64 // 0: DefaultMaxBody
	Metrics *metrics.Set
	Logger  *slog.Logger
}

// ErrUnavailable marks a change refused because the store it must go through (the fleet's
// Redis) cannot take it now; nothing was applied or queued.
var ErrUnavailable = errors.New("the shared live set is unavailable")

// ErrLeftOut marks a change that the fleet's shared set took but this agent's live set did
// not take whole, for want of room: writes of other agents filled it first. The agents with
// room enforce the entries it left out, and this agent does once it has room.
var ErrLeftOut = errors.New("the change is in the shared live set, but this agent's live set is full")

type api struct {
	cfg     Config
	token   [sha256.Size]byte
	latency *metrics.Histogram
}

// NewHandler returns the API's HTTP handler.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Live == nil || cfg.Explain == nil {
		return nil, errors.New("admin: a live set and a decision are required")
	}
	if cfg.Apply == nil {
		ls := cfg.Live
		cfg.Apply = func(_ context.Context, changes []live.Change) (live.Counts, error) { return ls.Apply(changes) }
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &api{cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)),
		latency: cfg.Metrics.GetOrCreateHistogram(`spoaguard_api_change_in_force_seconds`)}
	mux := http.NewServeMux()
	a.route(mux, "POST /v1/bans", a.postBans)
	a.route(mux, "DELETE /v1/bans", a.deleteBan)
	a.route(mux, "GET /v1/bans", a.getBans)
	a.route(mux, "GET /v1/check", a.check)
	for path, allow := range map[string]string{"/v1/bans": "GET, POST, DELETE", "/v1/check": "GET"} {
		a.route(mux, path, func(*http.Request) (int, any) {
			return http.StatusMethodNotAllowed, methodNotAllowed{allow}
		})
	}
	a.route(mux, "/", func(*http.Request) (int, any) {
		return http.StatusNotFound, errorBody{"no such route (see /v1/bans, /v1/check)"}
	})
	return mux, nil
}

// route registers a handler that returns its status and a JSON body, behind the token
// check, counting requests by route and status.
func (a *api) route(mux *http.ServeMux, pattern string, h func(*http.Request) (int, any)) {
	label := pattern
	if !strings.Contains(label, " ") {
		label = "other" // the 404 and 405 answers
	}
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		status, body := http.StatusUnauthorized, any(errorBody{"missing or wrong bearer token"})
		if a.authorized(r) {
			status, body = h(r)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="spoaguard"`)
		}
		if m, ok := body.(methodNotAllowed); ok {
			w.Header().Set("Allow", m.allow)
			body = errorBody{"method not allowed: use " + m.allow}
		}
		a.cfg.Metrics.GetOrCreateCounter(`spoaguard_api_requests_total{route="` + label + `",status="` + strconv.Itoa(status) + `"}`).Inc()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		if err := json.NewEncoder(w).Encode(body); err != nil {
			a.cfg.Logger.Debug("admin API: writing the answer", "route", label, "err", err)
		}
	})
}

// authorized compares the request's token with the configured one in constant time: both
// are hashed first, so that neither their contents nor their lengths leak through timing.
// The scheme's name is case-insensitive (RFC 9110, 11.1): "bearer" is "Bearer".
func (a *api) authorized(r *http.Request) bool {
	if a.cfg.Token == "" {
		return true
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	ok = ok && strings.EqualFold(scheme, "Bearer")
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1 && ok
}

// methodNotAllowed is the answer of a route to a method it does not serve: 405, with the
// methods it does serve in Allow.
type methodNotAllowed struct{ allow string }

// maxErrorLen bounds an error's text: errors quote what the request sent, and a megabyte of
// address or ttl is not worth sending back.
const maxErrorLen = 512

func bad(format string, args ...any) (int, any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxErrorLen {
		cut := maxErrorLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "… (cut)"
	}
	return http.StatusBadRequest, errorBody{msg}
}

// query parses the request's query strictly: a malformed one, a parameter the route does not
// take, or one given more than once is an error, never ignored (a DELETE of ?addr=A&addr=B
// must not remove A alone and answer 200).
func query(r *http.Request, takes ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("query: %v", err)
	}
	for k, v := range q {
		if !slices.Contains(takes, k) {
			return nil, fmt.Errorf("query parameter %q: this route takes %s", k, strings.Join(takes, ", "))
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("query parameter %s given %d times: give it once", k, len(v))
		}
	}
	return q, nil
}

// checkText refuses text that is not one line of printable text: a comment is shown in
// listings and terminals, where a control character (an escape sequence, a newline, a tab)
// would forge or garble what the operator reads.
func checkText(field, s string) error {
	for i, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s: control character %U at byte %d: want one line of printable text", field, r, i)
		}
	}
	return nil
}

func (a *api) postBans(r *http.Request) (int, any) {
	start := time.Now()
	q, err := query(r, "allow-short")
	if err != nil {
		return bad("%v", err)
	}
	tooBig := func() (int, any) {
		return http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("body larger than %d bytes: send the entries in several requests", a.cfg.MaxBody)}
	}
	if r.ContentLength > a.cfg.MaxBody {
		return tooBig() // before reading any of it
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, a.cfg.MaxBody))
	if err != nil {
		var maxBytes *http.MaxBytesError
		switch {
		case errors.As(err, &maxBytes):
			return tooBig()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return http.StatusRequestTimeout, errorBody{fmt.Sprintf("the body did not arrive in time (%d of its bytes did)", len(body))}
		}
		return bad("reading the body: %v", err)
	}
	if !utf8.Valid(body) {
		return bad("the body is not UTF-8 (at byte %d)", invalidUTF8At(body))
	}
	rules := a.cfg.Rules
	switch v := q.Get("allow-short"); v {
	case "":
	case "true", "1":
		rules.AllowShort = true
	default:
		return bad("allow-short=%q: want true", v)
	}
	bans, err := decodePost(body)
	if err != nil {
		return bad("%v", err)
	}
	if len(bans) == 0 {
		return bad("no entries")
	}
	now := a.cfg.Live.Now() // the clock the live set expires the bans by
	changes := make([]live.Change, len(bans))
	for i := range bans {
		e, err := toEntry(&bans[i], rules, now)
		if err != nil {
			return bad("bans[%d]: %v", i, err)
		}
		changes[i] = live.Change{Op: live.Put, Entry: e}
	}
	counts, err := a.cfg.Apply(r.Context(), changes)
	if err != nil {
		return a.applyFailed(err)
	}
	a.latency.UpdateDuration(start)
	return http.StatusOK, Changed{Added: counts.Added, Updated: counts.Updated}
}

// toEntry checks one posted entry and turns it into a live entry.
func toEntry(b *Ban, rules live.Rules, now time.Time) (live.Entry, error) {
	if b.Expires != nil || b.Created != nil {
		return live.Entry{}, errors.New("expires and created are set by the agent; send ttl")
	}
	addr, err := blocklist.ParseEntry(b.Addr)
	if err != nil {
		return live.Entry{}, fmt.Errorf("addr: %v", err)
	}
	action, err := parseAction(b.Action)
	if err != nil {
		return live.Entry{}, err
	}
	if err := checkText("comment", b.Comment); err != nil {
		return live.Entry{}, err
	}
	e := live.Entry{Addr: addr, Action: action, List: b.List, Observe: b.Observe, Comment: b.Comment, Created: now}
	if b.TTL > 0 {
		e.Expires = now.Add(time.Duration(b.TTL))
	}
	if err := rules.Check(&e); err != nil {
		if errors.Is(err, live.ErrTooWide) {
			err = fmt.Errorf("%w (POST ?allow-short=true; spoaguard ban -allow-short)", err)
		}
		return live.Entry{}, err
	}
	return e, nil
}

func parseAction(s string) (blocklist.Kind, error) {
	switch s {
	case "", "deny":
		return blocklist.Deny, nil
	case "allow":
		return blocklist.Allow, nil
	}
	return 0, fmt.Errorf("action %q: want deny or allow", s)
}

func (a *api) applyFailed(err error) (int, any) {
	switch {
	case errors.Is(err, live.ErrTooManyLists):
		return bad("%v", err)
	case errors.Is(err, live.ErrFull):
		a.cfg.Logger.Warn("admin API: change refused", "err", err)
		return http.StatusInsufficientStorage, errorBody{err.Error() + " (-live-max-entries); nothing was changed"}
	case errors.Is(err, ErrLeftOut):
		a.cfg.Logger.Warn("admin API: change left out", "err", err)
		return http.StatusInsufficientStorage, errorBody{err.Error()}
	case errors.Is(err, live.ErrClosed):
		return http.StatusServiceUnavailable, errorBody{"the agent is shutting down"}
	case errors.Is(err, ErrUnavailable):
		a.cfg.Logger.Warn("admin API: change refused", "err", err)
		return http.StatusServiceUnavailable, errorBody{err.Error()}
	}
	a.cfg.Logger.Error("admin API: applying a change failed", "err", err)
	return http.StatusInternalServerError, errorBody{err.Error()}
}

func (a *api) deleteBan(r *http.Request) (int, any) {
	start := time.Now()
	qv, err := query(r, "addr")
	if err != nil {
		return bad("%v", err)
	}
	q := qv.Get("addr")
	if q == "" {
		return bad("want ?addr=ADDR")
	}
	addr, err := blocklist.ParseEntry(q)
	if err != nil {
		return bad("addr: %v", err)
	}
	counts, err := a.cfg.Apply(r.Context(), []live.Change{{Op: live.Delete, Entry: live.Entry{Addr: addr}}})
	if err != nil {
		return a.applyFailed(err)
	}
	if counts.Removed == 0 {
		return http.StatusNotFound, errorBody{fmt.Sprintf("no live entry for %s (an entry is removed by the address or prefix it was added with)", addr)}
	}
	a.latency.UpdateDuration(start)
	return http.StatusOK, Removed{Removed: counts.Removed}
}

func (a *api) getBans(r *http.Request) (int, any) {
	q, err := query(r, "limit", "after")
	if err != nil {
		return bad("%v", err)
	}
	limit := DefaultPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > MaxPageSize {
			return bad("limit=%q: want 1 to %d", s, MaxPageSize)
		}
		limit = n
	}
	var after *blocklist.Entry
	if s := q.Get("after"); s != "" {
		e, err := blocklist.ParseEntry(s)
		if err != nil {
			return bad("after: %v", err)
		}
		after = &e
	}
	es := a.cfg.Live.Table().Entries(after, limit+1)
	out := Listing{Bans: make([]Listed, 0, min(len(es), limit))}
	for i := range es {
		if i == limit {
			out.Next = es[limit-1].Key()
			break
		}
		out.Bans = append(out.Bans, fromEntry(&es[i]))
	}
	return http.StatusOK, out
}

func fromEntry(e *live.Entry) Listed {
	b := Listed{Addr: e.Key(), Action: e.Action.String(), List: e.List, Observe: e.Observe, Comment: e.Comment, Created: e.Created.UTC()}
	if !e.Expires.IsZero() {
		x := e.Expires.UTC()
		b.Expires = &x
	}
	return b
}

func (a *api) check(r *http.Request) (int, any) {
	q, err := query(r, "ip")
	if err != nil {
		return bad("%v", err)
	}
	s := q.Get("ip")
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return bad("ip=%q: want an IPv4 or IPv6 address without a zone", s)
	}
	return http.StatusOK, CheckOf(a.cfg.Explain(ip))
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// invalidUTF8At is the offset of the first byte of b that is not UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// CheckOf is the API's form of an explanation. Lists, observed and matches are lists when
// empty too, never null: a script reads .lists | length or iterates without a null case.
func CheckOf(x decision.Explanation) Check {
	c := Check{IP: x.Addr.String(), Blocked: x.Blocked, List: x.List, Lists: orEmpty(x.Lists), Observed: orEmpty(x.Observed), Matches: []Match{}}
	for _, m := range x.Matches {
		mm := Match{List: m.List, Action: m.Action.String(), Source: "file", Observe: m.Observe}
		if m.Live {
			mm.Source, mm.Addr = "live", m.Entry.String()
			if !m.Expires.IsZero() {
				x := m.Expires.UTC()
				mm.Expires = &x
			}
		}
		c.Matches = append(c.Matches, mm)
	}
	return c
}
