package server

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// prefetchHandler is fakeHandler with a Prefetcher that decides each NOTIFY it is handed and
// answers it from that record, without walking its messages again (as the contract allows),
// and records, in order, each NOTIFY it is handed (by its address's last byte) and each
// HandleNotify, so a test sees the two passes.
type prefetchHandler struct {
	on  bool
	log *[]string
}

func (h prefetchHandler) NewConn() ConnHandler { return &prefetchConn{on: h.on, log: h.log} }

type prefetchConn struct {
	fakeConn
	on      bool
	log     *[]string
	answers [][]byte // of the NOTIFYs prefetched in the batch
	next    int
}

func (c *prefetchConn) Prefetching() bool { return c.on }
func (c *prefetchConn) Prefetch(msgs *codec.MessageIterator) {
	probe := *msgs
	c.answers = append(c.answers, c.fakeConn.HandleNotify(&probe, nil))
	probe = *msgs
	*c.log = append(*c.log, "prefetch "+lastAddrByte(&probe))
}
func (c *prefetchConn) PrefetchDone() { *c.log = append(*c.log, "done") }
func (c *prefetchConn) HandleNotify(msgs *codec.MessageIterator, ack []byte) []byte {
	probe := *msgs
	*c.log = append(*c.log, "answer "+lastAddrByte(&probe))
	if c.next < len(c.answers) {
		c.next++
		return append(ack, c.answers[c.next-1]...)
	}
	return c.fakeConn.HandleNotify(msgs, ack)
}
func (c *prefetchConn) EndBatch() {
	c.answers, c.next = c.answers[:0], 0
	c.fakeConn.EndBatch()
}

func lastAddrByte(msgs *codec.MessageIterator) string {
	for msgs.Next() {
		for args := msgs.Args(); args.Next(); {
			if b := args.Bytes(); args.Type() == codec.TypeIPv4 {
				return fmt.Sprint(b[3])
			}
		}
	}
	return "none"
}

// When the handler prefetches, the session hands it every whole NOTIFY of the read before
// answering the first, stops at the first frame that is not one, and answers exactly as
// without prefetching; when it does not, it is only asked.
func TestPrefetcherSeesTheReadsNotifiesBeforeTheAnswers(t *testing.T) {
	three := cat(notifyFrame(1, 1, [4]byte{192, 0, 2, 1}), notifyFrame(3, 1, [4]byte{127, 0, 0, 2}), notifyFrame(5, 1, [4]byte{192, 0, 2, 3}))
	partial := notifyFrame(7, 1, [4]byte{192, 0, 2, 4})
	fragmented := cat(v26(t, "14a"), v26(t, "14b"), v26(t, "14c"), v26(t, "14d")) // a NOTIFY in 4 frames
	ip := [4]byte{192, 0, 2, 2}
	msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
	badSecond := codec.AppendNotify(nil, 3, 1, append(msg, 0xff, 0xff)) // its second message does not decode
	badType := []byte{0, 0, 0, 7, 50, 0, 0, 0, 1, 0, 0}                 // a frame of no known type
	var many []byte                                                     // more NOTIFYs than one pass takes
	manyWant := []string{}
	for i := range MaxPrefetch + 2 {
		many = append(many, notifyFrame(uint64(2*i+1), 1, [4]byte{192, 0, 2, byte(i)})...)
		if i < MaxPrefetch {
			manyWant = append(manyWant, fmt.Sprint("prefetch ", i))
		}
	}
	manyWant = append(manyWant, "done")
	for i := range MaxPrefetch + 2 {
		manyWant = append(manyWant, fmt.Sprint("answer ", i))
	}
	for _, tc := range []struct {
		name string
		on   bool
		in   []byte
		want []string
	}{
		{"three NOTIFYs", true, three, []string{"prefetch 1", "prefetch 2", "prefetch 3", "done", "answer 1", "answer 2", "answer 3"}},
		{"not prefetching", false, three, []string{"answer 1", "answer 2", "answer 3"}},
		{"a partial NOTIFY last", true, cat(three, partial[:len(partial)-1]),
			[]string{"prefetch 1", "prefetch 2", "prefetch 3", "done", "answer 1", "answer 2", "answer 3"}},
		{"a fragment stops it", true, cat(notifyFrame(1, 1, [4]byte{192, 0, 2, 1}), fragmented, notifyFrame(9, 1, [4]byte{192, 0, 2, 9})),
			[]string{"prefetch 1", "done", "answer 1", "answer 5", "answer 9"}},
		// The session walked its messages after Prefetch: refused without a HandleNotify.
		{"a NOTIFY that does not decode ends it", true, cat(notifyFrame(1, 1, [4]byte{192, 0, 2, 1}), badSecond, notifyFrame(5, 1, [4]byte{192, 0, 2, 3})),
			[]string{"prefetch 1", "prefetch 2", "done", "answer 1"}},
		{"a frame that does not decode stops it, then ends the connection", true, cat(three, badType, partial),
			[]string{"prefetch 1", "prefetch 2", "prefetch 3", "done", "answer 1", "answer 2", "answer 3"}},
		{"a pass takes MaxPrefetch NOTIFYs, the rest are answered after", true, many, manyWant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			cfg := testSessionConfig()
			cfg.handler = prefetchHandler{on: tc.on, log: &log}
			hello := v26(t, "01_")
			s := newSession(cfg)
			_, _, _ = s.handle(hello, nil)
			n, got, closeAfter := s.handle(tc.in, nil)

			plain := newSession(testSessionConfig())
			_, _, _ = plain.handle(hello, nil)
			wn, want, wclose := plain.handle(tc.in, nil)
			if fmt.Sprint(log) != fmt.Sprint(tc.want) {
				t.Errorf("calls %q\nwant  %q", log, tc.want)
			}
			if n != wn || closeAfter != wclose || !bytes.Equal(got, want) {
				t.Errorf("consumed %d, closeAfter %v, output differs from the session without prefetching (%d)", n, closeAfter, wn)
			}
		})
	}
}

