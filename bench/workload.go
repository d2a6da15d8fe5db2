package bench

import (
	"time"

	"github.com/spoaguard/spoaguard/codec"
)

// The workload is what a run offers the agent: which NOTIFYs (one per target address, encoded
// once and shared by every connection, with the decision expected for each) and, with a
// rate, when each connection sends them.

// Check names the variables an ACK must set and where: the agent's answer is read from
// set-var actions with this scope and these names.
type Check struct {
	Scope      codec.Scope // zero (proc) means txn, the scope HAProxy's configs use
	VarBlocked string      // BOOL, always set
	VarList    string      // STRING, set only when blocked
	// ListName, when not empty, is the list every blocked ACK must name.
	ListName string
}

// workload is the read-only part shared by every connection: the NOTIFY payloads, encoded
// once, and the decision expected for each.
type workload struct {
	payloads []byte   // all NOTIFY payloads back to back
	offsets  []uint32 // payload i is payloads[offsets[i]:offsets[i+1]]
	blocked  []bool
	check    Check
	// The action lists a correct agent most likely sends, encoded as spoaguard and the null
	// agent do: an ACK equal to one of them is checked by one comparison instead of a parse.
	allowedACK, blockedACK []byte
}

func newWorkload(targets []Target, message, arg string, check Check) *workload {
	w := &workload{offsets: make([]uint32, 1, len(targets)+1), blocked: make([]bool, len(targets)), check: check}
	w.allowedACK = codec.AppendSetVar(nil, check.Scope, check.VarBlocked, codec.BoolValue(false))
	if check.ListName != "" {
		w.blockedACK = codec.AppendSetVar(nil, check.Scope, check.VarBlocked, codec.BoolValue(true))
		w.blockedACK = codec.AppendSetVar(w.blockedACK, check.Scope, check.VarList, codec.StringValue([]byte(check.ListName)))
	}
	for i, t := range targets {
		a := t.Addr.Unmap()
		w.payloads = codec.AppendMessage(w.payloads, message, 1)
		if a.Is4() {
			b := a.As4()
			w.payloads = codec.AppendArg(w.payloads, arg, codec.IPv4Value(&b))
		} else {
			b := a.As16()
			w.payloads = codec.AppendArg(w.payloads, arg, codec.IPv6Value(&b))
		}
		w.offsets = append(w.offsets, uint32(len(w.payloads)))
		w.blocked[i] = t.Blocked
	}
	return w
}

func (w *workload) payload(i int) []byte { return w.payloads[w.offsets[i]:w.offsets[i+1]] }

// maxPacingLag is the most a paced connection catches up on: longer than the overshoot of a
// short sleep (about a millisecond, more on a busy machine), short next to a run.
const maxPacingLag = 10 * time.Millisecond

// pacer spreads one connection's NOTIFYs evenly in time when the run has a rate. The zero
// pacer does not pace.
type pacer struct {
	interval time.Duration // between two NOTIFYs of this connection; 0 when not pacing
	nextDue  time.Duration // since the run's start: when the next NOTIFY is due
	maxLag   time.Duration // the backlog due() lets accumulate
}

// newPacer paces connection id of conns so that together they send rate NOTIFYs per second,
// starting at now; with rate 0 it returns the zero pacer. The connections are staggered over
// one interval so that their sends do not coincide.
func newPacer(rate float64, conns, id, inFlight int, now time.Duration) pacer {
	if rate <= 0 {
		return pacer{}
	}
	interval := max(time.Duration(float64(conns)/rate*float64(time.Second)), 1)
	return pacer{
		interval: interval,
		nextDue:  now + interval*time.Duration(id)/time.Duration(conns),
		maxLag:   max(time.Duration(inFlight)*interval, maxPacingLag),
	}
}

// paced reports whether the pacer limits the rate.
func (p *pacer) paced() bool { return p.interval > 0 }

// due returns how many NOTIFYs the connection may send at now, at most n: all of them
// without a rate, else those whose time has come. Sends that came due while the connection
// slept or waited for a read go out together (a sleep of tens of microseconds overshoots to a
// millisecond), but the backlog is capped (at maxPacingLag, or InFlight intervals if longer)
// so that a connection that could not keep up does not burst afterwards.
func (p *pacer) due(n int, now time.Duration) int {
	if p.interval == 0 || n <= 0 {
		return n
	}
	if now < p.nextDue {
		return 0
	}
	k := min(n, int((now-p.nextDue)/p.interval)+1)
	p.nextDue += time.Duration(k) * p.interval
	if now-p.nextDue > p.maxLag {
		p.nextDue = now - p.maxLag
	}
	return k
}
