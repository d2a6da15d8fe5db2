package blocklist

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// LookupAddr is Lookup for a netip.Addr (the zone, if any, is ignored), for tests that name
// addresses in text.
func (s *Snapshot) LookupAddr(a netip.Addr) Result {
	if s == nil || !a.IsValid() {
		return Result{Deny: -1}
	}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return s.lookup4(binary.BigEndian.Uint32(b[:]))
	}
	return s.lookup6(u128FromAddr(a))
}

// addresses4 returns how many distinct IPv4 addresses p covers (exceptions removed).
func (p *Parsed) addresses4() uint64 {
	var n uint64
	for _, r := range normalize4(p.v4, p.except4) {
		n += r.size()
	}
	return n
}

// rebuildForTest builds and publishes a snapshot from the sources' kept contents.
func (m *Manager) rebuildForTest() error {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	return m.publish(time.Now())
}

// poll is one tick of the manager's file poll, for tests that drive it by hand.
func (m *Manager) poll() {
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	m.pollLocked()
}
