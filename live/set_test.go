package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/prefetch"
)

func mustAddr(t testing.TB, s string) blocklist.Entry {
	t.Helper()
	e, err := blocklist.ParseEntry(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func put(t testing.TB, addr, list string, action blocklist.Kind) Change {
	return Change{Op: Put, Entry: Entry{Addr: mustAddr(t, addr), List: list, Action: action}}
}

func del(t testing.TB, addr string) Change {
	return Change{Op: Delete, Entry: Entry{Addr: mustAddr(t, addr)}}
}

func openSet(t testing.TB, opts Options) *Set {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// names returns the names of the lists in mask, in bit order, as "name:action".
func names(tb *Table, mask uint64) []string {
	var out []string
	for i := range tb.NumLists() {
		if mask&(1<<i) != 0 {
			l := tb.List(i)
			n := l.Name + ":" + l.Action.String()
			if l.Observe {
				n += ":observe"
			}
			out = append(out, n)
		}
	}
	return out
}

func lookup(tb *Table, ip string) []string {
	b := netip.MustParseAddr(ip).AsSlice()
	return names(tb, tb.Lookup(b))
}

// tableOf applies changes to a new set and returns its table.
func tableOf(tb testing.TB, changes ...Change) *Table {
	tb.Helper()
	s := openSet(tb, Options{})
	if _, err := s.Apply(changes); err != nil {
		tb.Fatal(err)
	}
	return s.Table()
}

func TestLookupFindsEveryKindOfEntry(t *testing.T) {
	// Each entry is in a list of its own, with addresses it covers and addresses just outside.
	entries := []struct {
		entry, list string
		in, out     []string
	}{
		{"203.0.113.7", "a", []string{"203.0.113.7", "::ffff:203.0.113.7"}, []string{"203.0.113.8"}},
		{"198.51.100.0/24", "b", []string{"198.51.100.0", "198.51.100.255"}, []string{"198.51.101.0"}},
		{"192.0.2.10-192.0.2.20", "c", []string{"192.0.2.10", "192.0.2.20", "::ffff:192.0.2.15"}, []string{"192.0.2.9", "192.0.2.21"}},
		{"2001:db8::1", "d", []string{"2001:db8::1"}, []string{"2001:db8::2"}},
		{"2001:db8:1::/48", "e", []string{"2001:db8:1:ffff::1"}, nil},
		{"2001:db8:2::5-2001:db8:2::9", "f", []string{"2001:db8:2::5", "2001:db8:2::9"}, []string{"2001:db8:2::4", "2001:db8:2::a"}},
		{"::ffff:192.0.2.200", "g", []string{"192.0.2.200"}, nil},
		{"0.0.0.0/8", "h", []string{"0.0.0.0", "0.255.255.255"}, []string{"1.0.0.0"}},
		{"255.255.255.0/24", "i", []string{"255.255.255.255"}, []string{"255.255.254.255"}},
		{"ffff::/16", "j", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"fffe::1"}},
	}
	var changes []Change
	for _, e := range entries {
		changes = append(changes, put(t, e.entry, e.list, blocklist.Deny))
	}
	tb := tableOf(t, changes...)
	for _, e := range entries {
		for _, ip := range e.in {
			if got := lookup(tb, ip); !slices.Equal(got, []string{e.list + ":deny"}) {
				t.Errorf("Lookup(%s) = %v, want [%s:deny]", ip, got, e.list)
			}
		}
		for _, ip := range e.out {
			if got := lookup(tb, ip); len(got) != 0 {
				t.Errorf("Lookup(%s) = %v, want no list", ip, got)
			}
		}
	}
	if tb.Lookup([]byte{1, 2, 3}) != 0 {
		t.Error("a 3-byte address matched")
	}
	if (*Table)(nil).Lookup([]byte{203, 0, 113, 7}) != 0 {
		t.Error("a nil table matched")
	}
}

func TestOverlappingEntriesSplitRanges(t *testing.T) {
	tb := tableOf(t,
		put(t, "10.0.0.0/8", "wide", blocklist.Deny),
		put(t, "10.1.0.0/16", "mid", blocklist.Deny),
		put(t, "10.1.2.0-10.1.2.9", "wide", blocklist.Deny), // same list as the /8, inside it
		put(t, "10.1.2.3", "ok", blocklist.Allow),
		put(t, "10.1.2.4/31", "ok", blocklist.Allow),
	)
	for _, tt := range []struct {
		ip   string
		want []string
	}{
		{"9.255.255.255", nil},
		{"10.0.0.0", []string{"wide:deny"}},
		{"10.1.0.0", []string{"mid:deny", "wide:deny"}},
		{"10.1.2.2", []string{"mid:deny", "wide:deny"}},
		{"10.1.2.3", []string{"mid:deny", "ok:allow", "wide:deny"}},
		{"10.1.2.5", []string{"mid:deny", "ok:allow", "wide:deny"}},
		{"10.1.2.6", []string{"mid:deny", "wide:deny"}},
		{"10.1.2.10", []string{"mid:deny", "wide:deny"}}, // the end of the inner range does not end the /8
		{"10.2.0.0", []string{"wide:deny"}},
		{"10.255.255.255", []string{"wide:deny"}},
		{"11.0.0.0", nil},
	} {
		if got := lookup(tb, tt.ip); !slices.Equal(got, tt.want) {
			t.Errorf("Lookup(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	deny, allow, observe := tb.Masks()
	if allow&deny != 0 || allow|deny|observe != 1<<tb.NumLists()-1 {
		t.Errorf("masks: allow %b deny %b observe %b over %d lists", allow, deny, observe, tb.NumLists())
	}
}

func TestApplyUpdatesAndDeletes(t *testing.T) {
	s := openSet(t, Options{})
	tests := []struct {
		name    string
		changes []Change
		want    Counts
		ip      string
		lists   []string
	}{
		{"add", []Change{put(t, "203.0.113.7", "", blocklist.Deny)}, Counts{Added: 1}, "203.0.113.7", []string{"api:deny"}},
		{"the same address in another spelling updates it", []Change{put(t, "::ffff:203.0.113.7", "other", blocklist.Deny)}, Counts{Updated: 1}, "203.0.113.7", []string{"other:deny"}},
		{"an update can turn a deny into an allow", []Change{put(t, "203.0.113.7", "other", blocklist.Allow)}, Counts{Updated: 1}, "203.0.113.7", []string{"other:allow"}},
		{"delete", []Change{del(t, "203.0.113.7")}, Counts{Removed: 1}, "203.0.113.7", nil},
		{"deleting what is not there removes nothing", []Change{del(t, "203.0.113.7")}, Counts{}, "203.0.113.7", nil},
		{"a prefix is deleted by its key, not by an address in it", []Change{put(t, "198.51.100.0/24", "", blocklist.Deny), del(t, "198.51.100.1")}, Counts{Added: 1}, "198.51.100.1", []string{"api:deny"}},
		{"changes to one key apply in order", []Change{del(t, "198.51.100.9/24"), put(t, "198.51.100.0/24", "x", blocklist.Deny), del(t, "198.51.100.0/24")}, Counts{Removed: 2, Added: 1}, "198.51.100.1", nil},
	}
	for _, tt := range tests {
		got, err := s.Apply(tt.changes)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: counts %+v, want %+v", tt.name, got, tt.want)
		}
		if l := lookup(s.Table(), tt.ip); !slices.Equal(l, tt.lists) {
			t.Errorf("%s: Lookup(%s) = %v, want %v", tt.name, tt.ip, l, tt.lists)
		}
	}
	if n := s.Table().Len(); n != 0 {
		t.Errorf("%d entries left, want 0", n)
	}
}

func TestTooManyListsFailsOnlyTheBatchThatAddsThem(t *testing.T) {
	s := openSet(t, Options{})
	var ok []Change
	for i := range MaxLists {
		ok = append(ok, put(t, fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("l%d", i), blocklist.Deny))
	}
	if _, err := s.Apply(ok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]Change{put(t, "10.0.1.1", "onemore", blocklist.Deny), put(t, "10.0.1.2", "l1", blocklist.Deny)}); err == nil {
		t.Fatal("a 65th list was accepted")
	}
	if s.Table().Len() != MaxLists || len(s.Table().Entries(nil, 0)) != MaxLists {
		t.Fatalf("the refused batch was half applied: %d entries, %d listed", s.Table().Len(), len(s.Table().Entries(nil, 0)))
	}
	if _, ok := s.Table().Get(mustAddr(t, "10.0.1.2")); ok {
		t.Error("an entry of the refused batch is listed")
	}
}

func TestConcurrentBatchesAllApply(t *testing.T) {
	s := openSet(t, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := s.Apply([]Change{put(t, fmt.Sprintf("10.%d.%d.1", g, i), "", blocklist.Deny)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := s.Table().Len(); n != 8*50 {
		t.Fatalf("%d entries, want %d", n, 8*50)
	}
}

// TestRequestsWaitingOnAWriteShareTheNext: changes that arrive while the store writes a round
// are coalesced into the next round, one write for all of them.
func TestRequestsWaitingOnAWriteShareTheNext(t *testing.T) {
	st := &memStore{delay: 100 * time.Millisecond}
	s := openSet(t, Options{Store: st})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := s.Apply([]Change{put(t, fmt.Sprintf("10.0.0.%d", i), "", blocklist.Deny)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.Table().Len() != 16 {
		t.Fatalf("%d entries, want 16", s.Table().Len())
	}
	// 2 when the 15 others are waiting by the time the first write ends (100 ms).
	if st.applies > 4 {
		t.Errorf("16 concurrent requests took %d writes", st.applies)
	}
}

// TestAClockStepExpiresEntriesWithinASecond: the set sleeps at most maxExpiryWait between
// looks at its clock, so entries whose time a step of the wall clock has passed stop matching
// within about a second, not when the timer set before the step fires.
func TestAClockStepExpiresEntriesWithinASecond(t *testing.T) {
	var step atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(step.Load())) }
	s := openSet(t, Options{Now: now})
	c := put(t, "203.0.113.7", "", blocklist.Deny)
	c.Entry.Expires = now().Add(time.Hour)
	if _, err := s.Apply([]Change{c}); err != nil {
		t.Fatal(err)
	}
	step.Store(int64(2 * time.Hour))
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not the assertion
	for lookup(s.Table(), "203.0.113.7") != nil {
		if time.Now().After(deadline) {
			t.Fatal("an entry the clock stepped past still matches")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExpiredEntryStopsMatchingWithoutTraffic(t *testing.T) {
	s := openSet(t, Options{})
	c := put(t, "203.0.113.7", "", blocklist.Deny)
	c.Entry.Expires = time.Now().Add(200 * time.Millisecond)
	keep := put(t, "203.0.113.8", "", blocklist.Deny)
	if _, err := s.Apply([]Change{c, keep}); err != nil {
		t.Fatal(err)
	}
	if lookup(s.Table(), "203.0.113.7") == nil {
		t.Fatal("the entry does not match before it expires")
	}
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not the assertion
	for lookup(s.Table(), "203.0.113.7") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the expired entry still matches")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if lookup(s.Table(), "203.0.113.8") == nil {
		t.Error("expiry removed an entry without an expiry")
	}
}

// memStore is a Store in memory.
type memStore struct {
	mu      sync.Mutex
	entries map[blocklist.Entry]Entry
	fail    error
	delay   time.Duration // how long each Apply takes, as a synced write does
	removes int           // Apply calls that removed entries
	applies int           // Apply calls
}

// refuse makes Apply fail with err from now on, or succeed when err is nil.
func (m *memStore) refuse(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *memStore) Load() ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for _, e := range m.entries {
		out = append(out, e)
	}
	return out, nil
}

func (m *memStore) Apply(put []*Entry, del []blocklist.Entry) error {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applies++
	if len(del) > 0 {
		m.removes++
	}
	if m.fail != nil {
		return m.fail
	}
	if m.entries == nil {
		m.entries = map[blocklist.Entry]Entry{}
	}
	for _, e := range put {
		m.entries[e.Addr] = *e
	}
	for _, k := range del {
		delete(m.entries, k)
	}
	return nil
}

func TestOpenLoadsTheStoreAndDropsExpiredEntries(t *testing.T) {
	st := &memStore{}
	now := time.Now()
	s1 := openSet(t, Options{Store: st})
	gone := put(t, "203.0.113.1", "", blocklist.Deny)
	gone.Entry.Expires = now.Add(time.Hour)
	kept := put(t, "203.0.113.2", "x", blocklist.Deny)
	kept.Entry.Expires = now.Add(2 * time.Hour)
	kept.Entry.Comment = "why"
	if _, err := s1.Apply([]Change{gone, kept, put(t, "2001:db8::/32", "", blocklist.Allow)}); err != nil {
		t.Fatal(err)
	}
	s1.Close()

	s2 := openSet(t, Options{Store: st, Now: func() time.Time { return now.Add(90 * time.Minute) }})
	tb := s2.Table()
	if got := lookup(tb, "203.0.113.1"); got != nil {
		t.Errorf("an entry that expired while stopped matches: %v", got)
	}
	if got := lookup(tb, "203.0.113.2"); !slices.Equal(got, []string{"x:deny"}) {
		t.Errorf("kept entry: %v", got)
	}
	if got := lookup(tb, "2001:db8::9"); !slices.Equal(got, []string{"api:allow"}) {
		t.Errorf("kept allow prefix: %v", got)
	}
	e, ok := tb.Get(mustAddr(t, "203.0.113.2"))
	if !ok || e.Comment != "why" || !e.Expires.Equal(kept.Entry.Expires) || e.Created.IsZero() {
		t.Errorf("kept entry lost its fields: %+v", e)
	}
	if _, ok := st.entries[mustAddr(t, "203.0.113.1")]; ok {
		t.Error("the expired entry is still in the store")
	}
}

func TestAStoreFailureChangesNothing(t *testing.T) {
	st := &memStore{}
	s := openSet(t, Options{Store: st})
	if _, err := s.Apply([]Change{put(t, "203.0.113.1", "kept", blocklist.Deny)}); err != nil {
		t.Fatal(err)
	}
	st.fail = errors.New("disk full")
	if _, err := s.Apply([]Change{put(t, "203.0.113.7", "", blocklist.Deny), put(t, "203.0.113.1", "changed", blocklist.Deny)}); err == nil {
		t.Fatal("Apply succeeded although the store failed")
	}
	if _, err := s.Apply([]Change{del(t, "203.0.113.1")}); err == nil {
		t.Fatal("Apply succeeded although the store failed")
	}
	tb := s.Table()
	if tb.Len() != 1 || len(tb.Entries(nil, 0)) != 1 {
		t.Errorf("a change that was not stored is in force: %d entries, %d listed", tb.Len(), len(tb.Entries(nil, 0)))
	}
	if e, ok := tb.Get(mustAddr(t, "203.0.113.1")); !ok || e.List != "kept" {
		t.Errorf("203.0.113.1 after two failed changes: %+v, want its stored entry", e)
	}
	if _, ok := tb.Get(mustAddr(t, "203.0.113.7")); ok {
		t.Error("an entry that was not stored is listed")
	}
	if got := lookup(tb, "203.0.113.1"); !slices.Equal(got, []string{"kept:deny"}) {
		t.Errorf("203.0.113.1 matches %v", got)
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tb := tableOf(t, put(t, "203.0.113.7", "", blocklist.Deny), put(t, "10.0.0.0/8", "", blocklist.Deny),
		put(t, "2001:db8::/32", "", blocklist.Deny), put(t, "2001:db9::1", "", blocklist.Deny))
	addrs := [][]byte{{203, 0, 113, 7}, {10, 1, 1, 1}, {8, 8, 8, 8}, netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db9::1").AsSlice()}
	var sink uint64
	if n := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			sink |= tb.Lookup(a)
		}
	}); n != 0 {
		t.Errorf("Lookup: %v allocations, want 0", n)
	}
	as := []uint32{203<<24 | 113<<8 | 7, 10<<24 | 1<<16 | 1<<8 | 1, 8<<24 | 8<<16 | 8<<8 | 8}
	if n := testing.AllocsPerRun(100, func() {
		tb.Prefetch(addrs)
		for _, a := range as {
			sink |= tb.Lookup4(a) | uint64(uintptr(tb.Line4(a)))
		}
	}); n != 0 {
		t.Errorf("Prefetch, Line4 and Lookup4: %v allocations, want 0", n)
	}
	_ = sink
}

// Lookup4, for callers that split their addresses themselves, answers as Lookup does for
// the same IPv4 address, as 4 bytes or mapped into IPv6, after a prefetch of its Line4 or not;
// and a nil table (no live set) matches nothing and has no line.
func TestLookup4AnswersAsLookup(t *testing.T) {
	tb := tableOf(t, put(t, "203.0.113.7", "one", blocklist.Deny), put(t, "10.0.0.0/8", "two", blocklist.Deny),
		put(t, "192.0.2.1-192.0.2.9", "three", blocklist.Allow), put(t, "10.1.1.1", "four", blocklist.Allow))
	rng := rand.New(rand.NewPCG(3, 3))
	as := []uint32{203<<24 | 113<<8 | 7, 10<<24 | 1<<16 | 1<<8 | 1, 192<<24 | 2<<8 | 5, 8<<24 | 8<<16 | 8<<8 | 8}
	for range 1000 {
		as = append(as, rng.Uint32())
	}
	var lines []unsafe.Pointer
	for _, a := range as[:len(as)/2] {
		lines = append(lines, tb.Line4(a))
	}
	prefetch.Lines(lines)
	matched := 0
	for _, a := range as {
		b := binary.BigEndian.AppendUint32(nil, a)
		want := tb.Lookup(b)
		if got := tb.Lookup4(a); got != want {
			t.Fatalf("Lookup4(%v) = %b, Lookup = %b", netip.AddrFrom4([4]byte(b)), got, want)
		}
		if got := tb.Lookup(netip.AddrFrom16(netip.AddrFrom4([4]byte(b)).As16()).AsSlice()); got != want {
			t.Fatalf("Lookup of %v mapped = %b, as 4 bytes = %b", netip.AddrFrom4([4]byte(b)), got, want)
		}
		if want != 0 {
			matched++
		}
	}
	if matched < 4 {
		t.Errorf("%d addresses matched, want at least the 4 listed ones", matched)
	}
	var none *Table
	if m, w := none.Lookup4(as[0]), none.Line4(as[0]); m != 0 || w != nil {
		t.Errorf("a nil table matched %b, with its line at %p", m, w)
	}
}

func TestRulesRefuseWhatListFilesRefuse(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		e     Entry
		ok    bool
	}{
		{"a /8 passes the default minimum", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.0/8")}, true},
		{"a /7 does not", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.0/7")}, false},
		{"unless short prefixes are allowed", Rules{AllowShort: true}, Entry{Addr: mustAddr(t, "0.0.0.0/0")}, true},
		{"a wide IPv6 prefix", Rules{}, Entry{Addr: mustAddr(t, "2000::/8")}, false},
		{"a range wider than /8", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.0-12.0.0.0")}, false},
		{"a stricter minimum", Rules{MinPrefixV4: 24}, Entry{Addr: mustAddr(t, "10.0.0.0/16")}, false},
		{"a bad list name", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.1"), List: "no spaces"}, false},
		{"observe on an allow entry", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.1"), Action: blocklist.Allow, Observe: true}, false},
		{"a long comment", Rules{}, Entry{Addr: mustAddr(t, "10.0.0.1"), Comment: string(make([]byte, MaxCommentLen+1))}, false},
		{"no address", Rules{}, Entry{}, false},
	}
	for _, tt := range tests {
		err := tt.rules.Check(&tt.e)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func entryOf(a netip.Addr, bits int) blocklist.Entry {
	p := netip.PrefixFrom(a, bits).Masked()
	e, err := blocklist.ParseEntry(p.String())
	if err != nil {
		panic(err)
	}
	return e
}

// TestIncrementalUpdatesMatchAFreshBuild applies random rounds of adds, updates and deletes
// and checks every address of the space against a table built from scratch from the same
// entries: in a small space, so that probes collide and removals shift keys back, and in a
// larger one whose set grows from one shard past its shards' capacity and shrinks again, so
// that shards are copied, grown, rebuilt when stale and the set is built afresh.
func TestIncrementalUpdatesMatchAFreshBuild(t *testing.T) {
	for _, tc := range []struct {
		name            string
		blocks, rounds  int // the space is 10.0.0.0 plus blocks /24s
		batch, delEvery int // changes per round (at most), one delete in delEvery
	}{
		{"small space", 4, 200, 40, 3},
		{"growing and shrinking", 256, 40, 4000, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openSet(t, Options{})
			r := rand.New(rand.NewPCG(7, 7))
			lists := []string{"a", "b", "c"}
			for round := range tc.rounds {
				delEvery := tc.delEvery
				if round > tc.rounds*2/3 {
					delEvery = 1 // the last third mostly deletes
				}
				var changes []Change
				for range 1 + r.IntN(tc.batch) {
					a := fmt.Sprintf("10.0.%d.%d", r.IntN(tc.blocks), r.IntN(256))
					if r.IntN(10) == 0 {
						a = fmt.Sprintf("10.0.%d.0/24", r.IntN(tc.blocks))
					}
					if r.IntN(delEvery) == 0 {
						changes = append(changes, del(t, a))
					} else {
						changes = append(changes, put(t, a, lists[r.IntN(len(lists))], blocklist.Kind(r.IntN(2))))
					}
				}
				if _, err := s.Apply(changes); err != nil {
					t.Fatal(err)
				}
				got := s.Table()
				want, err := buildTable(got.Entries(nil, 0))
				if err != nil {
					t.Fatal(err)
				}
				for x := range tc.blocks * 256 {
					a := []byte{10, 0, byte(x >> 8), byte(x)}
					if g, w := names(got, got.Lookup(a)), names(want, want.Lookup(a)); !slices.Equal(g, w) {
						t.Fatalf("round %d: 10.0.%d.%d: incremental table says %v, a fresh build %v", round, a[2], a[3], g, w)
					}
				}
				for i := range got.NumLists() {
					if got.List(i) != want.List(i) {
						t.Fatalf("round %d: list %d: %+v, a fresh build %+v", round, i, got.List(i), want.List(i))
					}
				}
				if got.e4.n != want.e4.n {
					t.Fatalf("round %d: %d exact IPv4 keys, a fresh build %d", round, got.e4.n, want.e4.n)
				}
			}
		})
	}
}

// TestFilterLetsFewMissesThrough: of addresses in no live list, the exact set's filter lets
// fewer than 1 in 100 through to probe the table (a cache miss beside a large snapshot).
func TestFilterLetsFewMissesThrough(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	e := newExactSet[uint32](100_000)
	in := map[uint32]bool{}
	for len(in) < 100_000 {
		a := r.Uint32()
		if !in[a] {
			in[a] = true
			e.put(a, hash4(a), 0, hash4)
		}
	}
	through, misses := 0, 0
	for misses < 1_000_000 {
		a := r.Uint32()
		if in[a] {
			continue
		}
		misses++
		h := hash4(a)
		if e.has(h) {
			through++
		}
	}
	if rate := float64(through) / float64(misses); rate > 0.01 {
		t.Errorf("%.2f%% of misses pass the filter, want under 1%%", 100*rate)
	} else {
		t.Logf("%.3f%% of misses pass the filter (%d KB)", 100*rate, len(e.w)*8/1024)
	}
}

func TestACallerMayReuseItsBatch(t *testing.T) {
	s := openSet(t, Options{})
	batch := []Change{put(t, "203.0.113.7", "first", blocklist.Deny)}
	if _, err := s.Apply(batch); err != nil {
		t.Fatal(err)
	}
	batch[0].Entry.List, batch[0].Entry.Addr = "changed", mustAddr(t, "10.0.0.1")
	if got := lookup(s.Table(), "203.0.113.7"); !slices.Equal(got, []string{"first:deny"}) {
		t.Errorf("after the caller changed its batch: %v", got)
	}
}

func TestRemovingTheNextToExpireKeepsTheOthersExpiring(t *testing.T) {
	s := openSet(t, Options{})
	soon, later := put(t, "203.0.113.1", "", blocklist.Deny), put(t, "203.0.113.2", "", blocklist.Deny)
	soon.Entry.Expires = time.Now().Add(100 * time.Millisecond)
	later.Entry.Expires = time.Now().Add(300 * time.Millisecond)
	if _, err := s.Apply([]Change{soon, later}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]Change{del(t, "203.0.113.1")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // a bound on the test, not the assertion
	for lookup(s.Table(), "203.0.113.2") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the later entry never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Table().Len(); n != 0 {
		t.Errorf("%d entries left", n)
	}
}

// TestUpdatingAnEntryOftenKeepsTheExpiryQueueBounded: each update of an entry with an expiry
// queues it again; the queue drops what the table no longer holds, so its length stays in
// proportion to the set, not to the updates.
func TestUpdatingAnEntryOftenKeepsTheExpiryQueueBounded(t *testing.T) {
	s := openSet(t, Options{})
	c := put(t, "203.0.113.1", "", blocklist.Deny)
	for i := range 5000 {
		c.Entry.Expires = time.Now().Add(time.Hour + time.Duration(i)*time.Millisecond)
		if _, err := s.Apply([]Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // the queue belongs to the Set's goroutine
	if n := len(s.exp.q); n > 2*s.Table().Len()+1024+1 {
		t.Errorf("%d entries queued for a set of %d", n, s.Table().Len())
	}
	if next := s.exp.next(s.Table()); !next.Equal(c.Entry.Expires) {
		t.Errorf("next expiry %v, want the last update's %v", next, c.Entry.Expires)
	}
}

// TestCoveringFindsEveryEntryHoldingTheAddress: the entries that explain an address are
// exactly those a walk of the whole set finds, nested prefixes, ranges and IPv6 included.
func TestCoveringFindsEveryEntryHoldingTheAddress(t *testing.T) {
	s := openSet(t, Options{})
	var changes []Change
	for _, a := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.2.1-10.1.3.9",
		"10.9.9.9", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "2001:db8::1-2001:db8:1::9"} {
		changes = append(changes, put(t, a, "l", blocklist.Deny))
	}
	r := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		changes = append(changes, put(t, fmt.Sprintf("10.1.%d.%d", r.IntN(4), r.IntN(256)), "m", blocklist.Allow))
	}
	if _, err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	tb := s.Table()
	all := tb.Entries(nil, 0)
	probes := []string{"10.1.2.3", "::ffff:10.1.2.3", "10.1.3.9", "10.1.3.10", "10.9.9.9", "11.0.0.1",
		"2001:db8:1::5", "2001:db8:1::9", "2001:db8:1::a", "2001:db9::1"}
	for range 500 {
		probes = append(probes, fmt.Sprintf("10.1.%d.%d", r.IntN(5), r.IntN(256)))
	}
	for _, p := range probes {
		a := netip.MustParseAddr(p)
		var want []Entry
		for _, e := range all {
			if covers(e.Addr, a.Unmap()) {
				want = append(want, e)
			}
		}
		if got := tb.Covering(a); !slices.Equal(got, want) {
			t.Fatalf("Covering(%s) = %v, a walk of the set finds %v", p, got, want)
		}
	}
}

// TestCoveringAgreesWithItsTablesLookup: a table published before an address was banned
// does not explain it with the new ban, which its Lookup does not see.
func TestCoveringAgreesWithItsTablesLookup(t *testing.T) {
	s := openSet(t, Options{})
	if _, err := s.Apply([]Change{put(t, "10.0.0.0/8", "r", blocklist.Deny)}); err != nil {
		t.Fatal(err)
	}
	old := s.Table()
	if _, err := s.Apply([]Change{put(t, "10.1.2.3", "r", blocklist.Deny)}); err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("10.1.2.3")
	if got := old.Covering(a); len(got) != 1 || got[0].Addr != mustAddr(t, "10.0.0.0/8") {
		t.Errorf("the older table explains %s with %v, want the /8 alone", a, got)
	}
	if got := s.Table().Covering(a); len(got) != 2 {
		t.Errorf("the table in force explains %s with %v, want the /8 and the address", a, got)
	}
	// An update since: the table before it explains the address with the list it holds it in.
	before := s.Table()
	if _, err := s.Apply([]Change{put(t, "10.1.2.3", "ok", blocklist.Allow)}); err != nil {
		t.Fatal(err)
	}
	if got := before.Covering(a); len(got) != 2 || got[1].List != "r" || got[1].Action != blocklist.Deny {
		t.Errorf("the table before the update explains %s with %v, want its own deny entry in r", a, got)
	}
	if got := s.Table().Covering(a); len(got) != 2 || got[1].List != "ok" {
		t.Errorf("the table in force explains %s with %v, want the allow entry in ok", a, got)
	}
}

// TestIndexKeysHoldNoPointers: the index's keys give the collector nothing to follow (their
// whole point), and two addresses differing only in family do not share a key.
func TestIndexKeysHoldNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				if walk(ty.Field(i).Type) {
					return true
				}
			}
			return false
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Bool, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int,
			reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
			return false
		}
		return true
	}
	if walk(reflect.TypeFor[key]()) {
		t.Fatal("the index's key type holds a pointer")
	}
	a, b := mustAddr(t, "192.0.2.1"), blocklist.Entry{First: netip.MustParseAddr("::ffff:192.0.2.1"), Last: netip.MustParseAddr("::ffff:192.0.2.1"), Bits: 32}
	if keyOf(a) == keyOf(b) {
		t.Fatal("an IPv4 address and its mapped IPv6 form share a key")
	}
}

// TestAStaleFilterIsRebuiltWithoutTheTable: removals leave their keys' bits in the filter;
// once they would make it half stale, the round gives the set a new filter of the keys it
// holds, and keeps sharing every shard it does not touch, instead of building the whole
// table again (a ban storm's expiries reached that point every few seconds).
func TestAStaleFilterIsRebuiltWithoutTheTable(t *testing.T) {
	s := openSet(t, Options{})
	const n = 20_000
	r := rand.New(rand.NewPCG(5, 5))
	keys := make([]netip.Addr, n)
	changes := make([]Change, n)
	for i := range keys {
		keys[i] = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		changes[i] = Change{Op: Put, Entry: Entry{Addr: entryOf(keys[i], 32)}}
	}
	if _, err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	refiltered := false
	for i := 0; i < 3*n/4; i += 100 {
		before := s.Table()
		var dels []Change
		for _, a := range keys[i : i+100] {
			dels = append(dels, Change{Op: Delete, Entry: Entry{Addr: entryOf(a, 32)}})
		}
		if _, err := s.Apply(dels); err != nil {
			t.Fatal(err)
		}
		after := s.Table()
		shared := 0
		for j, sh := range after.e4.shards {
			if j < len(before.e4.shards) && before.e4.shards[j] == sh {
				shared++
			}
		}
		if shared < len(after.e4.shards)/2 {
			t.Fatalf("after removing %d keys: %d of %d shards shared with the table before: the table was built again", i+100, shared, len(after.e4.shards))
		}
		if after.e4.stale < before.e4.stale {
			refiltered = true
			set := 0
			for k := range after.e4.w {
				set += bits.OnesCount64(after.e4.w[k].Load())
			}
			if set > 3*after.e4.n {
				t.Errorf("the new filter has %d bits set for %d keys", set, after.e4.n)
			}
		}
	}
	if !refiltered {
		t.Fatal("the filter was never rebuilt though most keys were removed")
	}
	removed := make(map[netip.Addr]bool)
	for _, a := range keys[:3*n/4] {
		removed[a] = true
	}
	tb := s.Table()
	for _, a := range keys {
		if got := tb.Lookup(a.AsSlice()) != 0; got == removed[a] {
			t.Fatalf("%v: listed %v, want %v", a, got, !removed[a])
		}
	}
}

// TestSortKeysOrderAsCompareAddr: the integers a round sorts its changes by give compareAddr's
// order, across families, prefixes and ranges.
func TestSortKeysOrderAsCompareAddr(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var es []blocklist.Entry
	for range 400 {
		var s string
		switch r.IntN(4) {
		case 0:
			s = fmt.Sprintf("10.%d.%d.%d", r.IntN(3), r.IntN(3), r.IntN(256))
		case 1:
			s = fmt.Sprintf("10.%d.%d.0/%d", r.IntN(3), r.IntN(3), 20+r.IntN(5))
		case 2:
			s = fmt.Sprintf("10.%d.0.1-10.%d.0.%d", r.IntN(3), r.IntN(3)+3, 1+r.IntN(3))
		default:
			s = fmt.Sprintf("2001:db8:%x::%x", r.IntN(3), r.IntN(3))
			if r.IntN(2) == 0 {
				s = fmt.Sprintf("2001:db8:%x::/%d", r.IntN(3), 48+r.IntN(3))
			}
		}
		es = append(es, mustAddr(t, s))
	}
	for _, a := range es {
		for _, b := range es {
			if got, want := keyOf(a).compare(keyOf(b)), compareAddr(a, b); got != want {
				t.Fatalf("%v against %v: %d, compareAddr %d", a, b, got, want)
			}
		}
	}
}

// TestExpiriesLeaveTheStoreMostOfItsTime: with a store whose writes take 10 ms, a stream of
// expiries (300 entries, one every 2 ms) is removed in rounds at least four times their length
// apart, about 12 of them, where rounds 10 ms apart would make about 30 synced writes.
func TestExpiriesLeaveTheStoreMostOfItsTime(t *testing.T) {
	st := &memStore{delay: 10 * time.Millisecond}
	s := openSet(t, Options{Store: st})
	now := time.Now()
	var changes []Change
	for i := range 300 {
		c := put(t, fmt.Sprintf("10.1.%d.%d", i/256, i%256), "", blocklist.Deny)
		c.Entry.Expires = now.Add(200*time.Millisecond + time.Duration(i)*2*time.Millisecond)
		changes = append(changes, c)
	}
	if _, err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); s.Table().Len() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left 10 s after the last one's expiry", s.Table().Len())
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.removes > 20 {
		t.Errorf("%d rounds of expiries wrote to the store, want at most 20", st.removes)
	}
	if len(st.entries) != 0 {
		t.Errorf("%d expired entries left in the store", len(st.entries))
	}
}

// TestExpiryGapFollowsTheLastRound: the wait after a round of expiries is expiryShare times
// its length, at least expiryGap and at most maxExpiryGap.
func TestExpiryGapFollowsTheLastRound(t *testing.T) {
	for _, tc := range []struct{ took, want time.Duration }{
		{0, expiryGap},
		{time.Millisecond, expiryGap},
		{5 * time.Millisecond, 20 * time.Millisecond},
		{time.Second, maxExpiryGap},
	} {
		if got := expiryGapAfter(tc.took); got != tc.want {
			t.Errorf("after a round of %v: %v, want %v", tc.took, got, tc.want)
		}
	}
}
