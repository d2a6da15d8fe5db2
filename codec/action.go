package codec

// Action is one decoded action of an ACK's LIST-OF-ACTIONS. The load generator and tests
// decode what an agent sent with it; the agent itself only encodes actions.
type Action struct {
	Type  uint8 // ActionSetVar or ActionUnsetVar
	Scope Scope
	Name  []byte
	Value Value // NULL for unset-var
}

// ActionIterator walks the actions of an ACK payload in place.
type ActionIterator struct {
	rest []byte
	act  Action
	err  error
}

// NewActionIterator returns an iterator over the LIST-OF-ACTIONS in payload.
func NewActionIterator(payload []byte) ActionIterator { return ActionIterator{rest: payload} }

// Next advances to the next action. An unknown action type, a wrong NB-ARGS or a scope above
// res is an error: HAProxy silently stops applying the list there, so an agent must never
// send one.
func (it *ActionIterator) Next() bool {
	if it.err != nil || len(it.rest) == 0 {
		return false
	}
	src := it.rest
	if len(src) < 3 {
		it.err = errorf(StatusInvalidFrame, src, "truncated action header")
		return false
	}
	a := Action{Type: src[0], Scope: Scope(src[2])}
	switch {
	case a.Type == ActionSetVar && src[1] == 3, a.Type == ActionUnsetVar && src[1] == 2:
	default:
		it.err = errorf(StatusInvalidFrame, src, "unknown action type %d with %d arguments", src[0], src[1])
		return false
	}
	if a.Scope > ScopeRes {
		it.err = errorf(StatusInvalidFrame, src, "invalid variable scope %d", src[2])
		return false
	}
	rest, name, err := ReadName(src[3:])
	if err != nil {
		it.err = err
		return false
	}
	a.Name = name
	if a.Type == ActionSetVar {
		if rest, a.Value, err = ReadValue(rest); err != nil {
			it.err = err
			return false
		}
	}
	it.rest, it.act = rest, a
	return true
}

func (it *ActionIterator) Action() Action { return it.act }
func (it *ActionIterator) Err() error     { return it.err }
