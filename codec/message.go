package codec

// A NOTIFY payload is a LIST-OF-MESSAGES (docs/PROTOCOL.md#messages):
//
//	MESSAGE := name NB-ARGS(1 raw byte) NB-ARGS × (name typed-value)
//
// repeated until the end of the payload. Argument names may be empty (unnamed `args`).

// MessageIterator walks the messages of a NOTIFY payload in place, and is itself the current
// message: Name, NumArgs and Args read it. It is the agent's per-NOTIFY path: the server keeps
// one iterator per connection (one on the stack would escape through the decision handler's
// interface and allocate) and hands it to the handler, which reads the arguments it wants with
// ArgIterator's Type, Bytes, Uint and Bool.
//
//	msgs := codec.NewMessageIterator(f.Payload)
//	for msgs.Next() {
//		args := msgs.Args()
//		for args.Next() { use(msgs.Name(), args.Name(), args.Type(), args.Bytes()) }
//	}
//	if err := msgs.Err(); err != nil { ... }
//
// Next validates a whole message (every argument decodes, NB-ARGS matches what is there)
// before returning it, so argument iteration cannot fail and a malformed message is reported
// before any of it is acted on.
//
// The accessors read the iterator's fields in place. A message struct returned by value would
// be spilled to the stack a field at a time and reloaded with 16-byte loads, which stall on
// store forwarding.
type MessageIterator struct {
	rest  []byte
	name  []byte
	nargs int
	args  []byte // the current message's encoded arguments, already validated by Next
	err   error
}

// NewMessageIterator returns an iterator over the LIST-OF-MESSAGES in payload.
func NewMessageIterator(payload []byte) MessageIterator { return MessageIterator{rest: payload} }

// Next advances to the next message; it returns false at the end or on an error.
func (it *MessageIterator) Next() bool {
	if it.err != nil || len(it.rest) == 0 {
		return false
	}
	src := it.rest
	nameStart, nameEnd, ok := byteLenPrefixed(src, 0)
	if !ok {
		nameStart, nameEnd = lenPrefixed(src, 0)
	}
	if uint(nameEnd) >= uint(len(src)) { // malformed name (-1) or no NB-ARGS byte
		it.err = messageError(src)
		return false
	}
	nargs := int(src[nameEnd])
	argsStart := nameEnd + 1
	p := argsStart
	for i := 0; i < nargs && p >= 0; i++ {
		_, valueAt, ok := byteLenPrefixed(src, p)
		if !ok {
			_, valueAt = lenPrefixed(src, p)
		}
		if n := addrLen(src, valueAt); n != 0 {
			p = valueAt + 1 + n // the client address, inline
		} else {
			_, _, _, _, p = valueParts(src, valueAt) // -1 when valueAt is
		}
	}
	if p < 0 {
		it.err = messageError(src)
		return false
	}
	it.name, it.nargs, it.args = src[nameStart:nameEnd:nameEnd], nargs, src[argsStart:p:p]
	it.rest = src[p:]
	return true
}

// messageError explains why the message at the start of src does not decode: the cold path,
// kept out of Next so that the per-message loop stays small.
func messageError(src []byte) error {
	tail, name, err := ReadName(src)
	if err != nil {
		return err
	}
	if len(tail) == 0 {
		return errorf(StatusInvalidFrame, src, "message %q has no NB-ARGS byte", name)
	}
	nargs := int(tail[0])
	tail = tail[1:]
	for i := 0; i < nargs; i++ {
		if len(tail) == 0 {
			return errorf(StatusInvalidFrame, src, "message %q announces %d arguments, holds %d", name, nargs, i)
		}
		if tail, _, err = ReadName(tail); err != nil {
			return err
		}
		if tail, _, err = ReadValue(tail); err != nil {
			return err
		}
	}
	return errorf(StatusInvalidFrame, src, "message %q does not decode", name) // not reached
}

// Name returns the current message's name, valid until the payload's buffer is reused.
func (it *MessageIterator) Name() []byte { return it.name }

// NumArgs returns the current message's NB-ARGS.
func (it *MessageIterator) NumArgs() int { return it.nargs }

// Args returns an iterator over the current message's arguments. It stays usable after
// further calls to Next.
func (it *MessageIterator) Args() ArgIterator { return ArgIterator{rest: it.args, left: it.nargs} }

// Err returns the error that stopped Next, or nil at the end of the payload.
func (it *MessageIterator) Err() error { return it.err }

// ArgIterator walks the arguments of one message.
//
// Value returns the current argument as a Value; Type, Bytes, Uint and Bool return its parts
// without building one, which is what the per-request path uses.
type ArgIterator struct {
	rest []byte
	left int
	name []byte
	// The current value, field by field rather than as a Value, for the reason given at
	// MessageIterator.
	vtype  DataType
	vbool  bool
	vuint  uint64
	vbytes []byte
}

// Next advances to the next argument.
func (it *ArgIterator) Next() bool {
	if it.left == 0 {
		return false
	}
	// The bytes were validated by MessageIterator.Next, so these reads cannot fail; an
	// ArgIterator of a zero MessageIterator simply has nothing to read.
	src := it.rest
	nameStart, nameEnd, ok := byteLenPrefixed(src, 0)
	if !ok {
		nameStart, nameEnd = lenPrefixed(src, 0)
	}
	if nameEnd < 0 {
		it.left = 0
		return false
	}
	var (
		t    DataType
		b    bool
		u    uint64
		bs   []byte
		next int
	)
	if n := addrLen(src, nameEnd); n != 0 {
		// The client address, the argument the agent is after: inline.
		t, bs, next = DataType(src[nameEnd]), src[nameEnd+1:nameEnd+1+n:nameEnd+1+n], nameEnd+1+n
	} else {
		t, b, u, bs, next = valueParts(src, nameEnd)
	}
	if next < 0 {
		it.left = 0
		return false
	}
	it.rest, it.name = src[next:], src[nameStart:nameEnd:nameEnd]
	it.vtype, it.vbool, it.vuint, it.vbytes = t, b, u, bs
	it.left--
	return true
}

// Name returns the current argument's name (empty for unnamed arguments).
func (it *ArgIterator) Name() []byte { return it.name }

// Value returns the current argument's typed value.
func (it *ArgIterator) Value() Value {
	return Value{Type: it.vtype, Bool: it.vbool, Uint: it.vuint, Bytes: it.vbytes}
}

// Type returns the current argument's data type.
func (it *ArgIterator) Type() DataType { return it.vtype }

// Bytes returns the contents of the current STRING or BINARY argument, or the 4 or 16 bytes
// of an IPV4 or IPV6 one; nil for the other types.
func (it *ArgIterator) Bytes() []byte { return it.vbytes }

// Uint returns the current integer argument's 64-bit pattern, as Value.Uint.
func (it *ArgIterator) Uint() uint64 { return it.vuint }

// Bool returns the current BOOL argument's value.
func (it *ArgIterator) Bool() bool { return it.vbool }
