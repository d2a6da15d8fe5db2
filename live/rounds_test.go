package live

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
)

// TestRoundsMatchTheStoreAndRefusedOnesChangeNoTable applies random rounds of IPv4 and IPv6
// addresses and prefixes, a few requests at once (coalesced, or retried one by one when one
// of them makes too many lists), with the store refusing one round in four. After each, the
// table in force answers as a table built from what the store holds, and a refused round
// changes the answers of no table, the one in force or those before it, through the shards
// and filter words they share; deletions in bursts make the rounds refilter and rebuild the
// sets.
func TestRoundsMatchTheStoreAndRefusedOnesChangeNoTable(t *testing.T) {
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	r := rand.New(rand.NewPCG(11, 300))
	var pool []string
	var probes [][]byte
	seen := map[netip.Addr]bool{}
	for len(pool) < 400 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(r.IntN(256))})
		if len(pool) >= 300 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(r.IntN(4)), 14: byte(r.IntN(256)), 15: byte(r.IntN(256))})
		}
		if !seen[a] {
			seen[a] = true
			pool = append(pool, a.String())
			probes = append(probes, a.AsSlice())
		}
	}
	for i := range 16 {
		pool = append(pool, fmt.Sprintf("10.0.%d.0/24", i*16), fmt.Sprintf("2001:db8:0:%x::/64", i))
		probes = append(probes, []byte{10, 0, byte(i * 16), 77}, netip.MustParseAddr(fmt.Sprintf("2001:db8:0:%x::77", i)).AsSlice())
	}
	answers := func(tb *Table) []string {
		out := make([]string, len(probes))
		for i, a := range probes {
			out[i] = fmt.Sprint(names(tb, tb.Lookup(a)))
		}
		return out
	}
	stored := func() *Table {
		st.mu.Lock()
		var es []Entry
		for _, e := range st.entries {
			es = append(es, e)
		}
		st.mu.Unlock()
		slices.SortFunc(es, func(a, b Entry) int { return compareAddr(a.Addr, b.Addr) })
		tb, err := buildTable(es)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	lists := []string{"a", "b", "c", "d"}
	var earlier []*Table
	refilters, rebuilds := 0, 0
	for round := range 200 {
		delPercent := 30
		if round/20%2 == 1 {
			delPercent = 80
		}
		refuse := r.IntN(4) == 0
		st.mu.Lock()
		st.fail = nil
		if refuse {
			st.fail = errors.New("disk full")
		}
		st.mu.Unlock()
		before := s.Table()
		wasInForce := answers(before)
		was := make([][]string, len(earlier))
		for i, tb := range earlier {
			was[i] = answers(tb)
		}
		reqs := make([][]Change, 1+r.IntN(3))
		for i := range reqs {
			for range 1 + r.IntN(30) {
				a := pool[r.IntN(len(pool))]
				if r.IntN(100) < delPercent {
					reqs[i] = append(reqs[i], del(t, a))
				} else {
					reqs[i] = append(reqs[i], put(t, a, lists[r.IntN(len(lists))], blocklist.Kind(r.IntN(2))))
				}
			}
		}
		tooMany := -1
		if r.IntN(8) == 0 {
			tooMany = r.IntN(len(reqs))
			for j := range MaxLists + 1 {
				reqs[tooMany] = append(reqs[tooMany], put(t, fmt.Sprintf("172.16.0.%d", j), fmt.Sprintf("x%d", j), blocklist.Deny))
			}
		}
		errs := make([]error, len(reqs))
		var wg sync.WaitGroup
		for i := range reqs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = s.Apply(reqs[i]) }()
		}
		wg.Wait()
		for i, err := range errs {
			if i == tooMany && !refuse && !errors.Is(err, ErrTooManyLists) {
				t.Fatalf("round %d: the request with too many lists: %v", round, err)
			}
			if i != tooMany && !refuse && err != nil {
				t.Fatalf("round %d: request %d: %v", round, i, err)
			}
		}
		cur := s.Table()
		got, want := answers(cur), answers(stored())
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("round %d (refused %v): probe %d: the table in force says %s, a build of the store %s", round, refuse, i, got[i], want[i])
			}
		}
		if refuse {
			if !slices.Equal(answers(cur), wasInForce) {
				t.Fatalf("round %d: a refused round changed the answers of the table in force", round)
			}
			for i, tb := range earlier {
				if !slices.Equal(answers(tb), was[i]) {
					t.Fatalf("round %d: a refused round changed the answers of an earlier table", round)
				}
			}
		}
		if cur != before {
			switch {
			case newFilter(cur.e4.filter, before.e4.filter) && cur.e4.epoch == 0,
				newFilter(cur.e6.filter, before.e6.filter) && cur.e6.epoch == 0: // a set built afresh
				rebuilds++
			case newFilter(cur.e4.filter, before.e4.filter), newFilter(cur.e6.filter, before.e6.filter):
				refilters++
			}
			earlier = append(earlier, before)
			if len(earlier) > 8 {
				earlier = earlier[1:]
			}
		}
	}
	if refilters == 0 || rebuilds == 0 {
		t.Fatalf("%d rounds refiltered a set and %d built one afresh: the rounds miss a path", refilters, rebuilds)
	}
}

