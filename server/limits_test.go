package server

// Limits and memory: what the server bounds under hostile and broken peers
// (docs/RELIABILITY.md#hostile), and what it holds per connection and per ACK. Every case
// runs against a real server on loopback and is bounded by a count of bytes, frames or
// connections; time only bounds waits that would otherwise hang on a broken server, and
// nothing asserts on how long anything took. After each hostile case a fresh connection must
// be served right and the heap must be back near where it started.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// hostileHelloTimeout is short so that a peer that never completes its HELLO is closed
// quickly, in the tests of such peers; cases wait for that close, they do not time it. Other
// tests keep the default, so that a slow machine never closes a handshake in progress.
const hostileHelloTimeout = time.Second

// heapSlack is how far above its starting point the heap may be after a case. It is
// generous (the test's own clients allocate, and gnet keeps some per-loop buffers); the
// failures it guards against — a crafted length honoured, a disconnect storm leaking — are
// orders of magnitude larger.
const heapSlack = 8 << 20

// heapInuse is HeapInuse after two collections: sync.Pool keeps a victim cache for one.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// hostileServer is a server under attack, and the heap it started from.
type hostileServer struct {
	*Server
	logs *testutil.Buffer
	base uint64
}

func startHostile(t *testing.T, cfg Config) *hostileServer {
	t.Helper()
	s, logs := startServer(t, cfg, nil)
	h := &hostileServer{Server: s, logs: logs}
	h.served(t) // warms the loops and pools before the baseline
	h.base = heapInuse()
	return h
}

// waitOpen waits until the server counts n open connections. It polls with a bound: the
// server closes connections on its own loops, after the client side already saw the close.
func (h *hostileServer) waitOpen(t testing.TB, n int) {
	t.Helper()
	for i := 0; i < int(safety/(5*time.Millisecond)) && h.OpenConns() != n; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.OpenConns(); got != n {
		t.Fatalf("%d connections open, want %d", got, n)
	}
}

// served proves the server still works: a fresh connection's handshake, a blocked and an
// allowed NOTIFY answered right, and a clean HAPROXY-DISCONNECT.
func (h *hostileServer) served(t *testing.T) {
	t.Helper()
	c := testutil.Dial(t, h.Addr())
	c.Handshake()
	c.Send(cat(notifyFrame(1, 1, [4]byte{127, 0, 0, 2}), notifyFrame(3, 1, [4]byte{192, 0, 2, 1})))
	for _, want := range []struct {
		sid     uint64
		blocked bool
	}{{1, true}, {3, false}} {
		if ack := c.Expect(codec.FrameAck); ack.StreamID != want.sid || ack.BlockedVar(t) != want.blocked {
			t.Fatalf("after the attack: ACK %d blocked=%v, want %d %v", ack.StreamID, ack.BlockedVar(t), want.sid, want.blocked)
		}
	}
	c.Send(codec.AppendHAProxyDisconnect(nil, codec.StatusNormal, "done"))
	if st := c.Expect(codec.FrameAgentDisconnect).Status(t); st != codec.StatusNormal {
		t.Fatalf("after the attack: disconnect status %d", st)
	}
	c.ExpectClosed()
	c.Conn.Close()
}

// recovered is the check after each case: every connection of the case closed by the
// server, fragments released, a fresh connection served, and the heap back near its start.
func (h *hostileServer) recovered(t *testing.T) {
	t.Helper()
	h.waitOpen(t, 0)
	if n := h.metrics.fragsInflight.Get(); n != 0 {
		t.Errorf("%v fragmented NOTIFYs still held", n)
	}
	h.served(t)
	h.waitOpen(t, 0)
	if got := heapInuse(); got > h.base+heapSlack {
		t.Errorf("heap in use %d KiB, started at %d KiB", got>>10, h.base>>10)
	}
}

// closedOnly is the "status" of a case that expects the connection closed with no frame.
const closedOnly = codec.Status(1 << 31)

