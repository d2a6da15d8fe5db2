package decision

import (
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// FuzzHandler answers arbitrary NOTIFY payloads: whatever the messages hold, the handler
// must not panic and must answer every NOTIFY whose messages decode with blocked set.
func FuzzHandler(f *testing.F) {
	for _, seed := range [][]byte{v26(f, "06_"), v26(f, "07_"), v26(f, "11_"), v34(f, "05_"),
		notifyWith(1, "check-client-ip", "ip", str("10.1.1.1, 198.51.100.7")),
		notifyWith(1, "check-request", "ip", codec.Value{Type: codec.TypeNull}, "src", ip6("2001:db8::1"))} {
		var fr codec.Frame
		if _, err := codec.ReadFrameInto(&fr, seed, 1<<24); err != nil {
			f.Fatal(err)
		}
		f.Add(fr.Payload)
	}
	h, _ := testHandler(f, nil)
	d := newDriver(h.NewConn())
	f.Fuzz(func(t *testing.T, payload []byte) {
		frame := codec.AppendNotify(nil, 1, 1, payload)
		var ends []int
		out, err := d.respond(frame, nil, &ends)
		if err != nil {
			return // the server ends the connection; the handler is not asked to answer
		}
		acks := answer(t, d, frame)
		if len(acks) != 1 || len(ends) != 1 || ends[0] != len(out) {
			t.Fatalf("%d ACKs for one NOTIFY", len(acks))
		}
		acks[0].blocked(t)
	})
}
