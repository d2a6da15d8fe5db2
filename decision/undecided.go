package decision

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/health"
)

// reason is why a NOTIFY was not decided.
type reason int

const (
	// noMessage: the NOTIFY holds messages, none of them configured (a misnamed -message,
	// or an spoe-message sent to the wrong agent).
	noMessage reason = iota
	// noAddress: a configured message is there, but no argument of it holds a usable
	// address (a misnamed -arg, or a header-only argument on requests without the header).
	noAddress
	// empty: the NOTIFY holds no message at all. HAProxy 3.1 to 3.3 send one when every
	// message's condition is false: nothing was asked, and nothing is wrong.
	empty
	numReasons
)

var reasonLabels = [numReasons]string{"no_message", "no_address", "empty"}

// warnInterval is the least time between two warnings of undecided NOTIFYs: with a
// misnamed message every NOTIFY is one, and the log must stay readable.
const warnInterval = 10 * time.Second

// readinessWindow is how long readiness gathers NOTIFYs before it judges afresh: checks
// within a window (the metrics scrape, several probes) judge the same NOTIFYs.
const readinessWindow = 10 * time.Second

// undecidedState is what the handler keeps of the NOTIFYs it could not decide: their
// counters, the rate limit of their warning, and what readiness last judged.
type undecidedState struct {
	counters [numReasons]*metrics.Counter
	log      *slog.Logger
	messages string // the configured messages and argument, for the warning
	nextWarn atomic.Int64
	last     atomic.Pointer[string] // the last undecided NOTIFY described, once per warning

	mu       sync.Mutex
	window   time.Duration
	sampled  time.Time // when the window began
	decided  uint64    // decisions and undecided NOTIFYs (empty ones apart) when it began
	notDone  uint64
	judgment []health.Condition
}

func (u *undecidedState) init(set *metrics.Set, log *slog.Logger, cfg Config) {
	for r := range numReasons {
		u.counters[r] = set.GetOrCreateCounter(`spoaguard_undecided_total{reason="` + reasonLabels[r] + `"}`)
	}
	u.log = log
	u.messages = fmt.Sprintf("message %s with the address in argument %s or in the first IPV4/IPV6 one", strings.Join(cfg.Messages, " or "), cfg.Arg)
	u.window = readinessWindow
	u.judgment = []health.Condition{{Name: "notifies", Level: health.Ready, Detail: "no NOTIFY yet"}}
}

func (u *undecidedState) publish(n *[numReasons]int) {
	for r, v := range n {
		if v != 0 {
			u.counters[r].Add(v)
			n[r] = 0
		}
	}
}

// seenMessages are the messages of the NOTIFY being answered that did not decide it, kept
// so that an undecided NOTIFY can be described: the first few, as views of the payload. They
// are dropped before HandleNotify returns, so they never outlive the connection buffer. A
// NOTIFY whose first message decides (the common case) never touches them.
type seenMessages struct {
	n    int // messages seen, counted beyond the ones kept
	kept [8]seenMessage
}

type seenMessage struct {
	name []byte
	args codec.ArgIterator
}

func (s *seenMessages) add(msgs *codec.MessageIterator) {
	if s.n < len(s.kept) {
		s.kept[s.n] = seenMessage{msgs.Name(), msgs.Args()}
	}
	s.n++
}

func (s *seenMessages) reset() {
	if s.n != 0 {
		clear(s.kept[:min(s.n, len(s.kept))])
		s.n = 0
	}
}

// undecidedNotify counts a NOTIFY that no configured message with an address decided, and
// warns about it at most once per warnInterval, describing the messages seen. Off the
// warning, it neither allocates nor reads the clock more than once.
func (c *conn) undecidedNotify(wanted bool) {
	defer c.seen.reset()
	r := noMessage
	if wanted {
		r = noAddress
	} else if c.seen.n == 0 {
		r = empty
	}
	c.undecided[r]++
	c.anyUndecided = true
	if r == empty || !c.h.undecided.warnDue() {
		return
	}
	desc := c.seen.describe()
	c.h.undecided.last.Store(&desc)
	c.h.undecided.log.Warn("decision: NOTIFY not decided, answered blocked=false; check -message and -arg against the HAProxy spoe-message",
		"reason", reasonLabels[r], "received", desc, "expected", c.h.undecided.messages,
		"next_warning_in", warnInterval)
}

func (u *undecidedState) warnDue() bool {
	now := time.Now().UnixNano()
	next := u.nextWarn.Load()
	return now >= next && u.nextWarn.CompareAndSwap(next, now+int64(warnInterval))
}

// describe lists the messages seen and their argument names, as `check-clientip(ip IPV4,
// src IPV4) other()`, bounded so that a hostile NOTIFY cannot make a huge log line.
func (s *seenMessages) describe() string {
	const maxLen = 512
	var b strings.Builder
	for i := range min(s.n, len(s.kept)) {
		if b.Len() >= maxLen {
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		m := &s.kept[i]
		writeName(&b, m.name)
		b.WriteByte('(')
		args := m.args
		for j := 0; args.Next() && b.Len() < maxLen; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			writeName(&b, args.Name())
			b.WriteByte(' ')
			b.WriteString(args.Type().String())
		}
		b.WriteByte(')')
	}
	if b.Len() >= maxLen || s.n > len(s.kept) {
		fmt.Fprintf(&b, " … (%d messages)", s.n)
	}
	return b.String()
}

// writeName writes a message or argument name as it is when it is plain printable ASCII,
// quoted otherwise (an empty name, spaces, control bytes: whatever the peer sent), and cut
// to its first 64 bytes: a name can be as long as a frame.
func writeName(b *strings.Builder, name []byte) {
	const maxName = 64
	if len(name) > maxName {
		writeName(b, name[:maxName])
		b.WriteString("…")
		return
	}
	for _, c := range name {
		if c <= ' ' || c > '~' || c == '(' || c == ')' || c == ',' || c == '"' {
			fmt.Fprintf(b, "%q", name)
			return
		}
	}
	if len(name) == 0 {
		b.WriteString(`""`)
		return
	}
	b.Write(name)
}

// readiness judges the NOTIFYs of the current window: not ready when NOTIFYs came and none
// was decided (blocking is off: a misnamed message or argument), degraded when some were not
// decided, ready when all were. Without NOTIFYs in the window, the previous judgement
// stands. A window starts at the first check after the previous one ended.
func (u *undecidedState) readiness(decided uint64) []health.Condition {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	notDone := u.counters[noMessage].Get() + u.counters[noAddress].Get()
	dd, dn := decided-u.decided, notDone-u.notDone
	if now.Sub(u.sampled) >= u.window { // the next check starts a new window
		u.sampled, u.decided, u.notDone = now, decided, notDone
	}
	if dd == 0 && dn == 0 {
		return u.judgment
	}
	c := health.Condition{Name: "notifies"}
	switch {
	case dn == 0:
		c.Level, c.Detail = health.Ready, fmt.Sprintf("%d NOTIFYs decided in the last %s", dd, u.window)
	default:
		c.Level = health.Degraded
		if dd == 0 {
			c.Level = health.NotReady
		}
		last := ""
		if p := u.last.Load(); p != nil {
			last = "; the last one warned about held " + *p
		}
		c.Detail = fmt.Sprintf("%d of %d NOTIFYs in the last %s carried no configured message or no usable address (no_message %d, no_address %d in all), expected %s%s",
			dn, dd+dn, u.window, u.counters[noMessage].Get(), u.counters[noAddress].Get(), u.messages, last)
	}
	u.judgment = []health.Condition{c}
	return u.judgment
}