// ends finishes a case: a FIN from the client if fin, then the server's answer — an
// AGENT-DISCONNECT with status want and a close, or only the close — then the recovery check.
func (h *hostileServer) ends(t *testing.T, c *testutil.Client, fin bool, want codec.Status) {
	t.Helper()
	if fin {
		_ = c.Conn.(*net.TCPConn).CloseWrite()
	}
	if want == closedOnly {
		c.ExpectClosed()
	} else {
		c.ExpectDisconnect(want)
	}
	h.recovered(t)
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tlsClientHello is the start of a TLS 1.2 ClientHello record, as a scanner sends it.
var tlsClientHello = cat([]byte{0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03}, randomBytes(1, 32), []byte{0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00})

// TestHostileProbes sends what port scanners and misrouted clients send to the agent's port.
// Bytes that cannot start a frame end the connection with the status
// docs/PROTOCOL.md#status-codes gives them; a peer that says too little is closed at its HELLO
// deadline; nothing is left behind.
func TestHostileProbes(t *testing.T) {
	h := startHostile(t, Config{HelloTimeout: hostileHelloTimeout})
	type ending int
	const (
		silence   ending = iota // wait for the server to close
		halfClose               // FIN, then wait
		rst                     // RST right away, do not read
	)
	cases := []struct {
		name string
		in   []byte
		then ending
		want codec.Status
	}{
		// "GET " read as a length is 1195725856, far above max-frame-size.
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: spoa\r\nUser-Agent: curl/8.5.0\r\n\r\n"), silence, codec.StatusFrameTooBig},
		{"HTTP request then FIN", []byte("GET / HTTP/1.0\r\n\r\n"), halfClose, codec.StatusFrameTooBig},
		{"TLS ClientHello", tlsClientHello, silence, codec.StatusFrameTooBig},
		{"SSH banner", []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), silence, codec.StatusFrameTooBig},
		{"one-byte probe then silence", []byte{0}, silence, closedOnly},
		{"one-byte probe then FIN", []byte{'\r'}, halfClose, closedOnly},
		{"connect then FIN", nil, halfClose, closedOnly},
		{"connect then RST", nil, rst, closedOnly},
		{"HELLO then RST", v26(t, "01_"), rst, closedOnly},
		{"a whole frame's length, three bytes, silence", []byte{0, 0, 0, 100, 1, 0, 0}, silence, closedOnly},
	}
	for seed := uint64(1); seed <= 8; seed++ {
		cases = append(cases, struct {
			name string
			in   []byte
			then ending
			want codec.Status
		}{fmt.Sprintf("random bytes %d", seed), randomBytes(seed, 64<<seed), silence, codec.StatusFrameTooBig})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, h.Addr())
			if len(tc.in) > 0 {
				c.Send(tc.in)
			}
			switch tc.then {
			case rst:
				c.Reset()
				h.recovered(t)
				return
			}
			h.ends(t, c, tc.then == halfClose, tc.want)
		})
	}
}

// TestHostileHugeLength sends the length prefix that OOM-killed agents that allocate what a
// frame announces, and lengths that are legal but never completed.
func TestHostileHugeLength(t *testing.T) {
	h := startHostile(t, Config{HelloTimeout: hostileHelloTimeout})
	huge := []byte{0x7f, 0xff, 0xff, 0xff}
	legal := []byte{0, 0, 0x3e, 0x80}      // 16000, under max-frame-size
	legalHello := []byte{0, 0, 0x03, 0x84} // 900, under the cap before HELLO
	for _, tc := range []struct {
		name      string
		handshake bool
		in        []byte
		drip      int  // then this many single bytes, a millisecond apart, while writes succeed
		fin       bool // then a FIN
		want      codec.Status
	}{
		{"0x7fffffff then silence", false, huge, 0, false, codec.StatusFrameTooBig},
		{"0x7fffffff after HELLO then silence", true, huge, 0, false, codec.StatusFrameTooBig},
		{"0x7fffffff then a slow drip", true, huge, 2000, false, codec.StatusFrameTooBig},
		{"a frame length legal after HELLO, before it", false, legal, 0, false, codec.StatusFrameTooBig},
		{"a legal length dripped before HELLO", false, legalHello, 100, false, closedOnly}, // closed at the HELLO deadline
		{"a legal length after HELLO then FIN", true, cat(legal, make([]byte, 8000)), 0, true, closedOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, h.Addr())
			if tc.handshake {
				c.Handshake()
			}
			c.Send(tc.in)
			for i := 0; i < tc.drip; i++ {
				if _, err := c.Conn.Write([]byte{0xff}); err != nil {
					break // the server closed
				}
				time.Sleep(time.Millisecond)
			}
			h.ends(t, c, tc.fin, tc.want)
		})
	}
}

