package codec

// A NOTIFY payload is a LIST-OF-MESSAGES (SPOE.txt section 3.2.6; SPEC.md §4):
//
//	MESSAGE := name NB-ARGS(1 raw byte) NB-ARGS × (name typed-value)
//
// repeated until the end of the payload. Argument names may be empty (unnamed `args`).

// Message is one message of a NOTIFY. Name aliases the payload.
type Message struct {
	Name    []byte
	NumArgs int
	args    []byte // the encoded arguments, already validated by MessageIterator
}

// Args returns an iterator over the message's arguments.
func (m *Message) Args() ArgIterator { return ArgIterator{rest: m.args, left: m.NumArgs} }

// MessageIterator walks the messages of a NOTIFY payload in place.
//
//	msgs := codec.NewMessageIterator(f.Payload)
//	for msgs.Next() {
//		m := msgs.Message()
//		args := m.Args()
//		for args.Next() { use(args.Name(), args.Value()) }
//	}
//	if err := msgs.Err(); err != nil { ... }
//
// Next validates a whole message (every argument decodes, NB-ARGS matches what is there)
// before returning it, so argument iteration cannot fail and a malformed message is reported
// before any of it is acted on.
type MessageIterator struct {
	rest []byte
	msg  Message
	err  error
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
	if nameEnd < 0 {
		_, _, it.err = ReadName(src)
		return false
	}
	name := src[nameStart:nameEnd:nameEnd]
	if nameEnd == len(src) {
		it.err = errorf(StatusInvalidFrame, src, "message %q has no NB-ARGS byte", name)
		return false
	}
	nargs := int(src[nameEnd])
	argsStart := nameEnd + 1
	p := argsStart
	for i := 0; i < nargs; i++ {
		if p == len(src) {
			it.err = errorf(StatusInvalidFrame, src, "message %q announces %d arguments, holds %d", name, nargs, i)
			return false
		}
		_, valueAt, ok := byteLenPrefixed(src, p)
		if !ok {
			_, valueAt = lenPrefixed(src, p)
		}
		if valueAt < 0 {
			_, _, it.err = ReadName(src[p:])
			return false
		}
		if p = skipValue(src, valueAt); p < 0 {
			_, _, it.err = ReadValue(src[valueAt:])
			return false
		}
	}
	// Field by field: building a Message and copying it would go through the stack.
	it.msg.Name, it.msg.NumArgs, it.msg.args = name, nargs, src[argsStart:p:p]
	it.rest = src[p:]
	return true
}

// Message returns the current message. It stays valid after further calls to Next.
func (it *MessageIterator) Message() Message { return it.msg }

func (it *MessageIterator) Err() error { return it.err }

// ArgIterator walks the arguments of one message.
type ArgIterator struct {
	rest []byte
	left int
	name []byte
	val  Value
}

// Next advances to the next argument.
func (it *ArgIterator) Next() bool {
	if it.left == 0 {
		return false
	}
	// The bytes were validated by MessageIterator.Next, so these reads cannot fail; an
	// ArgIterator built from a zero Message simply has nothing to read.
	src := it.rest
	nameStart, nameEnd, ok := byteLenPrefixed(src, 0)
	if !ok {
		nameStart, nameEnd = lenPrefixed(src, 0)
	}
	if nameEnd < 0 {
		it.left = 0
		return false
	}
	val, next := value(src, nameEnd)
	if next < 0 {
		it.left = 0
		return false
	}
	it.rest, it.name = src[next:], src[nameStart:nameEnd:nameEnd]
	it.val.Type, it.val.Bool, it.val.Uint, it.val.Bytes = val.Type, val.Bool, val.Uint, val.Bytes
	it.left--
	return true
}

func (it *ArgIterator) Name() []byte { return it.name }
func (it *ArgIterator) Value() Value { return it.val }