// newFilter reports whether f is another array of words than was: a set's filter built afresh.
func newFilter(f, was filter) bool {
	return len(f.w) > 0 && (len(was.w) == 0 || &f.w[0] != &was.w[0])
}

// TestAnEarlierTableSeesNoHalfRound: a round replaces an exact allow entry by the allow
// prefix holding it, so the address is allowed before and after it. A table published before
// the round answers as one of the two states, never with the exact entry gone and the prefix
// not there: tables are whole snapshots, and share with later ones only what no round changes.
func TestAnEarlierTableSeesNoHalfRound(t *testing.T) {
	s := openSet(t, Options{})
	if _, err := s.Apply([]Change{put(t, "192.0.2.7", "ok", blocklist.Allow), put(t, "192.0.2.8", "ok", blocklist.Allow)}); err != nil {
		t.Fatal(err)
	}
	t0 := s.Table()
	before := lookup(t0, "192.0.2.7")
	if _, err := s.Apply([]Change{del(t, "192.0.2.7"), put(t, "192.0.2.0/24", "ok", blocklist.Allow)}); err != nil {
		t.Fatal(err)
	}
	after := lookup(s.Table(), "192.0.2.7")
	if g := lookup(t0, "192.0.2.7"); !slices.Equal(g, before) && !slices.Equal(g, after) {
		t.Errorf("the earlier table says %v: neither the state before the round (%v) nor after it (%v)", g, before, after)
	}
}

// TestATableReadTwiceSeesWholeRounds: rounds move a ban between two addresses of different
// shards while another goroutine reads both from one table; every table holds exactly one of
// them, the state of one round.
func TestATableReadTwiceSeesWholeRounds(t *testing.T) {
	s := openSet(t, Options{})
	if _, err := s.Apply(randomBans(20_000, 1)); err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ka, kb := v4(a), v4(b)
	for hash4(ka)>>s.Table().e4.sshift == hash4(kb)>>s.Table().e4.sshift {
		b = b.Next()
		kb = v4(b)
	}
	if _, err := s.Apply([]Change{{Op: Put, Entry: Entry{Addr: entryOf(a, 32)}}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var bad, reads int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tb := s.Table()
			x := tb.Lookup(a.AsSlice()) != 0
			y := tb.Lookup(b.AsSlice()) != 0
			reads++
			if x == y {
				bad++
			}
		}
	}()
	on, off := a, b
	for range 3000 {
		if _, err := s.Apply([]Change{{Op: Delete, Entry: Entry{Addr: entryOf(on, 32)}}, {Op: Put, Entry: Entry{Addr: entryOf(off, 32)}}}); err != nil {
			t.Fatal(err)
		}
		on, off = off, on
	}
	close(stop)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d reads of one table saw both or neither of the two addresses a round swaps", bad, reads)
	}
}
