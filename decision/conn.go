package decision

import (
	"bytes"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
)

// conn is one connection's part of the handler: it holds the batch's snapshot and counts
// decisions in plain integers, published once per batch.
type conn struct {
	h    *Handler
	snap *blocklist.Snapshot // the batch's
	v    *verdicts           // derived from snap

	// The NOTIFY being answered.
	decided bool
	result  blocklist.Result

	allowed, blocked int
	perList          [blocklist.MaxLists]int32
	anyListed        bool
}

func (c *conn) BeginBatch() {
	c.snap = c.h.src.Snapshot()
	c.v = c.h.verdictsFor(c.snap)
}

func (c *conn) HandleMessage(m *codec.Message, ack []byte) []byte {
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

func (c *conn) decide(addr []byte) {
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

func (c *conn) wanted(name []byte) bool {
	for _, m := range c.h.messages {
		if bytes.Equal(name, m) {
			return true
		}
	}
	return false
}

func (c *conn) FinishNotify(ack []byte) []byte {
	r := c.result
	c.decided, c.result = false, blocklist.Result{}
	if !r.Blocked {
		c.allowed++
		return append(ack, c.h.allowedActions...)
	}
	c.blocked++
	c.perList[r.Deny]++
	c.anyListed = true
	return append(ack, c.v.blockedActions[r.Deny]...)
}

func (c *conn) EndBatch() {
	if c.allowed != 0 {
		c.h.allowed.Add(c.allowed)
		c.allowed = 0
	}
	if c.blocked != 0 {
		c.h.blocked.Add(c.blocked)
		c.blocked = 0
	}
	if c.anyListed {
		lc := c.v.counters
		for i, n := range c.perList[:len(lc)] {
			if n != 0 {
				lc[i].Add(int(n))
				c.perList[i] = 0
			}
		}
		c.anyListed = false
	}
	c.snap, c.v = nil, nil // let a replaced snapshot be collected while the connection is idle
}

func (c *conn) Close() {}