// handshaken dials and completes a HELLO without testing.T, for use off the test goroutine.
func handshaken(addr net.Addr, hello []byte) (*testutil.Client, error) {
	c, err := testutil.DialSPOP(addr.Network(), addr.String())
	if err != nil {
		return nil, err
	}
	if err := c.Hello(hello); err != nil {
		c.Conn.Close()
		return nil, err
	}
	return c, nil
}

// fdLimit returns the process's file descriptor limit.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return int(min(r.Cur, 1<<20))
}

// TestHostileIdleConnections opens thousands of connections and leaves them idle, first
// without a HELLO, then after one, and measures the heap each holds: HeapAlloc after
// runtime.GC(), before and after, divided by their number. The test's client sockets are in
// the same process and counted too, which only makes the bound stricter.
func TestHostileIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	// Two descriptors per connection (both ends are in this process), and room to spare.
	n := min(2000, (fdLimit()-256)/2)
	if n < 500 {
		t.Skipf("file descriptor limit %d too low", fdLimit())
	}
	h := startHostile(t, Config{HelloTimeout: time.Minute, MaxConns: n + 1})
	hello := v26(t, "01_")
	for _, withHello := range []bool{false, true} {
		name := map[bool]string{false: "without HELLO", true: "after HELLO"}[withHello]
		t.Run(name, func(t *testing.T) {
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < n; i++ {
				var c net.Conn
				var err error
				if withHello {
					var sc *testutil.Client
					if sc, err = handshaken(h.Addr(), hello); err == nil {
						c = sc.Conn
					}
				} else {
					c, err = net.Dial("tcp", h.Addr().String())
				}
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				conns = append(conns, c)
			}
			h.waitOpen(t, n)
			runtime.GC()
			runtime.ReadMemStats(&ms1)
			per := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(n)
			t.Logf("%d idle connections %s: %.0f heap bytes each (agent and test client together)", n, name, per)
			if per > 8<<10 {
				t.Errorf("%.0f heap bytes per idle connection, want at most 8 KiB", per)
			}
			for _, c := range conns {
				c.Close()
			}
			conns = nil
			h.recovered(t)
		})
	}
}

// TestHostileConnectionLimit fills the connection table with idle handshaken connections
// beside one that carries traffic: each newcomer takes the place of the longest idle one,
// which gets AGENT-DISCONNECT status 13; the connection carrying traffic is never the one
// that goes, and the table does not stay over its limit. Handshakes racing on two event
// loops, which accept concurrently, leave the table at its limit once the evictions are done.
func TestHostileConnectionLimit(t *testing.T) {
	t.Run("filled", testConnectionLimitFilled)
	t.Run("concurrent accepts", testConnectionLimitConcurrentAccepts)
}

func testConnectionLimitFilled(t *testing.T) {
	const limit, extra = 32, 20 // extra < limit: only the first idle ones are older than the rest
	h := startHostile(t, Config{MaxConns: limit})
	hello := v26(t, "01_")
	var idle, newcomers []*testutil.Client
	defer func() {
		for _, c := range append(idle, newcomers...) {
			c.Conn.Close()
		}
	}()
	for i := 0; i < limit-1; i++ {
		c, err := handshaken(h.Addr(), hello)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i, limit, err)
		}
		idle = append(idle, c)
	}
	busy, err := handshaken(h.Addr(), hello)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Conn.Close()
	h.waitOpen(t, limit)
	waitTicks(h.Server, 2) // the tick's clock moves on: busy's frames are later than the idle ones'
	sid := uint64(1)
	notify := func() { // the busy connection carries a request
		t.Helper()
		if _, err := busy.Conn.Write(notifyFrame(sid, 1, [4]byte{127, 0, 0, 2})); err != nil {
			t.Fatal(err)
		}
		if got, err := busy.ReadACKs(1); err != nil || !got[sid] {
			t.Fatalf("busy connection, stream %d: %v %v", sid, got, err)
		}
		sid += 2
	}
	notify()
	refusedBefore := h.metrics.connsRefused.Get()
	for i := 0; i < extra; i++ {
		c, err := handshaken(h.Addr(), hello)
		if err != nil {
			t.Fatalf("newcomer %d: %v", i, err)
		}
		newcomers = append(newcomers, c)
		notify()
	}
	h.waitOpen(t, limit) // every eviction done: the AGENT-DISCONNECTs sit in the client sockets
	evicted := 0
	for _, c := range idle {
		_ = c.Conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if f, err := c.Read(); err == nil && f.Type == codec.FrameAgentDisconnect && f.Status(t) == codec.StatusResourceAllocation {
			evicted++
		}
	}
	if evicted != extra {
		t.Errorf("%d idle connections got AGENT-DISCONNECT 13, want %d", evicted, extra)
	}
	if got := h.metrics.closedByLimit("table_full").Get(); got != extra {
		t.Errorf("%d evictions counted, want %d", got, extra)
	}
	if got := h.metrics.connsRefused.Get() - refusedBefore; got != 0 {
		t.Errorf("%d newcomers refused, want none", got)
	}
	notify()
	for _, c := range append(idle, newcomers...) {
		c.Conn.Close()
	}
	idle, newcomers = nil, nil
	busy.Conn.Close()
	h.recovered(t)
}

