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
	rest, name, err := ReadName(it.rest)
	if err != nil {
		it.err = err
		return false
	}
	if len(rest) == 0 {
		it.err = errorf(StatusInvalidFrame, it.rest, "message %q has no NB-ARGS byte", name)
		return false
	}
	nargs := int(rest[0])
	args := rest[1:]
	rest = args
	for i := 0; i < nargs; i++ {
		if len(rest) == 0 {
			it.err = errorf(StatusInvalidFrame, it.rest, "message %q announces %d arguments, holds %d", name, nargs, i)
			return false
		}
		if rest, _, err = ReadName(rest); err == nil {
			rest, _, err = ReadValue(rest)
		}
		if err != nil {
			it.err = err
			return false
		}
	}
	it.msg = Message{Name: name, NumArgs: nargs, args: args[:len(args)-len(rest)]}
	it.rest = rest
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
	rest, name, err := ReadName(it.rest)
	if err != nil {
		it.left = 0
		return false
	}
	rest, val, err := ReadValue(rest)
	if err != nil {
		it.left = 0
		return false
	}
	it.rest, it.name, it.val = rest, name, val
	it.left--
	return true
}

func (it *ArgIterator) Name() []byte { return it.name }
func (it *ArgIterator) Value() Value { return it.val }
