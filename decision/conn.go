package decision

import (
	"bytes"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/live"
)

// conn is one connection's part of the handler: it holds the batch's snapshot and counts
// decisions in plain integers, published once per batch. Nothing is carried from one NOTIFY
// to the next but those counts.
type conn struct {
	h     *Handler
	snap  *blocklist.Snapshot // the batch's
	table *live.Table         // the batch's
	v     *verdicts           // derived from snap and table

	allowed, blocked int
	undecided        [numReasons]int
	anyUndecided     bool
	seen             seenMessages    // of the NOTIFY being answered, while HandleNotify runs
	perList          [numLists]int32 // blocks by the deciding list, observed matches by list
	anyListed        bool

	joined []byte // the lists variable of an ACK on which several lists match, reused

	pf *prefetchBatch // see Prefetch
}

// BeginBatch loads the snapshot and the live table once for the batch: a change published
// before the batch began (an API call that has been answered) is seen by all of it.
func (c *conn) BeginBatch() {
	c.snap = c.h.src.Snapshot()
	c.table = c.h.table()
	c.v = c.h.verdictsFor(c.snap, c.table)
}

// HandleNotify decides one NOTIFY: the first configured message that holds an address
// decides, by the lists' verdict on that address. A NOTIFY without one is undecided: it is
// answered blocked=false, as HAProxy needs an answer, but counted apart from the decisions
// and reported (see undecided). A NOTIFY whose address Prefetch found is answered from its
// lookup, without walking msgs again.
func (c *conn) HandleNotify(msgs *codec.MessageIterator, ack []byte) []byte {
	if m, ok := c.prefetched(); ok {
		return c.answer(m, ack)
	}
	var ip [16]byte // a STRING argument's address, parsed; addr may point into it
	var addr []byte
	wanted := false
	for addr == nil && msgs.Next() {
		if c.wanted(msgs.Name()) {
			wanted = true
			addr = c.address(msgs.Args(), &ip)
		}
		if addr == nil { // kept to describe an undecided NOTIFY; not reached when the first message decides
			c.seen.add(msgs)
		}
	}
	for msgs.Next() { // a NOTIFY whose later messages do not decode is refused, so not counted
	}
	if msgs.Err() != nil {
		c.seen.reset()
		return ack
	}
	if addr == nil {
		c.undecidedNotify(wanted)
		return append(ack, c.h.allowedActions...)
	}
	c.seen.reset()
	return c.answer(matches{c.snap.Lookup(addr).Matched, c.table.Lookup(addr)}, ack) // nil snapshot, table: no match
}

// answer appends the actions for an address on the lists m.
func (c *conn) answer(m matches, ack []byte) []byte {
	if !m.any() { // the common case: an address on no list
		c.allowed++
		return append(ack, c.h.allowedActions...)
	}
	return c.verdict(m, ack)
}

// verdict appends the actions for an address on at least one list.
func (c *conn) verdict(m matches, ack []byte) []byte {
	v := c.v
	deny, observe := v.judge(m)
	c.anyListed = true
	switch {
	case !deny.any():
		c.allowed++
		ack = append(ack, c.h.allowedActions...)
	case deny.one():
		c.blocked++
		first := deny.first()
		c.perList[first]++
		ack = append(ack, v.blockedOne[first]...)
	default:
		c.blocked++
		first := deny.first()
		c.perList[first]++
		ack = append(ack, v.blockedHead[first]...)
		c.joined = v.appendJoined(c.joined[:0], deny)
		ack = codec.AppendSetVar(ack, c.h.scope, c.h.varLists, codec.StringValue(c.joined))
	}
	if !observe.any() {
		return ack
	}
	v.eachName(observe, func(i int) { c.perList[i]++ }) // a name's counter counts the request once
	if observe.one() {
		return append(ack, v.observedOne[observe.first()]...)
	}
	c.joined = v.appendJoined(c.joined[:0], observe)
	return codec.AppendSetVar(ack, c.h.scope, c.h.varObserved, codec.StringValue(c.joined))
}

// address returns the client address among a message's arguments, nil when it holds none.
// The configured argument decides when it holds an address. When it is absent, NULL
// (req.hdr_ip() of a missing or garbled X-Forwarded-For) or not an address, the first
// IPV4/IPV6 argument does: with `args ip=req.hdr_ip(x-forwarded-for,-1) src=src`, a request
// without a usable header is judged by its source address. The result aliases the message
// or ip.
func (c *conn) address(args codec.ArgIterator, ip *[16]byte) []byte {
	var fallback []byte // the first IPV4/IPV6 argument
	for args.Next() {
		t := args.Type()
		if bytes.Equal(args.Name(), c.h.arg) {
			if addr := addrOf(t, args.Bytes(), ip); addr != nil {
				return addr
			}
			continue
		}
		if fallback == nil && (t == codec.TypeIPv4 || t == codec.TypeIPv6) {
			fallback = args.Bytes()
		}
	}
	return fallback
}

// addrOf returns the address an argument of type t with contents b holds, 4 or 16 bytes: b
// itself for IPV4 and IPV6, parsed into ip for a STRING (an X-Forwarded-For value, whose
// last element counts); nil when it is NULL, another type, or a string that is not an
// address.
func addrOf(t codec.DataType, b []byte, ip *[16]byte) []byte {
	switch t {
	case codec.TypeIPv4, codec.TypeIPv6:
		return b
	case codec.TypeString:
		a, ok := blocklist.ParseLastAddr(b)
		if !ok {
			return nil
		}
		if a.Is4() {
			*(*[4]byte)(ip[:4]) = a.As4()
			return ip[:4]
		}
		*ip = a.As16()
		return ip[:]
	}
	return nil
}

func (c *conn) wanted(name []byte) bool {
	for _, m := range c.h.messages {
		if bytes.Equal(name, m) {
			return true
		}
	}
	return false
}

func (c *conn) EndBatch() {
	if c.anyUndecided {
		c.h.undecided.publish(&c.undecided)
		c.anyUndecided = false
	}
	if c.allowed != 0 {
		c.h.allowed.Add(c.allowed)
		c.allowed = 0
	}
	if c.blocked != 0 {
		c.h.blocked.Add(c.blocked)
		c.blocked = 0
	}
	if c.anyListed {
		for i, n := range c.perList {
			if n == 0 {
				continue
			}
			if ctr := c.v.blocked[i]; ctr != nil {
				ctr.Add(int(n))
			} else if ctr := c.v.observed[i]; ctr != nil {
				ctr.Add(int(n))
			}
			c.perList[i] = 0
		}
		c.anyListed = false
	}
	c.endPrefetch()
	// Let a replaced snapshot or live table be collected while the connection is idle.
	c.snap, c.table, c.v = nil, nil, nil
}

func (c *conn) Close() {}