func testConnectionLimitConcurrentAccepts(t *testing.T) {
	const limit, dialers = 8, 200
	h := startHostile(t, Config{MaxConns: limit, Loops: 2})
	hello := v26(t, "01_")
	in := make(chan *testutil.Client, dialers)
	var wg sync.WaitGroup
	for i := 0; i < dialers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := handshaken(h.Addr(), hello); err == nil {
				in <- c
			}
		}()
	}
	wg.Wait()
	close(in)
	var conns []*testutil.Client
	for c := range in {
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		t.Fatalf("no handshake of %d completed", dialers)
	}
	h.waitOpen(t, min(limit, len(conns)))
	for _, c := range conns {
		c.Conn.Close()
	}
	h.recovered(t)
}

// TestHostileReloadStorm plays HAProxy reloads under load: in each round a new generation
// of connections opens, handshakes and is answered in full, while the previous generation,
// each with NOTIFYs outstanding (some mid-fragment), is reset. No ACK of a live connection
// may be wrong or missing, and nothing of the dead ones may remain.
func TestHostileReloadStorm(t *testing.T) {
	const rounds, perRound, inflight = 12, 40, 20
	h := startHostile(t, Config{})
	hello := v26(t, "01_")
	frag := v26(t, "14a")
	var batch []byte // stream i: blocked when i%3 == 0
	for i := 0; i < inflight; i++ {
		ip := [4]byte{192, 0, 2, byte(i)}
		if i%3 == 0 {
			ip = [4]byte{127, 0, 0, 2}
		}
		batch = append(batch, notifyFrame(uint64(2*i+1), 1, ip)...)
	}
	var old []*testutil.Client
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		errs := make(chan error, perRound)
		next := make([]*testutil.Client, perRound)
		for i := 0; i < perRound; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, err := handshaken(h.Addr(), hello)
				if err != nil {
					errs <- err
					return
				}
				next[i] = c
				if _, err := c.Conn.Write(batch); err != nil {
					errs <- err
					return
				}
				got, err := c.ReadACKs(inflight)
				if err != nil {
					errs <- err
					return
				}
				for j := 0; j < inflight; j++ {
					if b, ok := got[uint64(2*j+1)]; !ok || b != (j%3 == 0) {
						errs <- fmt.Errorf("stream %d: blocked=%v present=%v", 2*j+1, b, ok)
						return
					}
				}
				// Leave work outstanding for the reset of the next round.
				tail := batch
				if i%4 == 0 {
					tail = cat(batch[:len(batch)/2], frag)
				}
				_, _ = c.Conn.Write(tail)
			}(i)
		}
		for _, c := range old { // the reload: the old generation dies mid-flight
			c.Reset()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", r, err)
		}
		old = next
	}
	for _, c := range old {
		c.Reset()
	}
	t.Logf("%d connections opened and reset with NOTIFYs outstanding; %d ACKs checked", rounds*perRound, rounds*perRound*inflight)
	h.recovered(t)
}

