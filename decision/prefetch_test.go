package decision

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/live"
)

// bigHandler returns a handler over one deny list of n random IPv4 addresses, large enough
// for its snapshot to prefetch, and some of the listed addresses.
func bigHandler(t *testing.T, n int) (*Handler, []netip.Addr) {
	return bigLiveHandler(t, n, nil)
}

// bigLiveHandler is bigHandler with the live set ls (nil: none) in front of the list.
func bigLiveHandler(t *testing.T, n int, ls *live.Set) (*Handler, []netip.Addr) {
	rng := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	var listed []netip.Addr
	for i := range n {
		a := netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		b.WriteString(a.String())
		b.WriteByte('\n')
		if i%(n/16) == 0 {
			listed = append(listed, a)
		}
	}
	src := &staticSource{}
	src.p.Store(buildSnapshot(t, [3]string{"big", "deny", b.String()}))
	cfg := Config{Messages: []string{"check-client-ip"}, Logger: slog.New(slog.DiscardHandler)}
	if ls != nil {
		cfg.Live = ls
	}
	h, err := New(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, listed
}

// A batch prefetched and then answered gets the answers it gets without the prefetch, for
// typed and X-Forwarded-For addresses, IPv6 and NOTIFYs without an address; and the whole
// batch, prefetch included, allocates nothing once the connection has prefetched once.
func TestPrefetchedBatchIsAnsweredTheSame(t *testing.T) {
	h, listed := bigHandler(t, 400_000)
	var notifies [][]byte
	for i, a := range listed {
		notifies = append(notifies, notifyWith(uint64(i), "check-client-ip", "ip", ip4(a.String())))
	}
	notifies = append(notifies,
		notifyWith(100, "check-client-ip", "ip", ip4("192.0.2.1")),
		notifyWith(101, "check-client-ip", "ip", str("10.0.0.1, "+listed[0].String())),
		notifyWith(102, "check-client-ip", "ip", ip6("2001:db8::1")),
		notifyWith(103, "check-client-ip", "ip", str("garbage")),
		notifyWith(104, "something-else", "ip", ip4(listed[1].String())),
	)
	buf := make([]byte, 0, 4096)
	want := bytes.Clone(answerBatch(t, h.NewConn().(*conn), notifies, false, buf))
	c := h.NewConn().(*conn)
	if got := answerBatch(t, c, notifies, true, buf); !bytes.Equal(got, want) {
		t.Fatalf("prefetched answers differ:\n got % x\nwant % x", got, want)
	}
	if !bytes.Contains(want, []byte("big")) {
		t.Error("no NOTIFY blocked by list big: the batch checks only the allowed answer")
	}
	if allocs := testing.AllocsPerRun(100, func() { answerBatch(t, c, notifies, true, buf) }); allocs != 0 {
		t.Errorf("%.1f allocations per prefetched batch, want 0", allocs)
	}
	small, _ := testHandler(t, nil)
	sc := small.NewConn().(*conn)
	sc.BeginBatch()
	if sc.Prefetching() {
		t.Error("the snapshot of the usual test lists prefetches")
	}
}

// answerBatch answers notifies as one batch of c's, after prefetching them if prefetch, and
// returns the ACKs, appended to buf[:0].
func answerBatch(t *testing.T, c *conn, notifies [][]byte, prefetch bool, buf []byte) []byte {
	out := buf[:0]
	var f codec.Frame
	var msgs codec.MessageIterator
	c.BeginBatch()
	if prefetch {
		if !c.Prefetching() {
			t.Fatal("the snapshot does not prefetch: the test checks nothing")
		}
		for _, n := range notifies {
			codec.ReadFrameInto(&f, n, 1<<20)
			msgs = codec.NewMessageIterator(f.Payload)
			c.Prefetch(&msgs)
		}
		c.PrefetchDone()
	}
	for _, n := range notifies {
		codec.ReadFrameInto(&f, n, 1<<20)
		msgs = codec.NewMessageIterator(f.Payload)
		out = c.HandleNotify(&msgs, out)
	}
	c.EndBatch()
	return out
}

// The same with live entries in front of the list, in batches that mix IPv4, IPv6 and
// IPv4-mapped IPv6 addresses: the IPv4 addresses go through the prefetch split as numbers,
// the others by their bytes, and each is answered as it is without the prefetch. A live allow
// entry over a listed address lets it through, a live /24 and a live IPv6 address block.
func TestPrefetchedBatchWithLiveEntriesIsAnsweredTheSame(t *testing.T) {
	ls, err := live.Open(live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.Close)
	h, listed := bigLiveHandler(t, 400_000, ls)
	for _, b := range []struct {
		addr   string
		action blocklist.Kind
	}{
		{"192.0.2.7", blocklist.Deny},
		{"198.51.100.0/24", blocklist.Deny},
		{"2001:db8::7", blocklist.Deny},
		{listed[2].String(), blocklist.Allow},
	} {
		ban(t, ls, b.addr, "api", b.action, false)
	}
	cases := [][]codec.Value{
		{ip4("192.0.2.7")},
		{ip6("::ffff:192.0.2.7")},
		{ip4("198.51.100.200")},
		{ip6("::ffff:198.51.100.1")},
		{ip6("2001:db8::7")},
		{ip6("2001:db8::8")},
		{ip4(listed[2].String())},
		{ip4(listed[3].String())},
		{ip6("::ffff:" + listed[3].String())},
		{str("10.0.0.1, 192.0.2.7")},
		{ip4("192.0.2.8")},
	}
	var notifies [][]byte
	for i, v := range cases {
		notifies = append(notifies, notifyWith(uint64(i), "check-client-ip", "ip", v[0]))
	}
	// The batch, and the batch backwards: the split keeps the order of the IPv4 numbers
	// whatever the families around them.
	backwards := slices.Clone(notifies)
	slices.Reverse(backwards)
	for _, batch := range [][][]byte{notifies, backwards} {
		want := answerBatch(t, h.NewConn().(*conn), batch, false, nil)
		if got := answerBatch(t, h.NewConn().(*conn), batch, true, nil); !bytes.Equal(got, want) {
			t.Fatalf("prefetched answers differ:\n got % x\nwant % x", got, want)
		}
	}
	// And each alone, which says what the answers are.
	for i, n := range notifies {
		got := answerBatch(t, h.NewConn().(*conn), [][]byte{n}, true, nil)
		byLive, byFile := bytes.Contains(got, []byte("api")), bytes.Contains(got, []byte("big"))
		wantLive, wantFile := i <= 4 || i == 9, i == 7 || i == 8
		if byLive != wantLive || byFile != wantFile {
			t.Errorf("NOTIFY %d (%v): blocked by the live list %v, by the file list %v; want %v, %v", i, cases[i][0], byLive, byFile, wantLive, wantFile)
		}
	}
}

// HandleNotify answers a prefetched NOTIFY from the lookup PrefetchDone made, without
// decoding it again: handed an empty iterator, it still gives the NOTIFY's answer; and a
// NOTIFY whose address Prefetch did not find is decided from its messages.
func TestPrefetchedNotifyIsAnsweredFromItsLookup(t *testing.T) {
	h, listed := bigHandler(t, 400_000)
	var f codec.Frame
	var msgs codec.MessageIterator
	notifies := [][]byte{
		notifyWith(1, "check-client-ip", "ip", ip4(listed[0].String())),
		notifyWith(2, "something-else", "ip", ip4(listed[1].String())),
	}
	want := func(n []byte) []byte {
		c := h.NewConn().(*conn)
		c.BeginBatch()
		codec.ReadFrameInto(&f, n, 1<<20)
		msgs = codec.NewMessageIterator(f.Payload)
		out := c.HandleNotify(&msgs, nil)
		c.EndBatch()
		return out
	}
	c := h.NewConn().(*conn)
	c.BeginBatch()
	for _, n := range notifies {
		codec.ReadFrameInto(&f, n, 1<<20)
		msgs = codec.NewMessageIterator(f.Payload)
		c.Prefetch(&msgs)
	}
	c.PrefetchDone()
	empty := codec.NewMessageIterator(nil)
	if got := c.HandleNotify(&empty, nil); !bytes.Equal(got, want(notifies[0])) || !bytes.Contains(got, []byte("big")) {
		t.Errorf("prefetched NOTIFY answered % x, want its blocked answer % x", got, want(notifies[0]))
	}
	codec.ReadFrameInto(&f, notifies[1], 1<<20)
	msgs = codec.NewMessageIterator(f.Payload)
	if got := c.HandleNotify(&msgs, nil); !bytes.Equal(got, want(notifies[1])) {
		t.Errorf("NOTIFY without the message answered % x, want % x", got, want(notifies[1]))
	}
	c.EndBatch()
}
