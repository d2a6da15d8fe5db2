package server

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"weak"

	"github.com/VictoriaMetrics/metrics"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
)

// SnapshotSource gives the blocklist snapshot in force; *blocklist.Manager is one. Snapshot
// must be cheap (one atomic load): it is called once per batch of NOTIFYs.
type SnapshotSource interface {
	Snapshot() *blocklist.Snapshot
}

// BlocklistConfig names what the blocklist handler reads and writes. Defaults match the
// HAProxy configurations in scripts/haproxy.
type BlocklistConfig struct {
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
	// Metrics receives spoaguard_decisions_total and spoaguard_blocked_total. Default: a
	// private set.
	Metrics *metrics.Set
}

// BlocklistHandler answers each NOTIFY with the blocklist's decision for the client address
// it carries. A NOTIFY without the configured message, or whose address is NULL, missing or
// not an address, is answered blocked=false: every ACK carries at least that action, because
// HAProxy 3.1.x stalls on an empty ACK.
type BlocklistHandler struct {
	src        SnapshotSource
	messages   [][]byte
	arg        []byte
	scope      codec.Scope
	varBlocked string
	varList    string

	// allowedActions is the LIST-OF-ACTIONS of every ACK that does not block, encoded once.
	allowedActions []byte

	set     *metrics.Set
	allowed *metrics.Counter
	blocked *metrics.Counter
	perSnap atomic.Pointer[snapState]
}

// snapState is what the handler derives from one snapshot, built when a batch first meets
// the snapshot (connections racing on a new snapshot may each build it, alike): the hot path
// only compares a pointer. It refers to its snapshot weakly, so that a replaced snapshot of
// millions of entries is not kept alive by a handler that has seen no traffic since.
type snapState struct {
	snap weak.Pointer[blocklist.Snapshot]
	// blockedActions[i] is the LIST-OF-ACTIONS of an ACK blocked by deny list i
	// (blocked=true, list=name), encoded once so that an ACK is a header and one copy.
	blockedActions [][]byte
	// counters[i] is deny list i's spoaguard_blocked_total (nil for allow lists).
	counters []*metrics.Counter
}