// countingPrefetcher prefetches and records nothing but counts, for the allocation test.
type countingPrefetcher struct{ fakeConn }

func (c *countingPrefetcher) Prefetching() bool                    { return true }
func (c *countingPrefetcher) Prefetch(msgs *codec.MessageIterator) { c.batches++ }
func (c *countingPrefetcher) PrefetchDone()                        {}

type countingPrefetchHandler struct{}

func (countingPrefetchHandler) NewConn() ConnHandler { return &countingPrefetcher{} }

func TestPrefetchPassDoesNotAllocate(t *testing.T) {
	cfg := testSessionConfig()
	cfg.handler = countingPrefetchHandler{}
	s := newSession(cfg)
	_, _, _ = s.handle(v26(t, "01_"), nil)
	in := v26(t, "29_") // 15 NOTIFYs in one segment
	out := make([]byte, 0, 4096)
	if allocs := testing.AllocsPerRun(1000, func() { _, _, _ = s.handle(in, out[:0]) }); allocs != 0 {
		t.Errorf("%.1f allocations per batch, want 0", allocs)
	}
}

// FuzzPrefetchPass: whatever a read holds after the handshake, a session whose handler
// prefetches consumes, answers and closes exactly as one whose handler does not.
func FuzzPrefetchPass(f *testing.F) {
	for _, seed := range [][]byte{
		v26(f, "06_"), v26(f, "29_"), v26(f, "11_"), v34(f, "05_"),
		cat(v26(f, "14a"), v26(f, "14b"), v26(f, "14c"), v26(f, "14d")),
		cat(notifyFrame(1, 1, [4]byte{127, 0, 0, 2}), []byte{0, 0, 0, 9, 3, 0, 0, 0, 1, 1, 1, 0xff, 0xff}),
	} {
		f.Add(seed)
	}
	hello := v26(f, "01_")
	f.Fuzz(func(t *testing.T, in []byte) {
		var log []string
		cfg := testSessionConfig()
		cfg.handler = prefetchHandler{on: true, log: &log}
		s := newSession(cfg)
		_, _, _ = s.handle(hello, nil)
		plain := newSession(testSessionConfig())
		_, _, _ = plain.handle(hello, nil)
		n, out, closeAfter := s.handle(in, nil)
		wn, want, wclose := plain.handle(in, nil)
		if n != wn || closeAfter != wclose || !bytes.Equal(out, want) {
			t.Fatalf("with prefetching: consumed %d, close %v, %d bytes out; without: %d, %v, %d", n, closeAfter, len(out), wn, wclose, len(want))
		}
	})
}
