package live

import (
	"errors"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
)

// The exact sets against key sets chosen to hurt them. Outside this process nobody can choose
// them (the hashes are keyed with its secret), so the tests find them with the process's own
// hash: addresses whose hash4 has its top 13 bits zero fall into one shard of any set of up to
// 2^17 keys.

func colliding(n int) []netip.Addr {
	var out []netip.Addr
	for a := uint32(1); len(out) < n; a++ {
		if hash4(a)>>51 == 0 {
			out = append(out, netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}))
		}
	}
	return out
}

func bans(addrs []netip.Addr, list string) []Change {
	out := make([]Change, len(addrs))
	for i, a := range addrs {
		out[i] = Change{Op: Put, Entry: Entry{Addr: entryOf(a, 32), List: list, Action: blocklist.Deny}}
	}
	return out
}

// TestHashesAreKeyed: the same address hashes differently under another process's key, so a
// shard's keys cannot be computed from the source.
func TestHashesAreKeyed(t *testing.T) {
	a4, a6 := uint32(0xcb007107), u128{0x20010db800000000, 1}
	other := [3]uint64{seed[0] ^ 1<<40, seed[1] ^ 1<<17, seed[2] ^ 1<<33}
	if h4, h6 := hash4(a4), hash6(a6); keyedHash4(a4, &other) == h4 || keyedHash6(a6, &other) == h6 {
		t.Fatalf("another key left the hashes as they were: %x %x", h4, h6)
	}
}

// TestAKeySetOverflowingAShardIsRefusedNotDropped: more keys than a shard holds, all in one
// shard, fail the round with an error; no ban is accepted and left unmatched.
func TestAKeySetOverflowingAShardIsRefusedNotDropped(t *testing.T) {
	s := openSet(t, Options{})
	if _, err := s.Apply(bans(colliding(9000), "l")); !errors.Is(err, errShardFull) {
		t.Fatalf("Apply of 9000 keys in one shard = %v, want errShardFull", err)
	}
	if n := s.Table().Len(); n != 0 {
		t.Fatalf("the refused round left %d entries", n)
	}
}

// TestRemovingFromAFullShardStopsTheMatch: a shard holding as many keys as it can still
// loses one that is deleted.
func TestRemovingFromAFullShardStopsTheMatch(t *testing.T) {
	keys := colliding(maxShardKeys)
	s := openSet(t, Options{})
	// A second list, so that the deletion does not empty the only one (which builds afresh).
	if _, err := s.Apply(append(bans(keys, "l"), put(t, "198.51.100.1", "other", blocklist.Deny))); err != nil {
		t.Fatal(err)
	}
	gone := keys[0].As4()
	if _, err := s.Apply([]Change{del(t, keys[0].String())}); err != nil {
		t.Fatal(err)
	}
	if m := s.Table().Lookup(gone[:]); m != 0 {
		t.Fatalf("%s still matches %b after its deletion", keys[0], m)
	}
	still := keys[1].As4()
	if s.Table().Lookup(still[:]) == 0 {
		t.Fatalf("%s stopped matching when %s was deleted", keys[1], keys[0])
	}
}

// TestRefusedRoundsLeaveTheFilterAsItWas: the keys of rounds the store refuses set no bits
// in the filter that the table in force shares, so it lets no more misses through after.
func TestRefusedRoundsLeaveTheFilterAsItWas(t *testing.T) {
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	r := rand.New(rand.NewPCG(3, 3))
	random := func(n int) []netip.Addr {
		out := make([]netip.Addr, n)
		for i := range out {
			out[i] = netip.AddrFrom4([4]byte{240, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		}
		return out
	}
	if _, err := s.Apply(bans(random(10_000), "l")); err != nil {
		t.Fatal(err)
	}
	words := func() int {
		n := 0
		for i := range s.Table().e4.w {
			n += bits.OnesCount64(s.Table().e4.w[i].Load())
		}
		return n
	}
	before := words()
	st.mu.Lock()
	st.fail = errors.New("disk full")
	st.mu.Unlock()
	for range 20 {
		if _, err := s.Apply(bans(random(1000), "l")); err == nil {
			t.Fatal("a round the store refused was applied")
		}
	}
	if after := words(); after != before {
		t.Fatalf("refused rounds set %d filter bits", after-before)
	}
}
