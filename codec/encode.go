package codec

// Scope is the variable scope of a set-var or unset-var action, sent as one raw byte (not
// typed data). HAProxy names the variable "<scope>.<var-prefix>.<name>".
type Scope uint8

const (
	ScopeProc Scope = 0
	ScopeSess Scope = 1
	ScopeTxn  Scope = 2
	ScopeReq  Scope = 3
	ScopeRes  Scope = 4
)

var scopeNames = [...]string{"proc", "sess", "txn", "req", "res"}

func (s Scope) String() string {
	if int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return "invalid"
}

// ParseScope maps "proc", "sess", "txn", "req" or "res" to its Scope.
func ParseScope(name string) (Scope, bool) {
	for i, n := range scopeNames {
		if n == name {
			return Scope(i), true
		}
	}
	return 0, false
}

// Action types of an ACK's LIST-OF-ACTIONS and their fixed NB-ARGS.
const (
	ActionSetVar   = 1
	ActionUnsetVar = 2
)

// AppendSetVar appends a set-var action: 01 03 scope name typed-value. A NULL value makes
// HAProxy unset the variable.
func AppendSetVar(dst []byte, scope Scope, name string, v Value) []byte {
	dst = append(dst, ActionSetVar, 3, byte(scope))
	return AppendValue(AppendName(dst, name), v)
}

// BeginAck starts an ACK for the NOTIFY with the given ids (copied verbatim: they are opaque,
// 0 is a valid 2.6 stream-id and 3.1+ skips ids). Append the LIST-OF-ACTIONS (with
// AppendSetVar, or a verdict's actions encoded once and copied), then call FinishFrame. Always
// append at least one action: early 3.1.x stalls on an empty ACK.
//
// This is the agent's per-NOTIFY encoder, so one-byte ids, the common case, take a path that
// appends the whole header at once instead of a byte and two varints.
func BeginAck(dst []byte, streamID, frameID uint64) ([]byte, int) {
	if streamID >= 240 || frameID >= 240 {
		return BeginFrame(dst, FrameAck, FlagFin, streamID, frameID)
	}
	start := len(dst)
	// The length (back-filled by FinishFrame), the type, the big-endian FIN flags, the ids.
	return append(dst, 0, 0, 0, 0, byte(FrameAck), 0, 0, 0, byte(FlagFin), byte(streamID), byte(frameID)), start
}

// AgentHello is what the agent answers to a HAPROXY-HELLO.
type AgentHello struct {
	Version      string // "2.0"
	MaxFrameSize uint32 // 256 <= v <= HAProxy's max-frame-size
	Capabilities string // e.g. "pipelining,fragmentation"; may be empty
}

// AppendAgentHello appends a whole AGENT-HELLO frame (ids 0/0, FIN), with the keys in the
// order HAProxy was observed to accept: version, max-frame-size (UINT32), capabilities.
func AppendAgentHello(dst []byte, h AgentHello) []byte {
	dst, start := BeginFrame(dst, FrameAgentHello, FlagFin, 0, 0)
	dst = appendStringKV(dst, "version", h.Version)
	dst = AppendValue(AppendName(dst, "max-frame-size"), Uint32Value(h.MaxFrameSize))
	dst = appendStringKV(dst, "capabilities", h.Capabilities)
	return FinishFrame(dst, start)
}

// MaxDisconnectMessage is the longest message HAProxy 2.6 accepts in a DISCONNECT.
const MaxDisconnectMessage = 255

// AppendAgentDisconnect appends a whole AGENT-DISCONNECT frame (ids 0/0, FIN) with the status
// code as UINT32 and message, cut to MaxDisconnectMessage bytes. An empty message is replaced
// by the status's own text.
func AppendAgentDisconnect(dst []byte, status Status, message string) []byte {
	if message == "" {
		message = status.String()
	}
	if len(message) > MaxDisconnectMessage {
		message = message[:MaxDisconnectMessage]
	}
	dst, start := BeginFrame(dst, FrameAgentDisconnect, FlagFin, 0, 0)
	dst = AppendValue(AppendName(dst, "status-code"), Uint32Value(uint32(status)))
	dst = appendStringKV(dst, "message", message)
	return FinishFrame(dst, start)
}

// appendStringKV appends a KV whose value is a STRING, without converting the string to a
// []byte (which would allocate).
func appendStringKV(dst []byte, key, val string) []byte {
	dst = append(AppendName(dst, key), byte(TypeString))
	return append(AppendVarint(dst, uint64(len(val))), val...)
}

// AppendHAProxyHello appends a HAPROXY-HELLO frame, as HAProxy sends it. It is what a load
// generator or a test client needs to play HAProxy's side.
func AppendHAProxyHello(dst []byte, h Hello) []byte {
	dst, start := BeginFrame(dst, FrameHAProxyHello, FlagFin, 0, 0)
	dst = AppendValue(AppendName(dst, "supported-versions"), StringValue(h.SupportedVersions))
	dst = AppendValue(AppendName(dst, "max-frame-size"), Uint32Value(h.MaxFrameSize))
	dst = AppendValue(AppendName(dst, "capabilities"), StringValue(h.Capabilities))
	if h.EngineID != nil {
		dst = AppendValue(AppendName(dst, "engine-id"), StringValue(h.EngineID))
	}
	if h.Healthcheck {
		dst = AppendValue(AppendName(dst, "healthcheck"), BoolValue(true))
	}
	return FinishFrame(dst, start)
}

// AppendHAProxyDisconnect appends a HAPROXY-DISCONNECT frame, as HAProxy sends it.
func AppendHAProxyDisconnect(dst []byte, status Status, message string) []byte {
	dst, start := BeginFrame(dst, FrameHAProxyDisconnect, FlagFin, 0, 0)
	dst = AppendValue(AppendName(dst, "status-code"), Uint32Value(uint32(status)))
	dst = appendStringKV(dst, "message", message)
	return FinishFrame(dst, start)
}

// AppendNotify appends a whole NOTIFY frame (FIN) with the given ids, whose LIST-OF-MESSAGES is
// messages, encoded with AppendMessage and AppendArg. It is what a load generator or a test
// client needs to play HAProxy's side; a fragmented NOTIFY is built with BeginFrame instead.
func AppendNotify(dst []byte, streamID, frameID uint64, messages []byte) []byte {
	dst, start := BeginFrame(dst, FrameNotify, FlagFin, streamID, frameID)
	return FinishFrame(append(dst, messages...), start)
}

// AppendMessage appends a message header of a NOTIFY payload: its name and NB-ARGS. The
// caller then appends exactly nargs arguments with AppendArg.
func AppendMessage(dst []byte, name string, nargs uint8) []byte {
	return append(AppendName(dst, name), nargs)
}

// AppendArg appends one NOTIFY argument: its name (may be empty) and typed value.
func AppendArg(dst []byte, name string, v Value) []byte {
	return AppendValue(AppendName(dst, name), v)
}
