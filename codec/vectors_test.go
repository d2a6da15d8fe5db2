package codec_test

// Tests against the frames captured from real HAProxy 2.6.12 and 3.4.0 (testdata/spop). Each
// folder's index.json is the oracle: every frame must decode to exactly its fields, and every
// agent frame HAProxy accepted must come out of our encoders byte for byte.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var captureDirs = []string{testutil.HAProxy26, testutil.HAProxy34}

// The shape of testdata/spop/*/index.json.
type vectorIndex struct {
	Vectors []vectorEntry `json:"vectors"`
}

type vectorEntry struct {
	File      string         `json:"file"`
	Direction string         `json:"direction"`
	What      string         `json:"what"`
	Decoded   *decodedVector `json:"decoded"`
}

type decodedVector struct {
	LengthPrefix       int           `json:"length_prefix"`
	FrameType          int           `json:"frame_type"`
	FrameTypeName      string        `json:"frame_type_name"`
	Flags              string        `json:"flags"`
	Fin                bool          `json:"fin"`
	Abort              bool          `json:"abort"`
	StreamID           uint64        `json:"stream_id"`
	FrameID            uint64        `json:"frame_id"`
	HeaderBytes        int           `json:"header_bytes"`
	PayloadBytes       int           `json:"payload_bytes"`
	KV                 []kvJSON      `json:"kv"`
	Messages           []messageJSON `json:"messages"`
	Actions            []actionJSON  `json:"actions"`
	FragmentPayloadHex *string       `json:"fragment_payload_hex"`
}

type kvJSON struct {
	Key   string    `json:"key"`
	Value valueJSON `json:"value"`
}

type messageJSON struct {
	Name   string    `json:"name"`
	NbArgs int       `json:"nb_args"`
	Args   []argJSON `json:"args"`
}

type argJSON struct {
	Name  string    `json:"name"`
	Value valueJSON `json:"value"`
}

type actionJSON struct {
	Action string    `json:"action"`
	NbArgs int       `json:"nb_args"`
	Scope  int       `json:"scope"`
	Name   string    `json:"name"`
	Value  valueJSON `json:"value"`
}

// valueJSON is one typed value as index.json writes it: the type's name, the raw type byte
// (which carries a BOOL's value in its flags nibble), and the value (value_hex for BINARY).
type valueJSON struct {
	Type     string          `json:"type"`
	TypeByte string          `json:"type_byte"`
	Value    json.RawMessage `json:"value"`
	ValueHex string          `json:"value_hex"`
}

func loadIndex(t testing.TB, dir string) []vectorEntry {
	t.Helper()
	var idx vectorIndex
	readSPOPJSON(t, filepath.Join(dir, "index.json"), &idx)
	if len(idx.Vectors) == 0 {
		t.Fatalf("%s/index.json lists no vectors", dir)
	}
	return idx.Vectors
}

// readFrame is ReadFrameInto into a fresh Frame, for tests that keep the frames they read.
func readFrame(src []byte, maxFrameSize uint32) (codec.Frame, int, error) {
	var f codec.Frame
	n, err := codec.ReadFrameInto(&f, src, maxFrameSize)
	return f, n, err
}

// readOne decodes src as exactly one whole frame.
func readOne(t testing.TB, src []byte) codec.Frame {
	t.Helper()
	f, n, err := readFrame(src, codec.DefaultMaxFrameSize)
	if err != nil {
		t.Fatalf("ReadFrameInto: %v", err)
	}
	if n != len(src) {
		t.Fatalf("ReadFrameInto used %d of %d bytes", n, len(src))
	}
	return f
}

func TestCapturedFramesDecodeToTheirIndexFields(t *testing.T) {
	for _, dir := range captureDirs {
		for _, v := range loadIndex(t, dir) {
			if v.Decoded == nil {
				continue // the 15-NOTIFY TCP segment: TestStreamSegment...
			}
			t.Run(dir+"/"+v.File, func(t *testing.T) {
				src := testutil.Capture(t, dir, v.File)
				f := readOne(t, src)
				checkFrame(t, f, v.Decoded)
			})
		}
	}
}

