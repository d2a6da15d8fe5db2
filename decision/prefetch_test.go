package decision

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// bigHandler returns a handler over one deny list of n random IPv4 addresses, large enough
// for its snapshot to prefetch, and some of the listed addresses.
func bigHandler(t *testing.T, n int) (*Handler, []netip.Addr) {
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
	h, err := New(src, Config{Messages: []string{"check-client-ip"}, Logger: slog.New(slog.DiscardHandler)})
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
	answer := func(c *conn, prefetch bool) []byte {
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
	want := bytes.Clone(answer(h.NewConn().(*conn), false))
	c := h.NewConn().(*conn)
	if got := answer(c, true); !bytes.Equal(got, want) {
		t.Fatalf("prefetched answers differ:\n got % x\nwant % x", got, want)
	}
	if !bytes.Contains(want, []byte("big")) {
		t.Error("no NOTIFY blocked by list big: the batch checks only the allowed answer")
	}
	if allocs := testing.AllocsPerRun(100, func() { answer(c, true) }); allocs != 0 {
		t.Errorf("%.1f allocations per prefetched batch, want 0", allocs)
	}
	small, _ := testHandler(t, nil)
	sc := small.NewConn().(*conn)
	sc.BeginBatch()
	if sc.Prefetching() {
		t.Error("the snapshot of the usual test lists prefetches")
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
