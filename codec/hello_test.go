package codec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

func kv(key string, v codec.Value) []byte { return codec.AppendValue(codec.AppendName(nil, key), v) }

func TestParseHelloReadsEveryCapturedHello(t *testing.T) {
	tests := []struct {
		dir, file    string
		caps         string
		healthcheck  bool
		hasEngineID  bool
		pipelining   bool
		maxFrameSize uint32
	}{
		{"haproxy-2.6.12", "01_haproxy-hello.hex", "pipelining,async", false, true, true, 16380},
		{"haproxy-2.6.12", "02_haproxy-hello-healthcheck.hex", "", true, false, false, 16380},
		{"haproxy-2.6.12", "03_haproxy-hello-no-pipelining-no-async.hex", "", false, true, false, 16380},
		{"haproxy-3.4.0", "01_haproxy-hello.hex", "pipelining", false, true, true, 16380},
		{"haproxy-3.4.0", "02_haproxy-hello-healthcheck.hex", "", true, false, false, 16380},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.file, func(t *testing.T) {
			f := readOne(t, testutil.Capture(t, tt.dir, tt.file))
			h, err := codec.ParseHello(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !h.SupportsVersion("2.0") || h.SupportsVersion("2") || h.SupportsVersion("1.0") {
				t.Errorf("supported-versions %q: want 2.0 only", h.SupportedVersions)
			}
			if string(h.Capabilities) != tt.caps || codec.HasCapability(h.Capabilities, "pipelining") != tt.pipelining {
				t.Errorf("capabilities %q, want %q", h.Capabilities, tt.caps)
			}
			if h.Healthcheck != tt.healthcheck || (h.EngineID != nil) != tt.hasEngineID || h.MaxFrameSize != tt.maxFrameSize {
				t.Errorf("got %+v", h)
			}
		})
	}
}