func checkFrame(t *testing.T, f codec.Frame, want *decodedVector) {
	t.Helper()
	length := want.HeaderBytes + len(f.Payload)
	if length != want.LengthPrefix {
		t.Errorf("header %d + payload %d bytes = %d, want length prefix %d", want.HeaderBytes, len(f.Payload), length, want.LengthPrefix)
	}
	if int(f.Type) != want.FrameType || f.Type.String() != want.FrameTypeName {
		t.Errorf("type %d %s, want %d %s", f.Type, f.Type, want.FrameType, want.FrameTypeName)
	}
	if got := fmt.Sprintf("0x%08x", uint32(f.Flags)); got != want.Flags {
		t.Errorf("flags %s, want %s", got, want.Flags)
	}
	if f.Fin() != want.Fin || f.Abort() != want.Abort {
		t.Errorf("fin=%v abort=%v, want fin=%v abort=%v", f.Fin(), f.Abort(), want.Fin, want.Abort)
	}
	if f.StreamID != want.StreamID || f.FrameID != want.FrameID {
		t.Errorf("ids %d/%d, want %d/%d", f.StreamID, f.FrameID, want.StreamID, want.FrameID)
	}
	if len(f.Payload) != want.PayloadBytes {
		t.Errorf("payload %d bytes, want %d", len(f.Payload), want.PayloadBytes)
	}
	switch {
	case want.FragmentPayloadHex != nil:
		if got := hex.EncodeToString(f.Payload); got != *want.FragmentPayloadHex {
			t.Errorf("fragment payload\n got %s\nwant %s", got, *want.FragmentPayloadHex)
		}
	case want.KV != nil:
		checkKV(t, f.Payload, want.KV)
	case want.Messages != nil:
		checkMessages(t, f.Payload, want.Messages)
	case want.Actions != nil:
		checkActions(t, f.Payload, want.Actions)
	default:
		t.Fatalf("index entry has no kv, messages, actions or fragment payload")
	}
}

func checkKV(t *testing.T, payload []byte, want []kvJSON) {
	t.Helper()
	it := codec.NewKVIterator(payload)
	checkEach(t, "KVs", it.Next, it.Err, it.Key, want, func(i int, w kvJSON) {
		if string(it.Key()) != w.Key {
			t.Errorf("KV %d key %q, want %q", i, it.Key(), w.Key)
		}
		checkValue(t, "KV "+w.Key, it.Value(), w.Value)
	})
}

func checkMessages(t *testing.T, payload []byte, want []messageJSON) {
	t.Helper()
	msgs := codec.NewMessageIterator(payload)
	checkEach(t, "messages", msgs.Next, msgs.Err, msgs.Name, want, func(i int, w messageJSON) {
		if string(msgs.Name()) != w.Name || msgs.NumArgs() != w.NbArgs {
			t.Errorf("message %d is %q with %d args, want %q with %d", i, msgs.Name(), msgs.NumArgs(), w.Name, w.NbArgs)
		}
		args := msgs.Args() // argument iteration cannot fail: Next validated the message
		checkEach(t, fmt.Sprintf("message %q arguments", w.Name), args.Next, nil, args.Name, w.Args, func(j int, a argJSON) {
			if string(args.Name()) != a.Name {
				t.Errorf("message %q arg %d name %q, want %q", w.Name, j, args.Name(), a.Name)
			}
			checkValue(t, fmt.Sprintf("%s arg %d %q", w.Name, j, a.Name), args.Value(), a.Value)
		})
	})
}