// TestHostileNotifyFloodNeverRead is a peer that sends NOTIFYs as fast as it can and never
// reads an ACK. The server must stop queueing, close it (counted and logged), and never hold
// more than its bounds meanwhile; other connections are unaffected.
func TestHostileNotifyFloodNeverRead(t *testing.T) {
	const queued = 64 << 10
	h := startHostile(t, Config{MaxQueuedOutput: queued})
	closures := h.metrics.backlogClosures.Get()
	c := testutil.Dial(t, h.Addr())
	c.Handshake()
	var chunk []byte
	for i := 0; i < 1000; i++ {
		chunk = append(chunk, notifyFrame(uint64(i), 1, [4]byte{192, 0, 2, 1})...)
	}
	var ms runtime.MemStats
	var peak uint64
	var err error
	for i := 0; i < 5000 && err == nil; i++ { // at most 180 MB
		_, err = c.Conn.Write(chunk)
		if i%50 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err == nil {
		t.Fatal("the server never closed a peer that does not read")
	}
	if got := h.metrics.backlogClosures.Get() - closures; got != 1 {
		t.Errorf("backlog closures %d, want 1", got)
	}
	h.waitOpen(t, 0)
	if !strings.Contains(h.logs.String(), "does not read") {
		t.Errorf("closure not logged:\n%s", h.logs)
	}
	t.Logf("heap in use at most %d KiB during the flood, %d KiB before", peak>>10, h.base>>10)
	// Garbage not yet collected counts in the peak; a server that kept what it was sent
	// would be at 100 MB or more.
	if peak > h.base+4*heapSlack {
		t.Errorf("heap reached %d KiB during the flood, from %d KiB", peak>>10, h.base>>10)
	}
	c.Conn.Close()
	h.recovered(t)
}

// TestHostileFragments: fragmented NOTIFYs that never finish, that interleave two streams,
// and that are aborted.
func TestHostileFragments(t *testing.T) {
	h := startHostile(t, Config{})
	hello := v26(t, "01_")
	first := v26(t, "14a") // NOTIFY 4/1 without FIN
	unset := func(sid uint64, flags codec.Flags, n int) []byte {
		return frameWith(codec.FrameUnset, flags, sid, 1, make([]byte, n))
	}
	t.Run("never finishing, growing past the cap", func(t *testing.T) {
		c := testutil.Dial(t, h.Addr())
		in := cat(hello, first)
		for i := 0; i < 100; i++ { // 100 KB, over the 64 KiB reassembly cap
			in = append(in, unset(4, 0, 1000)...)
		}
		c.Send(in)
		c.ExpectDisconnect(codec.StatusFrameTooBig)
		h.recovered(t)
	})
	t.Run("never finishing, then silence and FIN", func(t *testing.T) {
		c := testutil.Dial(t, h.Addr())
		c.Send(cat(hello, first, unset(4, 0, 10)))
		c.Expect(codec.FrameAgentHello)
		for i := 0; i < 1000 && h.metrics.fragsInflight.Get() != 1; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		if got := h.metrics.fragsInflight.Get(); got != 1 {
			t.Fatalf("%v fragmented NOTIFYs in flight, want 1", got)
		}
		_ = c.Conn.(*net.TCPConn).CloseWrite()
		c.ExpectClosed()
		h.recovered(t)
	})
	t.Run("never finishing, then RST", func(t *testing.T) {
		c := testutil.Dial(t, h.Addr())
		c.Handshake()
		c.Send(first)
		c.Reset()
		h.recovered(t)
	})
}

// TestHostileMalformedFrames sends one frame of each malformed class; each ends the
// connection with the status docs/PROTOCOL.md#status-codes gives it (4, "invalid frame
// received", for all of them: a malformed frame, ids in a HELLO, a wrong type) and a close.
func TestHostileMalformedFrames(t *testing.T) {
	h := startHostile(t, Config{})
	hello := v26(t, "01_")
	// notify builds a NOTIFY 1/1 with FIN around a raw LIST-OF-MESSAGES.
	notify := func(payload ...byte) []byte { return frameWith(codec.FrameNotify, codec.FlagFin, 1, 1, payload) }
	msg := codec.AppendName(nil, "check-client-ip")
	arg := codec.AppendName(nil, "ip")
	helloKV := func(kv ...byte) []byte { return frameWith(codec.FrameHAProxyHello, codec.FlagFin, 0, 0, kv) }
	versions := codec.AppendValue(codec.AppendName(nil, "supported-versions"), codec.StringValue([]byte("2.0")))
	mfsKey := codec.AppendName(nil, "max-frame-size")
	helloIDs := codec.AppendHAProxyHello(nil, codec.Hello{SupportedVersions: []byte("2.0"), MaxFrameSize: 16380})
	helloIDs[9] = 1 // stream-id 1
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"truncated varint: stream-id", cat(hello, []byte{0, 0, 0, 7, 3, 0, 0, 0, 1, 0xf0, 0xff})},
		{"truncated varint: frame-id", cat(hello, []byte{0, 0, 0, 8, 3, 0, 0, 0, 1, 1, 0xf5, 0x80})},
		{"truncated varint: message name length", cat(hello, notify(0xf5))},
		{"truncated varint: INT64 argument", cat(hello, notify(cat(msg, []byte{1}, arg, []byte{byte(codec.TypeInt64), 0xff, 0xf0})...))},
		{"truncated varint: max-frame-size in HELLO", helloKV(cat(versions, mfsKey, []byte{byte(codec.TypeUint32), 0xfc})...)},
		{"unknown frame type", cat(hello, frameWith(42, codec.FlagFin, 1, 1, nil))},
		{"agent frame type from HAProxy", cat(hello, frameWith(codec.FrameAck, codec.FlagFin, 1, 1, nil))},
		{"NOTIFY before HELLO", v26(t, "06_")},
		{"second HELLO", cat(hello, hello)},
		{"ids in HELLO", helloIDs},
		{"HELLO without FIN", frameWith(codec.FrameHAProxyHello, 0, 0, 0, hello[9:])},
		{"frame shorter than a header", cat(hello, []byte{0, 0, 0, 2, 3, 0})},
		{"bad typed data: reserved type 10", cat(hello, notify(cat(msg, []byte{1}, arg, []byte{10, 1, 2, 3, 4})...))},
		{"bad typed data: IPv4 cut short", cat(hello, notify(cat(msg, []byte{1}, arg, []byte{byte(codec.TypeIPv4), 127, 0})...))},
		{"bad typed data: STRING longer than the frame", cat(hello, notify(cat(msg, []byte{1}, arg, []byte{byte(codec.TypeString), 100, 'a'})...))},
		{"bad typed data: max-frame-size as a STRING", helloKV(cat(versions, mfsKey, []byte{byte(codec.TypeString), 1, '1'})...)},
		{"wrong NB-ARGS: more than present", cat(hello, notify(cat(msg, []byte{3}, arg, []byte{byte(codec.TypeIPv4), 127, 0, 0, 2})...))},
		{"wrong NB-ARGS: fewer than present", cat(hello, notify(cat(codec.AppendName(nil, "m"), []byte{0}, arg, []byte{byte(codec.TypeIPv4), 127, 0, 0, 2})...))},
		{"DISCONNECT with a truncated KV", cat(hello, frameWith(codec.FrameHAProxyDisconnect, codec.FlagFin, 0, 0, []byte{11, 's', 't'}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, h.Addr())
			c.Send(tc.in)
			c.ExpectDisconnect(codec.StatusInvalidFrame)
			h.recovered(t)
		})
	}
}