func TestParseHelloAcceptsAnyKeyOrderAndSkipsUnknownKeys(t *testing.T) {
	payload := slices.Concat(
		kv("x-future", codec.BinaryValue([]byte{1, 2, 3})),
		kv("capabilities", codec.StringValue([]byte(" async , pipelining "))),
		kv("healthcheck", codec.Value{Type: codec.TypeBool}),
		kv("max-frame-size", codec.Int64Value(300)),
		kv("supported-versions", codec.StringValue([]byte("1.0, 2.0"))),
	)
	h, err := codec.ParseHello(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !h.SupportsVersion("2.0") || !codec.HasCapability(h.Capabilities, "pipelining") || codec.HasCapability(h.Capabilities, "fragmentation") {
		t.Errorf("versions %q capabilities %q", h.SupportedVersions, h.Capabilities)
	}
	if h.MaxFrameSize != 300 || h.Healthcheck {
		t.Errorf("got %+v", h)
	}
}

func TestParseHelloMaxFrameSize(t *testing.T) {
	tests := []struct {
		name string
		v    codec.Value
		want uint32
	}{
		{"UINT32 as HAProxy sends it", codec.Uint32Value(16380), 16380},
		{"any integer type", codec.Int32Value(256), 256},
		{"beyond 32 bits is clamped", codec.Uint64Value(1 << 40), 1<<32 - 1},
		{"negative reads as absent, not as 4 GB", codec.Int64Value(-1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := codec.ParseHello(kv("max-frame-size", tt.v))
			if err != nil || h.MaxFrameSize != tt.want {
				t.Errorf("max-frame-size %d, %v; want %d", h.MaxFrameSize, err, tt.want)
			}
		})
	}
	if h, err := codec.ParseHello(nil); err != nil || h.MaxFrameSize != 0 {
		t.Errorf("absent max-frame-size: %d, %v; want 0", h.MaxFrameSize, err)
	}
}

func TestParseDisconnectReadsCapturedDisconnects(t *testing.T) {
	tests := []struct {
		file    string
		status  codec.Status
		message string
	}{
		{"19_haproxy-disconnect-normal.hex", codec.StatusNormal, "normal"},
		{"20_haproxy-disconnect-idle-timeout.hex", codec.StatusTimeout, "a timeout occurred"},
		{"21_haproxy-disconnect-unsupported-version.hex", codec.StatusUnsupportedVersion, "unsupported version"},
		{"22_haproxy-disconnect-bad-frame-size.hex", codec.StatusBadMaxFrameSize, "max-frame-size too big or too small"},
		{"23_haproxy-disconnect-frag-not-supported.hex", codec.StatusFragmentationUnsupported, "fragmentation not supported"},
		{"24_haproxy-disconnect-after-ack-without-fin.hex", codec.StatusFragmentationUnsupported, "fragmentation not supported"},
		{"25_agent-disconnect.hex", codec.StatusNormal, "bye"},
	}
	for _, tt := range tests {
		f := readOne(t, testutil.Capture(t, "haproxy-2.6.12", tt.file))
		d, err := codec.ParseDisconnect(f.Payload)
		if err != nil || d.Status != tt.status || string(d.Message) != tt.message {
			t.Errorf("%s: %d %q, %v; want %d %q", tt.file, d.Status, d.Message, err, tt.status, tt.message)
		}
	}
	if d, err := codec.ParseDisconnect(nil); err != nil || d.Status != codec.StatusUnknown {
		t.Errorf("no status-code: %d, %v; want StatusUnknown", d.Status, err)
	}
}

func TestAgentDisconnectMessage(t *testing.T) {
	tests := []struct {
		name, message, want string
	}{
		{"an empty message is the status's own text", "", "invalid frame received"},
		{"a message is kept", "bye", "bye"},
		{"a message is cut to the 255 bytes HAProxy 2.6 accepts", strings.Repeat("x", 300), strings.Repeat("x", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readOne(t, codec.AppendAgentDisconnect(nil, codec.StatusInvalidFrame, tt.message))
			d, err := codec.ParseDisconnect(f.Payload)
			if err != nil || f.Type != codec.FrameAgentDisconnect || !f.Fin() || d.Status != codec.StatusInvalidFrame || string(d.Message) != tt.want {
				t.Errorf("%s fin=%v status %d message %q, %v", f.Type, f.Fin(), d.Status, d.Message, err)
			}
		})
	}
}

func TestEveryAgentFrameCarriesFinAndZeroIDsWhereRequired(t *testing.T) {
	ack, start := codec.BeginAck(nil, 0, 1) // stream-id 0 is valid on 2.6
	ack = codec.AppendUnsetVar(ack, codec.ScopeTxn, "blocked")
	frames := map[string][]byte{
		"AGENT-HELLO":      codec.AppendAgentHello(nil, codec.AgentHello{Version: "2.0", MaxFrameSize: 16380}),
		"AGENT-DISCONNECT": codec.AppendAgentDisconnect(nil, codec.StatusNormal, ""),
		"ACK":              codec.FinishFrame(ack, start),
	}
	for name, b := range frames {
		f := readOne(t, b)
		if f.Type.String() != name || f.Flags != codec.FlagFin {
			t.Errorf("%s: type %s flags %s, want FIN", name, f.Type, f.Flags)
		}
		if string(b[9:11]) != "\x00\x00" && name != "ACK" {
			t.Errorf("%s: ids % x, want the literal bytes 00 00", name, b[9:11])
		}
	}
}

func TestEmptyNotifyHasNoMessagesAndNoError(t *testing.T) {
	// HAProxy 3.1-3.3 could send a NOTIFY with an empty payload: it must be ACKed, not refused.
	f := readOne(t, h("00 00 00 07 03 00 00 00 01 01 01"))
	msgs := codec.NewMessageIterator(f.Payload)
	if msgs.Next() || msgs.Err() != nil {
		t.Errorf("empty NOTIFY: a message or an error (%v)", msgs.Err())
	}
}

func TestScopeNames(t *testing.T) {
	for _, name := range []string{"proc", "sess", "txn", "req", "res"} {
		s, ok := codec.ParseScope(name)
		if !ok || s.String() != name {
			t.Errorf("ParseScope(%q) = %v, %v", name, s, ok)
		}
	}
	if _, ok := codec.ParseScope("global"); ok {
		t.Error(`ParseScope("global") succeeded`)
	}
}