// checkEach walks an iterator (next, and err unless it cannot fail) against want: check
// compares the current item with want[i], name names an item past the end of want, and the
// counts must match. what names the items in failures.
func checkEach[W any](t *testing.T, what string, next func() bool, err func() error, name func() []byte, want []W, check func(i int, w W)) {
	t.Helper()
	i := 0
	for ; next(); i++ {
		if i >= len(want) {
			t.Errorf("%s: extra %q", what, name())
			continue
		}
		check(i, want[i])
	}
	if err != nil {
		if err := err(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if i != len(want) {
		t.Errorf("%s: %d, want %d", what, i, len(want))
	}
}

var actionNames = map[string]uint8{"set-var": codec.ActionSetVar, "unset-var": codec.ActionUnsetVar}

func checkActions(t *testing.T, payload []byte, want []actionJSON) {
	t.Helper()
	it := codec.NewActionIterator(payload)
	name := func() []byte { return it.Action().Name }
	checkEach(t, "actions", it.Next, it.Err, name, want, func(i int, w actionJSON) {
		a := it.Action()
		if a.Type != actionNames[w.Action] || int(a.Scope) != w.Scope || string(a.Name) != w.Name {
			t.Errorf("action %d: type %d scope %s name %q, want %s scope %d name %q", i, a.Type, a.Scope, a.Name, w.Action, w.Scope, w.Name)
		}
		if a.Type == codec.ActionSetVar {
			checkValue(t, "set-var "+w.Name, a.Value, w.Value)
		}
	})
}

// checkValue compares a decoded value with its index.json form. The type byte is checked by
// re-encoding the value: that is the byte HAProxy saw, flags nibble included.
func checkValue(t *testing.T, where string, got codec.Value, want valueJSON) {
	t.Helper()
	if strings.ToLower(got.Type.String()) != want.Type {
		t.Errorf("%s: type %s, want %s", where, got.Type, want.Type)
		return
	}
	if tb := fmt.Sprintf("0x%02x", codec.AppendValue(nil, got)[0]); tb != want.TypeByte {
		t.Errorf("%s: type byte %s, want %s", where, tb, want.TypeByte)
	}
	if wantValue := valueFromJSON(t, want); !sameValue(got, wantValue) {
		t.Errorf("%s: value %v, want %v", where, got, wantValue)
	}
}

func sameValue(a, b codec.Value) bool {
	return a.Type == b.Type && a.Bool == b.Bool && a.Uint == b.Uint && bytes.Equal(a.Bytes, b.Bytes)
}

// valueFromJSON builds the Value an index.json value stands for.
func valueFromJSON(t testing.TB, j valueJSON) codec.Value {
	t.Helper()
	switch j.Type {
	case "null":
		return codec.NullValue()
	case "bool":
		return codec.BoolValue(jsonAs[bool](t, j.Value))
	case "int32":
		return codec.Int32Value(jsonAs[int32](t, j.Value))
	case "int64":
		return codec.Int64Value(jsonAs[int64](t, j.Value))
	case "uint32":
		return codec.Uint32Value(jsonAs[uint32](t, j.Value))
	case "uint64":
		return codec.Uint64Value(jsonAs[uint64](t, j.Value))
	case "ipv4", "ipv6":
		a := netip.MustParseAddr(jsonAs[string](t, j.Value))
		if a.Is4() {
			b := a.As4()
			return codec.IPv4Value(&b)
		}
		b := a.As16()
		return codec.IPv6Value(&b)
	case "string":
		return codec.StringValue([]byte(jsonAs[string](t, j.Value)))
	case "binary":
		b, err := hex.DecodeString(j.ValueHex)
		if err != nil {
			t.Fatal(err)
		}
		return codec.BinaryValue(b)
	}
	t.Fatalf("index.json value type %q is unknown", j.Type)
	return codec.Value{}
}

// jsonAs decodes an index.json value as a T; an integer is read exactly, and one outside
// T's range fails the test.
func jsonAs[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	decodeJSON(t, "index.json value "+string(raw), raw, &v)
	return v
}

// readSPOPJSON decodes testdata/spop/<name> into v, as decodeJSON does.
func readSPOPJSON(t testing.TB, name string, v any) {
	t.Helper()
	decodeJSON(t, name, []byte(testutil.ReadFile(t, filepath.Join(testutil.SPOPDir(), name))), v)
}

// decodeJSON decodes raw into v with numbers kept as json.Number, so that 64-bit integers
// stay exact; what names raw in the failure.
func decodeJSON(t testing.TB, what string, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestAcceptedAgentFramesAreReproducedByTheEncoders rebuilds every agent->haproxy frame that
// HAProxy accepted (not NEG_) with the encoder the agent itself uses for that frame type, from
// the fields in index.json, and wants the captured bytes exactly.
func TestAcceptedAgentFramesAreReproducedByTheEncoders(t *testing.T) {
	n := 0
	for _, dir := range captureDirs {
		for _, v := range loadIndex(t, dir) {
			if v.Direction != "agent->haproxy" || strings.Contains(v.File, "_NEG_") {
				continue
			}
			n++
			t.Run(dir+"/"+v.File, func(t *testing.T) {
				want := testutil.Capture(t, dir, v.File)
				got := encodeAgentFrame(t, v.Decoded)
				if !bytes.Equal(got, want) {
					t.Errorf("encoded\n got %x\nwant %x", got, want)
				}
			})
		}
	}
	if n < 10 {
		t.Fatalf("only %d accepted agent frames found in the captures", n)
	}
}

func encodeAgentFrame(t *testing.T, d *decodedVector) []byte {
	t.Helper()
	dst := []byte("keep") // encoders append: what is already in dst must stay
	switch codec.FrameType(d.FrameType) {
	case codec.FrameAgentHello:
		wantKeys(t, d.KV, "version/string", "max-frame-size/uint32", "capabilities/string")
		h := codec.AgentHello{
			Version:      string(valueFromJSON(t, d.KV[0].Value).Bytes),
			MaxFrameSize: uint32(valueFromJSON(t, d.KV[1].Value).Uint),
			Capabilities: string(valueFromJSON(t, d.KV[2].Value).Bytes),
		}
		dst = codec.AppendAgentHello(dst, h)
	case codec.FrameAgentDisconnect:
		wantKeys(t, d.KV, "status-code/uint32", "message/string")
		status := codec.Status(valueFromJSON(t, d.KV[0].Value).Uint)
		dst = codec.AppendAgentDisconnect(dst, status, string(valueFromJSON(t, d.KV[1].Value).Bytes))
	case codec.FrameAck:
		var start int
		if d.Flags == "0x00000001" {
			dst, start = codec.BeginAck(dst, d.StreamID, d.FrameID)
		} else { // 18_ack-abort-flag: FIN|ABORT
			var flags codec.Flags
			fmt.Sscanf(d.Flags, "0x%x", &flags)
			dst, start = codec.BeginFrame(dst, codec.FrameAck, flags, d.StreamID, d.FrameID)
		}
		for _, a := range d.Actions {
			switch a.Action {
			case "set-var":
				dst = codec.AppendSetVar(dst, codec.Scope(a.Scope), a.Name, valueFromJSON(t, a.Value))
			case "unset-var":
				dst = codec.AppendUnsetVar(dst, codec.Scope(a.Scope), a.Name)
			default:
				t.Fatalf("action %q", a.Action)
			}
		}
		dst = codec.FinishFrame(dst, start)
	default:
		t.Fatalf("no agent encoder for frame type %d", d.FrameType)
	}
	if string(dst[:4]) != "keep" {
		t.Fatalf("encoder overwrote the start of dst: %q", dst[:4])
	}
	return dst[4:]
}

// wantKeys checks that a KV list has exactly the given "key/type" pairs, in order: the fixed
// layout our encoders write.
func wantKeys(t *testing.T, kv []kvJSON, want ...string) {
	t.Helper()
	var got []string
	for _, e := range kv {
		got = append(got, e.Key+"/"+e.Value.Type)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("KV layout %v, our encoder writes %v", got, want)
	}
}

// TestCapturedFramesAreReproducedByTheGenericEncoders rebuilds every single-frame capture,
// from either side (HAProxy's HELLO, NOTIFY and DISCONNECT too, which the load generator
// plays), with BeginFrame and the name/value appenders.
func TestCapturedFramesAreReproducedByTheGenericEncoders(t *testing.T) {
	for _, dir := range captureDirs {
		for _, v := range loadIndex(t, dir) {
			if v.Decoded == nil {
				continue
			}
			t.Run(dir+"/"+v.File, func(t *testing.T) {
				d := v.Decoded
				var flags codec.Flags
				fmt.Sscanf(d.Flags, "0x%x", &flags)
				dst, start := codec.BeginFrame(nil, codec.FrameType(d.FrameType), flags, d.StreamID, d.FrameID)
				switch {
				case d.FragmentPayloadHex != nil:
					b, _ := hex.DecodeString(*d.FragmentPayloadHex)
					dst = append(dst, b...)
				case d.KV != nil:
					for _, kv := range d.KV {
						dst = codec.AppendValue(codec.AppendName(dst, kv.Key), valueFromJSON(t, kv.Value))
					}
				case d.Messages != nil:
					for _, m := range d.Messages {
						dst = codec.AppendMessage(dst, m.Name, uint8(m.NbArgs))
						for _, a := range m.Args {
							dst = codec.AppendArg(dst, a.Name, valueFromJSON(t, a.Value))
						}
					}
				case d.Actions != nil:
					for _, a := range d.Actions {
						if a.Action == "set-var" {
							dst = codec.AppendSetVar(dst, codec.Scope(a.Scope), a.Name, valueFromJSON(t, a.Value))
						} else {
							dst = codec.AppendUnsetVar(dst, codec.Scope(a.Scope), a.Name)
						}
					}
				}
				dst = codec.FinishFrame(dst, start)
				if want := testutil.Capture(t, dir, v.File); !bytes.Equal(dst, want) {
					t.Errorf("encoded\n got %x\nwant %x", dst, want)
				}
			})
		}
	}
}

// TestHAProxySideEncodersReproduceItsHellosAndDisconnects covers the encoders a load generator
// uses to play HAProxy.
func TestHAProxySideEncodersReproduceItsHellosAndDisconnects(t *testing.T) {
	for _, dir := range captureDirs {
		for _, v := range loadIndex(t, dir) {
			if v.Decoded == nil || v.Direction != "haproxy->agent" {
				continue
			}
			var got []byte
			want := testutil.Capture(t, dir, v.File)
			f := readOne(t, want)
			switch f.Type {
			case codec.FrameHAProxyHello:
				h, err := codec.ParseHello(f.Payload)
				if err != nil {
					t.Fatalf("%s: %v", v.File, err)
				}
				got = codec.AppendHAProxyHello(nil, h)
			case codec.FrameHAProxyDisconnect:
				d, err := codec.ParseDisconnect(f.Payload)
				if err != nil {
					t.Fatalf("%s: %v", v.File, err)
				}
				got = codec.AppendHAProxyDisconnect(nil, d.Status, string(d.Message))
			default:
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s: encoded\n got %x\nwant %x", dir, v.File, got, want)
			}
		}
	}
}

const streamSegment = "29_STREAM_15-notifies-in-one-tcp-segment.hex"

// readAll splits a buffer holding whole frames back to back, as the server's read loop does.
func readAll(t testing.TB, src []byte) []codec.Frame {
	t.Helper()
	var frames []codec.Frame
	for len(src) > 0 {
		f, n, err := readFrame(src, codec.DefaultMaxFrameSize)
		if err != nil {
			t.Fatalf("frame %d: %v", len(frames)+1, err)
		}
		if n == 0 {
			t.Fatalf("%d bytes left after %d frames are not a whole frame", len(src), len(frames))
		}
		frames = append(frames, f)
		src = src[n:]
	}
	return frames
}

func TestStreamSegmentYieldsExactlyFifteenNotifies(t *testing.T) {
	seg := testutil.Capture(t, "haproxy-2.6.12", streamSegment)
	frames := readAll(t, seg)
	if len(frames) != 15 {
		t.Fatalf("%d frames, want 15", len(frames))
	}
	for i, f := range frames {
		if f.Type != codec.FrameNotify || !f.Fin() || f.Abort() {
			t.Errorf("frame %d: %s flags %s, want a NOTIFY with FIN", i+1, f.Type, f.Flags)
		}
		msgs := codec.NewMessageIterator(f.Payload)
		var nmsg int
		for msgs.Next() {
			nmsg++
			args := msgs.Args()
			for args.Next() {
				if _, ok := args.Value().Addr(); !ok && args.Value().Type != codec.TypeNull {
					t.Errorf("frame %d: argument %q is %v, want an address", i+1, args.Name(), args.Value())
				}
			}
		}
		if msgs.Err() != nil || nmsg == 0 {
			t.Errorf("frame %d: %d messages, err %v", i+1, nmsg, msgs.Err())
		}
	}
}

// TestStreamSegmentFedOneByteAtATimeYieldsTheSameFrames plays the worst case of TCP
// segmentation: the buffer grows by one byte per read, and ReadFrame must answer "need more"
// (n == 0, no error) until a frame is whole, then return it.
func TestStreamSegmentFedOneByteAtATimeYieldsTheSameFrames(t *testing.T) {
	seg := testutil.Capture(t, "haproxy-2.6.12", streamSegment)
	want := readAll(t, seg)

	var got []codec.Frame
	var buf []byte
	for i := range seg {
		buf = append(buf, seg[i])
		f, n, err := readFrame(buf, codec.DefaultMaxFrameSize)
		if err != nil {
			t.Fatalf("after byte %d: %v", i, err)
		}
		if n == 0 {
			continue
		}
		if n != len(buf) {
			t.Fatalf("after byte %d: frame of %d bytes returned from a buffer of %d, which should have been returned earlier", i, n, len(buf))
		}
		f.Payload = bytes.Clone(f.Payload) // buf is reset below
		got = append(got, f)
		buf = buf[:0]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Flags != w.Flags || g.StreamID != w.StreamID || g.FrameID != w.FrameID || !bytes.Equal(g.Payload, w.Payload) {
			t.Errorf("frame %d: %+v, want %+v", i+1, g, w)
		}
	}
}

// TestFragmentsReassembleIntoTheMessages concatenates the payloads of the four fragments of
// one NOTIFY (2.6 with `fragmentation` announced) and decodes the result. index.json gives
// each fragment's payload but not the reassembled messages; they are spelled out here from
// the capture's description (the 12-argument check-request of vector 11, with a 600-byte
// User-Agent that crosses fragment boundaries).
func TestFragmentsReassembleIntoTheMessages(t *testing.T) {
	const dir = "haproxy-2.6.12"
	files := []string{"14a_notify-fragment-1-of-4.hex", "14b_notify-fragment-2-of-4.hex", "14c_notify-fragment-3-of-4.hex", "14d_notify-fragment-4-of-4.hex"}
	var payload []byte
	for i, file := range files {
		f := readOne(t, testutil.Capture(t, dir, file))
		wantType, wantFin := codec.FrameUnset, i == len(files)-1
		if i == 0 {
			wantType = codec.FrameNotify
		}
		if f.Type != wantType || f.Fin() != wantFin || f.StreamID != 4 || f.FrameID != 1 {
			t.Errorf("%s: %s fin=%v ids %d/%d, want %s fin=%v ids 4/1", file, f.Type, f.Fin(), f.StreamID, f.FrameID, wantType, wantFin)
		}
		payload = append(payload, f.Payload...)
	}
	if len(payload) != 742 {
		t.Fatalf("reassembled payload is %d bytes, want 742", len(payload))
	}
	ip := func(s string) valueJSON { return valueJSON{Type: ipType(s), Value: json.RawMessage(`"` + s + `"`)} }
	str := func(s string) valueJSON { return valueJSON{Type: "string", Value: json.RawMessage(`"` + s + `"`)} }
	i64 := func(i int64) valueJSON { return valueJSON{Type: "int64", Value: json.RawMessage(fmt.Sprint(i))} }
	want := []messageJSON{
		{Name: "check-request", NbArgs: 12, Args: []argJSON{
			{"ip", ip("127.0.0.5")},
			{"port", i64(50978)},
			{"path", str("/big")},
			{"method", str("GET")},
			{"ua", str(strings.Repeat("U", 600))},
			{"xff", ip("127.0.0.2")},
			{"missing", valueJSON{Type: "null"}},
			{"ssl", valueJSON{Type: "bool", Value: json.RawMessage("false")}},
			{"neg", i64(-1)},
			{"big", i64(1000000)},
			{"body", valueJSON{Type: "binary"}},
			{"", ip("127.0.0.5")},
		}},
		{Name: "second-msg", NbArgs: 1, Args: []argJSON{{"dst", ip("127.0.0.1")}}},
	}
	for i := range want {
		for j := range want[i].Args {
			v := &want[i].Args[j].Value
			v.TypeByte = fmt.Sprintf("0x%02x", codec.AppendValue(nil, valueFromJSON(t, *v))[0])
		}
	}
	checkMessages(t, payload, want)
}

func ipType(s string) string {
	if netip.MustParseAddr(s).Is4() {
		return "ipv4"
	}
	return "ipv6"
}
