package server

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
)

// A stream of frames of every kind, read in chunks of any size with what a read leaves kept
// for the next, as the connection buffer does, is consumed, answered and closed by a session
// whose handler prefetches exactly as by one whose handler does not; and after each read the
// prefetching session keeps nothing of the pass, no frame (a view of the connection buffer)
// and no count.
func TestPrefetchingSessionAnswersChunkedStreamsAsAPlainOne(t *testing.T) {
	hello := v26(t, "01_")
	passes := 0
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 7))
		stream := randomStream(rng, hello)
		var log []string
		cfg := testSessionConfig()
		cfg.handler = prefetchHandler{on: true, log: &log}
		a, b := newSession(cfg), newSession(testSessionConfig())
		var bufA, bufB, outA, outB []byte
		closedA, closedB := false, false
		for rest := stream; len(rest) > 0 && !closedA && !closedB; {
			c := min(len(rest), 1+rng.IntN([]int{40, 400, 8000}[rng.IntN(3)]))
			bufA, bufB = append(bufA, rest[:c]...), append(bufB, rest[:c]...)
			rest = rest[c:]
			var n, m int
			n, outA, closedA = a.handle(bufA, outA)
			m, outB, closedB = b.handle(bufB, outB)
			if n != m {
				t.Fatalf("seed %d: consumed %d, without prefetching %d", seed, n, m)
			}
			bufA, bufB = append([]byte(nil), bufA[n:]...), append([]byte(nil), bufB[m:]...)
			if a.pfNext != 0 || a.pfRead != 0 || a.prefetched != 0 || a.pfErr != nil {
				t.Fatalf("seed %d: after a read, the pass is left: next %d, read %d, prefetched %d, %v", seed, a.pfNext, a.pfRead, a.prefetched, a.pfErr)
			}
			if a.pfFrames != nil && !reflect.DeepEqual(*a.pfFrames, [MaxPrefetch]readFrame{}) {
				t.Fatalf("seed %d: after a read, frames of the pass are kept", seed)
			}
			if !reflect.DeepEqual(a.msgs, codec.MessageIterator{}) {
				t.Fatalf("seed %d: after a read, the message iterator is kept", seed)
			}
		}
		if closedA != closedB || !bytes.Equal(outA, outB) {
			t.Fatalf("seed %d: closed %v, %d bytes out; without prefetching: %v, %d bytes", seed, closedA, len(outA), closedB, len(outB))
		}
		for _, l := range log {
			if l == "done" {
				passes++
			}
		}
	}
	if passes < 100 {
		t.Fatalf("%d prefetch passes: the streams do not exercise the pass", passes)
	}
}

// randomStream returns up to 150 frames: mostly whole NOTIFYs, and fragmented and aborted
// ones, NOTIFYs whose messages do not decode, HAPROXY-DISCONNECTs, HELLOs after the
// handshake, stray UNSETs and frames of no known type; after a HELLO, mostly.
func randomStream(rng *rand.Rand, hello []byte) []byte {
	var stream []byte
	if rng.IntN(4) != 0 {
		stream = append(stream, hello...)
	}
	sid := uint64(1)
	for range 1 + rng.IntN(150) {
		ip := [4]byte{192, 0, 2, byte(rng.IntN(256))}
		msg := codec.AppendArg(codec.AppendMessage(nil, "check-client-ip", 1), "ip", codec.IPv4Value(&ip))
		switch k := rng.IntN(40); {
		case k < 30:
			stream = append(stream, codec.AppendNotify(nil, sid, 1, msg)...)
		case k < 32: // in two or three pieces, the last maybe an abort
			p := rng.IntN(len(msg))
			stream = append(stream, frameWith(codec.FrameNotify, 0, sid, 1, msg[:p])...)
			if rng.IntN(2) == 0 {
				stream = append(stream, frameWith(codec.FrameUnset, codec.FlagFin, sid, 1, msg[p:])...)
			} else {
				stream = append(stream, frameWith(codec.FrameUnset, 0, sid, 1, msg[p:])...)
				stream = append(stream, frameWith(codec.FrameUnset, codec.FlagFin|codec.Flags(rng.IntN(2))*codec.FlagAbort, sid, 1, nil)...)
			}
		case k < 33:
			stream = append(stream, frameWith(codec.FrameNotify, codec.FlagFin|codec.FlagAbort, sid, 1, msg)...)
		case k < 34:
			stream = append(stream, codec.AppendNotify(nil, sid, 1, append(msg, 0xff, 0xff))...)
		case k < 35:
			stream = append(stream, codec.AppendHAProxyDisconnect(nil, codec.StatusNormal, "bye")...)
		case k < 36:
			stream = append(stream, 0, 0, 0, 7, 50, 0, 0, 0, 1, 0, 0)
		case k < 37:
			stream = append(stream, frameWith(codec.FrameUnset, codec.FlagFin, sid, 1, msg)...)
		case k < 38:
			stream = append(stream, hello...)
		default: // two messages
			stream = append(stream, codec.AppendNotify(nil, sid, 1, append(msg, msg...))...)
		}
		sid += 2
	}
	return stream
}
