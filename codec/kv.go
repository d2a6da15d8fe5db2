package codec

import "bytes"

// KVIterator walks a KV-LIST (the payload of HELLO and DISCONNECT frames): name/typed-value
// pairs until the end of the payload, with no count. Keys and values alias the payload.
//
//	it := codec.NewKVIterator(f.Payload)
//	for it.Next() { use(it.Key(), it.Value()) }
//	if err := it.Err(); err != nil { ... }
type KVIterator struct {
	rest []byte
	key  []byte
	val  Value
	err  error
}

// NewKVIterator returns an iterator over the KV-LIST in payload.
func NewKVIterator(payload []byte) KVIterator { return KVIterator{rest: payload} }

// Next advances to the next pair; it returns false at the end of the list or on an error.
func (it *KVIterator) Next() bool {
	if it.err != nil || len(it.rest) == 0 {
		return false
	}
	rest, key, err := ReadName(it.rest)
	if err != nil {
		it.err = err
		return false
	}
	rest, val, err := ReadValue(rest)
	if err != nil {
		it.err = err
		return false
	}
	it.rest, it.key, it.val = rest, key, val
	return true
}

func (it *KVIterator) Key() []byte  { return it.key }
func (it *KVIterator) Value() Value { return it.val }
func (it *KVIterator) Err() error   { return it.err }

// Hello is a decoded HAPROXY-HELLO (docs/PROTOCOL.md#hello). Byte slices alias the frame payload.
type Hello struct {
	SupportedVersions []byte // e.g. "2.0"; a comma-separated list
	MaxFrameSize      uint32 // 0 when the key is absent
	Capabilities      []byte // e.g. "pipelining,async"; may be empty
	EngineID          []byte // absent in health checks
	Healthcheck       bool   // set only by `option spop-check` probes
}

// ParseHello decodes the KV-LIST of a HAPROXY-HELLO. Keys may come in any order and unknown
// keys are skipped, as HAProxy does. A key with a value of an unexpected type is an error.
func ParseHello(payload []byte) (h Hello, err error) {
	it := NewKVIterator(payload)
	for it.Next() {
		k, v := it.Key(), it.Value()
		switch string(k) { // the compiler does not allocate for a switch on string(bytes)
		case "supported-versions":
			if v.Type != TypeString {
				return h, errorf(StatusInvalidFrame, k, "supported-versions is %s, want STRING", v.Type)
			}
			h.SupportedVersions = v.Bytes
		case "max-frame-size":
			if !v.Type.IsInt() {
				return h, errorf(StatusInvalidFrame, k, "max-frame-size is %s, want an integer", v.Type)
			}
			switch signed := v.Type == TypeInt32 || v.Type == TypeInt64; {
			case signed && v.Int() < 0: // not a size at all: read as absent, not as 4 GB
				h.MaxFrameSize = 0
			case v.Uint > 1<<32-1:
				h.MaxFrameSize = 1<<32 - 1
			default:
				h.MaxFrameSize = uint32(v.Uint)
			}
		case "capabilities":
			if v.Type != TypeString {
				return h, errorf(StatusInvalidFrame, k, "capabilities is %s, want STRING", v.Type)
			}
			h.Capabilities = v.Bytes
		case "engine-id":
			if v.Type == TypeString {
				h.EngineID = v.Bytes
			}
		case "healthcheck":
			h.Healthcheck = v.Type == TypeBool && v.Bool
		}
	}
	return h, it.Err()
}

// SupportsVersion reports whether version (e.g. "2.0") is in the HELLO's supported-versions.
func (h *Hello) SupportsVersion(version string) bool {
	return listContains(h.SupportedVersions, version)
}

// HasCapability reports whether the comma-separated capability list holds name. Spaces
// around items are ignored, as HAProxy does.
func HasCapability(list []byte, name string) bool { return listContains(list, name) }

var comma = []byte{','}

func listContains(list []byte, item string) bool {
	for len(list) > 0 {
		var field []byte
		field, list, _ = bytes.Cut(list, comma)
		if string(bytes.TrimSpace(field)) == item {
			return true
		}
	}
	return false
}

// Disconnect is a decoded HAPROXY-DISCONNECT or AGENT-DISCONNECT.
type Disconnect struct {
	Status  Status
	Message []byte
}

// ParseDisconnect decodes the KV-LIST of a DISCONNECT frame. A missing status-code reads as
// StatusUnknown.
func ParseDisconnect(payload []byte) (d Disconnect, err error) {
	d.Status = StatusUnknown
	it := NewKVIterator(payload)
	for it.Next() {
		k, v := it.Key(), it.Value()
		switch string(k) {
		case "status-code":
			if v.Type.IsInt() && v.Uint <= 1<<32-1 {
				d.Status = Status(v.Uint)
			}
		case "message":
			if v.Type == TypeString {
				d.Message = v.Bytes
			}
		}
	}
	return d, it.Err()
}