// NewBlocklistHandler returns a handler that looks addresses up in src's snapshots.
func NewBlocklistHandler(src SnapshotSource, cfg BlocklistConfig) (*BlocklistHandler, error) {
	if src == nil {
		return nil, errors.New("server: nil snapshot source")
	}
	if len(cfg.Messages) == 0 {
		cfg.Messages = []string{"check-client-ip"}
	}
	if cfg.Arg == "" {
		cfg.Arg = "ip"
	}
	if cfg.VarBlocked == "" {
		cfg.VarBlocked = "blocked"
	}
	if cfg.VarList == "" {
		cfg.VarList = "list"
	}
	scope := codec.ScopeTxn
	if cfg.Scope != "" {
		var ok bool
		if scope, ok = codec.ParseScope(cfg.Scope); !ok {
			return nil, fmt.Errorf("server: variable scope %q: want proc, sess, txn, req or res", cfg.Scope)
		}
	}
	// HAProxy names the variable "<scope>.<var-prefix>.<name>" and keeps it under 64 bytes;
	// leave room for the scope and a prefix.
	for _, v := range []string{cfg.VarBlocked, cfg.VarList} {
		if len(v) > 40 {
			return nil, fmt.Errorf("server: variable name %q is too long for HAProxy (keep it under 40 bytes)", v)
		}
		// HAProxy variable names hold only letters, digits, '.' and '_': the config could
		// not reference any other name, and HAProxy drops a set-var it does not know.
		for i := 0; i < len(v); i++ {
			if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_') {
				return nil, fmt.Errorf("server: variable name %q: HAProxy allows only letters, digits, '.' and '_'", v)
			}
		}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	h := &BlocklistHandler{
		src:        src,
		arg:        []byte(cfg.Arg),
		scope:      scope,
		varBlocked: cfg.VarBlocked,
		varList:    cfg.VarList,
		set:        cfg.Metrics,
		allowed:    cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="allowed"}`),
		blocked:    cfg.Metrics.GetOrCreateCounter(`spoaguard_decisions_total{decision="blocked"}`),
	}
	for _, m := range cfg.Messages {
		h.messages = append(h.messages, []byte(m))
	}
	h.allowedActions = codec.AppendSetVar(nil, scope, h.varBlocked, codec.BoolValue(false))
	return h, nil
}

// NewConn implements Handler.
func (h *BlocklistHandler) NewConn() ConnHandler { return &blocklistConn{h: h} }

// state returns what the handler derives from snap, building it the first time a snapshot
// is seen. Connections that race on a new snapshot may each build it; they build the same.
func (h *BlocklistHandler) state(snap *blocklist.Snapshot) *snapState {
	if ss := h.perSnap.Load(); ss != nil && ss.snap.Value() == snap {
		return ss
	}
	ss := &snapState{snap: weak.Make(snap)}
	if snap != nil {
		n := snap.NumLists()
		ss.blockedActions = make([][]byte, n)
		ss.counters = make([]*metrics.Counter, n)
		for i := range n {
			if snap.ListKind(i) != blocklist.Deny {
				continue // an allow list never blocks
			}
			name := snap.ListName(i)
			a := codec.AppendSetVar(nil, h.scope, h.varBlocked, codec.BoolValue(true))
			ss.blockedActions[i] = codec.AppendSetVar(a, h.scope, h.varList, codec.StringValue(name))
			ss.counters[i] = h.set.GetOrCreateCounter(`spoaguard_blocked_total{list="` + string(name) + `"}`)
		}
	}
	h.perSnap.Store(ss)
	return ss
}

// blocklistConn is one connection's part of the handler: it holds the batch's snapshot and
// counts decisions in plain integers, published once per batch.
type blocklistConn struct {
	h    *BlocklistHandler
	snap *blocklist.Snapshot // the batch's
	ss   *snapState          // derived from snap

	// The NOTIFY being answered.
	decided bool
	result  blocklist.Result

	allowed, blocked int
	perList          [blocklist.MaxLists]int32
	anyListed        bool
}

func (c *blocklistConn) BeginBatch() {
	c.snap = c.h.src.Snapshot()
	c.ss = c.h.state(c.snap)
}

func (c *blocklistConn) HandleMessage(m *codec.Message, ack []byte) []byte {
	if c.decided || !c.wanted(m.Name) {
		return ack
	}
	// The configured argument decides when it holds an address. When it is absent, NULL
	// (req.hdr_ip() of a missing or garbled X-Forwarded-For) or not an address, the first
	// IPV4/IPV6 argument does: with `args ip=req.hdr_ip(x-forwarded-for,-1) src=src`, a
	// request without a usable header is judged by its source address.
	var ip [16]byte
	var fallback []byte // the first IPV4/IPV6 argument; it aliases the payload like m
	args := m.Args()
	for args.Next() {
		t := args.Type()
		if bytes.Equal(args.Name(), c.h.arg) {
			if addr := addrOf(t, args.Bytes(), &ip); addr != nil {
				c.decide(addr)
				return ack
			}
			continue
		}
		if fallback == nil && (t == codec.TypeIPv4 || t == codec.TypeIPv6) {
			fallback = args.Bytes()
		}
	}
	if fallback != nil { // else no address in this message: a later configured message may have one
		c.decide(fallback)
	}
	return ack
}

func (c *blocklistConn) decide(addr []byte) {
	c.decided = true
	c.result = c.snap.Lookup(addr)
}

// addrOf returns the address an argument of type t with contents b holds, 4 or 16 bytes: b
// itself for IPV4 and IPV6, parsed into ip for a STRING; nil when it is NULL, another type,
// or a string that is not an address.
func addrOf(t codec.DataType, b []byte, ip *[16]byte) []byte {
	switch t {
	case codec.TypeIPv4, codec.TypeIPv6:
		return b
	case codec.TypeString:
		if n := parseAddrText(b, ip); n != 0 {
			return ip[:n]
		}
	}
	return nil
}

func (c *blocklistConn) wanted(name []byte) bool {
	for _, m := range c.h.messages {
		if bytes.Equal(name, m) {
			return true
		}
	}
	return false
}

func (c *blocklistConn) FinishNotify(ack []byte) []byte {
	r := c.result
	c.decided, c.result = false, blocklist.Result{}
	if !r.Blocked {
		c.allowed++
		return append(ack, c.h.allowedActions...)
	}
	c.blocked++
	c.perList[r.Deny]++
	c.anyListed = true
	return append(ack, c.ss.blockedActions[r.Deny]...)
}

func (c *blocklistConn) EndBatch() {
	if c.allowed != 0 {
		c.h.allowed.Add(c.allowed)
		c.allowed = 0
	}
	if c.blocked != 0 {
		c.h.blocked.Add(c.blocked)
		c.blocked = 0
	}
	if c.anyListed {
		lc := c.ss.counters
		for i, n := range c.perList[:len(lc)] {
			if n != 0 {
				lc[i].Add(int(n))
				c.perList[i] = 0
			}
		}
		c.anyListed = false
	}
	c.snap, c.ss = nil, nil // let a replaced snapshot be collected while the connection is idle
}

func (c *blocklistConn) Close() {}

// maxAddrText is longer than any textual address HAProxy can send us (an IPv6 address with
// an embedded IPv4 part is at most 45 bytes).
const maxAddrText = 64

// parseAddrText parses an address sent as a STRING, as from req.hdr(x-forwarded-for), into
// ip, returning its length (4 or 16; 0 if b is not an address). Spaces around it and square
// brackets are ignored and, when the value is still a comma-separated list, its last element
// (the one the nearest proxy added) is used, as HAProxy's hdr() does by default. Zones are
// refused. It accepts exactly what netip.ParseAddr accepts without a zone (FuzzParseAddrText)
// but never allocates, not even for the error netip would build for bad input, which a
// client controls.
func parseAddrText(b []byte, ip *[16]byte) int {
	if i := bytes.LastIndexByte(b, ','); i >= 0 {
		b = b[i+1:]
	}
	b = trimASCIISpace(b)
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > maxAddrText {
		return 0
	}
	if bytes.IndexByte(b, ':') < 0 { // common case first: X-Forwarded-For mostly holds IPv4
		if v4, ok := parseIPv4(b); ok {
			copy(ip[:4], v4[:])
			return 4
		}
		return 0
	}
	if parseIPv6(b, ip) {
		return 16
	}
	return 0
}

// trimASCIISpace trims the white space HTTP and list syntax use. Not bytes.TrimSpace: it
// also trims Unicode spaces (U+0085, U+00A0), which would let "\u00a0::1" pass as ::1.
func trimASCIISpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseIPv4 parses dotted decimal, strictly: four fields, no leading zeros.
func parseIPv4(s []byte) (ip [4]byte, ok bool) {
	field, digits, val := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 { // leading zero
				return ip, false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return ip, false
			}
		case c == '.' && digits > 0 && field < 3:
			ip[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return ip, false
		}
	}
	if field != 3 || digits == 0 {
		return ip, false
	}
	ip[3] = byte(val)
	return ip, true
}

// parseIPv6 parses RFC 4291 text (with "::" and an optional trailing dotted IPv4 part), the
// way netip.ParseAddr does.
func parseIPv6(s []byte, ip *[16]byte) bool {
	*ip = [16]byte{}
	ellipsis := -1 // where "::" stands, in bytes of ip
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, s = 0, s[2:]
		if len(s) == 0 {
			return true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			c := s[off]
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c - '0')
			case c >= 'a' && c <= 'f':
				d = int(c-'a') + 10
			case c >= 'A' && c <= 'F':
				d = int(c-'A') + 10
			default:
				goto groupEnd
			}
			if off == 4 {
				return false // more than 4 hex digits
			}
			acc = acc<<4 | d
		}
	groupEnd:
		if off == 0 {
			return false
		}
		if off < len(s) && s[off] == '.' { // trailing IPv4 part
			if (ellipsis < 0 && i != 12) || i+4 > 16 {
				return false
			}
			v4, ok := parseIPv4(s)
			if !ok {
				return false
			}
			copy(ip[i:], v4[:])
			i, s = i+4, nil
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return false // a second "::"
			}
			ellipsis, s = i, s[1:]
			if len(s) == 0 {
				break
			}
		}
	}
	if len(s) != 0 {
		return false
	}
	if i < 16 {
		if ellipsis < 0 {
			return false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return false // "::" must stand for at least one group
	}
	return true
}
