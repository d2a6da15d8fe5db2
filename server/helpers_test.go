package server

import (
	"bytes"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

var v26, v34 = testutil.V26, testutil.V34

// fakeHandler stands in for a decision handler: the first address argument of any message
// decides, and 127.0.0.2 and 2001:db8::2 are "blocked" by list "test".
type fakeHandler struct{}

func (fakeHandler) NewConn() ConnHandler { return &fakeConn{} }

type fakeConn struct {
	batches, batchOpen int
}

var (
	fakeBlocked4 = []byte{127, 0, 0, 2}
	fakeBlocked6 = []byte{0x20, 0x01, 0x0d, 0xb8, 14: 0, 15: 2}
)

func (f *fakeConn) BeginBatch() { f.batches++; f.batchOpen++ }
func (f *fakeConn) EndBatch()   { f.batchOpen-- }
func (f *fakeConn) Close()      {}

func (f *fakeConn) HandleNotify(msgs *codec.MessageIterator, ack []byte) []byte {
	blocked := false
decide:
	for msgs.Next() {
		args := msgs.Args()
		for args.Next() {
			if t := args.Type(); t == codec.TypeIPv4 || t == codec.TypeIPv6 {
				blocked = bytes.Equal(args.Bytes(), fakeBlocked4) || bytes.Equal(args.Bytes(), fakeBlocked6)
				break decide
			}
		}
	}
	ack = codec.AppendSetVar(ack, codec.ScopeTxn, "blocked", codec.BoolValue(blocked))
	if blocked {
		ack = codec.AppendSetVar(ack, codec.ScopeTxn, "list", codec.StringValue(listTest))
	}
	return ack
}

var listTest = []byte("test")

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