// TestLoad measures ACKs/s and allocations per ACK with a simple load: 4 connections, each
// keeping 20 NOTIFYs in flight, for a fixed number of rounds. It asserts only the allocation
// rate; the rate is logged (go test -run TestLoad -v ./server).
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load run")
	}
	const conns, inflight, rounds = 4, 20, 5000
	s, _ := startServer(t, Config{}, nil)
	var batch []byte
	for i := 0; i < inflight; i++ {
		batch = append(batch, notifyFrame(uint64(i), 1, [4]byte{192, 0, 2, byte(i)})...)
	}
	cs := make([]*testutil.Client, conns)
	for i := range cs {
		cs[i] = testutil.Dial(t, s.Addr())
		cs[i].Handshake()
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for r := 0; r < rounds; r++ {
				if _, err := c.Write(batch); err != nil {
					errs <- err
					return
				}
				// Read exactly the 20 ACKs back, counting frames by their length prefixes.
				got, have := 0, 0
				for got < inflight {
					n, err := c.Read(buf[have:])
					if err != nil {
						errs <- err
						return
					}
					have += n
					off := 0
					for off+4 <= have {
						l := int(binary.BigEndian.Uint32(buf[off:]))
						if off+4+l > have {
							break
						}
						off += 4 + l
						got++
					}
					have = copy(buf, buf[off:have])
				}
			}
		}(c.Conn)
	}
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	acks := float64(conns * inflight * rounds)
	allocs := float64(ms1.Mallocs-ms0.Mallocs) / acks
	t.Logf("%d conns x %d in flight: %.0f ACKs in %s = %.0f ACK/s; %.5f allocations per ACK (client included)",
		conns, inflight, acks, elapsed.Round(time.Millisecond), acks/elapsed.Seconds(), allocs)
	if allocs > 0.01 && !raceEnabled {
		t.Errorf("%.5f allocations per ACK, want about 0", allocs)
	}
}
