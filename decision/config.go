package decision

import (
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/codec"
)

// Config names what the handler reads and writes. Defaults match the HAProxy configurations
// in scripts/haproxy.
type Config struct {
	// Messages are the NOTIFY messages to inspect (default "check-client-ip"). The first of
	// them present in a NOTIFY that holds an address decides; other messages are ignored.
	Messages []string
	// Arg is the argument holding the client address (default "ip"): IPV4, IPV6, or a
	// STRING such as req.hdr(x-forwarded-for). When a message has no such argument, or it is
	// NULL or not an address, the message's first IPV4/IPV6 argument is used.
	Arg string
	// Scope of the variables set, by its HAProxy name: "proc", "sess", "txn" (the default,
	// also for ""), "req" or "res". A name rather than a codec.Scope because proc is scope 0,
	// which a zero value could not tell from "not set".
	Scope string
	// VarBlocked (default "blocked") is set on every ACK: BOOL true when a deny list matches
	// and no allow list does. VarList (default "list") is set, only when blocked, to the
	// name of the first matching deny list (STRING).
	VarBlocked, VarList string
	// VarLists (default "lists") is set, only when blocked, to every matching deny list,
	// comma-separated, in the order of precedence (file lists in their order, then live
	// lists by name), so that a frontend can act on any list an address is on.
	VarLists string
	// VarObserved (default "observed") is set when a list in observe mode matches and no
	// allow list does: the matching observe lists, comma-separated. It is set whether or not
	// another list blocks.
	VarObserved string
	// Observe reports whether a file deny list, by name, is in observe mode: it never
	// blocks; a match sets VarObserved and counts in spoaguard_observed_total. It is asked
	// when a new snapshot is first met, so a reload may change it. nil: none is. A live entry
	// has its own observe mode.
	Observe func(list string) bool
	// Live is the live set in front of the file lists; nil: none.
	Live LiveSource
	// Metrics receives spoaguard_decisions_total, spoaguard_blocked_total,
	// spoaguard_observed_total and spoaguard_undecided_total. Default: a private set.
	Metrics *metrics.Set
	// Logger receives the warning, at most every 10 s, about NOTIFYs that could not be
	// decided, naming the messages and arguments they held. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults validates c, fills in its defaults and returns the scope it names.
func (c Config) withDefaults() (Config, codec.Scope, error) {
	if len(c.Messages) == 0 {
		c.Messages = []string{"check-client-ip"}
	}
	if c.Arg == "" {
		c.Arg = "ip"
	}
	if c.VarBlocked == "" {
		c.VarBlocked = "blocked"
	}
	if c.VarList == "" {
		c.VarList = "list"
	}
	if c.VarLists == "" {
		c.VarLists = "lists"
	}
	if c.VarObserved == "" {
		c.VarObserved = "observed"
	}
	scope := codec.ScopeTxn
	if c.Scope != "" {
		var ok bool
		if scope, ok = codec.ParseScope(c.Scope); !ok {
			return c, 0, fmt.Errorf("decision: variable scope %q: want proc, sess, txn, req or res", c.Scope)
		}
	}
	seen := map[string]bool{}
	for _, v := range []string{c.VarBlocked, c.VarList, c.VarLists, c.VarObserved} {
		if err := checkVarName(v); err != nil {
			return c, 0, err
		}
		if seen[v] {
			return c, 0, fmt.Errorf("decision: variable name %q is used for two variables", v)
		}
		seen[v] = true
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, scope, nil
}

// checkVarName refuses a variable name HAProxy could not reference.
func checkVarName(v string) error {
	// HAProxy names the variable "<scope>.<var-prefix>.<name>" and keeps it under 64 bytes;
	// leave room for the scope and a prefix.
	if len(v) > 40 {
		return fmt.Errorf("decision: variable name %q is too long for HAProxy (keep it under 40 bytes)", v)
	}
	// HAProxy variable names hold only letters, digits, '.' and '_': the config could not
	// reference any other name, and HAProxy drops a set-var it does not know.
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_') {
			return fmt.Errorf("decision: variable name %q: HAProxy allows only letters, digits, '.' and '_'", v)
		}
	}
	return nil
}
