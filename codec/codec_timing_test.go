package codec_test

import (
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// Benchmarks of the agent's hot path. Run with
//
//	go test -run=^$ -bench=. -benchmem -count=5 ./codec/
//
// Target (PERFORMANCE.md, the codec row): reading the one-IPv4 NOTIFY plus encoding its ACK
// under 50 ns, 0 allocs.

var sink int

// The benchmarks read frames the way the server's read loop does: ReadFrameInto a Frame kept
// across frames, then the iterators. (clientIP, used by the allocation tests, returns a Value
// by value; copying it through the stack would be measured instead of the codec.)

// blockedClient iterates a NOTIFY payload to its IPv4 argument, and stands for the lookup: the
// client is "blocked" when the address ends in 2, as in vector 07.
func blockedClient(payload []byte) bool {
	msgs := codec.NewMessageIterator(payload)
	for msgs.Next() {
		args := msgs.Args()
		for args.Next() {
			if args.Type() == codec.TypeIPv4 {
				return args.Bytes()[3] == 2
			}
		}
	}
	return false
}

// BenchmarkReadNotifyOneIPv4 reads vector 06 and iterates its message and argument.
func BenchmarkReadNotifyOneIPv4(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(oneIPv4Notify)))
	var f codec.Frame
	for b.Loop() {
		n, err := codec.ReadFrameInto(&f, oneIPv4Notify, codec.DefaultMaxFrameSize)
		if err != nil || n == 0 {
			b.Fatal(err)
		}
		if blockedClient(f.Payload) {
			sink++
		}
	}
}

// BenchmarkReadNotifyTwelveArgs reads vector 11 (two messages, twelve arguments of every type
// HAProxy sends) and visits every argument.
func BenchmarkReadNotifyTwelveArgs(b *testing.B) {
	src := testutil.Capture(b, "haproxy-2.6.12", "11_notify-12args-2messages.hex")
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var f codec.Frame
	for b.Loop() {
		n, err := codec.ReadFrameInto(&f, src, codec.DefaultMaxFrameSize)
		if err != nil || n != len(src) {
			b.Fatal(err)
		}
		nargs := 0
		msgs := codec.NewMessageIterator(f.Payload)
		for msgs.Next() {
			args := msgs.Args()
			for args.Next() {
				sink += int(args.Value().Type)
				nargs++
			}
		}
		if msgs.Err() != nil || nargs != 13 {
			b.Fatal(nargs, msgs.Err())
		}
	}
}

// BenchmarkEncodeAckTwoSetVars encodes the agent's verdict (blocked BOOL, list STRING) into a
// reused buffer.
func BenchmarkEncodeAckTwoSetVars(b *testing.B) {
	out := make([]byte, 0, 256)
	list := []byte("spamhaus-drop")
	f := codec.Frame{StreamID: 2294, FrameID: 1}
	b.ReportAllocs()
	for b.Loop() {
		out = appendVerdict(out[:0], &f, true, list)
	}
	b.SetBytes(int64(len(out)))
}

// verdictActions returns the two verdicts' LIST-OF-ACTIONS, encoded once, as the agent
// does per snapshot: allowed (blocked=false) and blocked by list.
func verdictActions(list []byte) (allowed, blocked []byte) {
	allowed = codec.AppendSetVar(nil, codec.ScopeTxn, "blocked", codec.BoolValue(false))
	blocked = codec.AppendSetVar(nil, codec.ScopeTxn, "blocked", codec.BoolValue(true))
	blocked = codec.AppendSetVar(blocked, codec.ScopeTxn, "list", codec.StringValue(list))
	return allowed, blocked
}

// BenchmarkEncodeAckPrebuilt encodes the same ACK as BenchmarkEncodeAckTwoSetVars from its
// pre-encoded actions, the agent's way.
func BenchmarkEncodeAckPrebuilt(b *testing.B) {
	out := make([]byte, 0, 256)
	_, blocked := verdictActions([]byte("spamhaus-drop"))
	f := codec.Frame{StreamID: 2294, FrameID: 1}
	b.ReportAllocs()
	for b.Loop() {
		out = appendAck(out[:0], &f, blocked)
	}
	b.SetBytes(int64(len(out)))
}

// BenchmarkNotifyToAck is the whole per-request codec cost, the way the agent pays it: read
// the one-IPv4 NOTIFY into the connection's Frame, find the address, append the ACK from the
// verdict's pre-encoded actions.
func BenchmarkNotifyToAck(b *testing.B) {
	out := make([]byte, 0, 256)
	allowed, blocked := verdictActions([]byte("spamhaus-drop"))
	var f codec.Frame
	b.ReportAllocs()
	for b.Loop() {
		n, err := codec.ReadFrameInto(&f, oneIPv4Notify, codec.DefaultMaxFrameSize)
		if err != nil || n == 0 {
			b.Fatal(err)
		}
		actions := allowed
		if blockedClient(f.Payload) {
			actions = blocked
		}
		out = appendAck(out[:0], &f, actions)
	}
}

// BenchmarkParseHello parses HAProxy 2.6's HELLO (vector 01), once per connection.
func BenchmarkParseHello(b *testing.B) {
	f := readOne(b, testutil.Capture(b, "haproxy-2.6.12", "01_haproxy-hello.hex"))
	b.ReportAllocs()
	for b.Loop() {
		h, err := codec.ParseHello(f.Payload)
		if err != nil || h.MaxFrameSize != 16380 {
			b.Fatal(err)
		}
	}
}
