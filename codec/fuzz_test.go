package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/codec"
	"github.com/spoaguard/spoaguard/internal/testutil"
)

// Fuzz targets, seeded from every captured frame. Their seed corpora (plus any crashers kept
// under testdata/fuzz/) run in every `go test`; run one at a time with
//
//	go test -run='^$' -fuzz=FuzzReadFrame -fuzztime=60s ./codec/

// addCaptures seeds f with every capture: whole frames (and the 15-frame segment) when
// payloads is false, frame payloads when it is true.
func addCaptures(f *testing.F, payloads bool) {
	for _, dir := range captureDirs {
		files, err := filepath.Glob(filepath.Join(testutil.SPOPDir(), dir, "*.hex"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no captures in %s: %v", dir, err)
		}
		for _, file := range files {
			src := testutil.Capture(f, dir, filepath.Base(file))
			if !payloads {
				f.Add(src)
				continue
			}
			for len(src) > 0 {
				fr, n, err := readFrame(src, codec.DefaultMaxFrameSize)
				if err != nil || n == 0 {
					f.Fatalf("%s: %v", file, err)
				}
				f.Add(fr.Payload)
				src = src[n:]
			}
		}
	}
}

// fuzzPayloads runs fn on fuzzed frame payloads, seeded with every captured frame's payload
// and with seeds.
func fuzzPayloads(f *testing.F, seeds [][]byte, fn func(t *testing.T, payload []byte)) {
	addCaptures(f, true)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(fn)
}

// checkError requires err to be nil or a *codec.Error carrying a status HAProxy defines.
func checkError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *codec.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *codec.Error", err, err)
	}
	if e.Status != codec.StatusInvalidFrame && e.Status != codec.StatusFrameTooBig {
		t.Fatalf("error %v has status %d", err, e.Status)
	}
	if len(e.Bytes) > 32 || !strings.HasPrefix(e.Error(), "spop: ") {
		t.Fatalf("error %q keeps %d bytes", e.Error(), len(e.Bytes))
	}
}

// FuzzReadFrame: reading any bytes as a stream never panics; every frame returned lies inside
// the input, re-encodes to the same bytes, and the same stream fed in two pieces yields the
// same frames.
func FuzzReadFrame(f *testing.F) {
	addCaptures(f, false)
	f.Fuzz(func(t *testing.T, src []byte) {
		const max = 1024
		rest := src
		var frames []codec.Frame
		for len(rest) > 0 && len(frames) < 1000 {
			// A frame that is not whole or not valid leaves the caller's Frame alone.
			keep := codec.Frame{Type: codec.FrameAck, StreamID: 7, Payload: src}
			fr := keep
			n, err := codec.ReadFrameInto(&fr, rest, max)
			checkError(t, err)
			if err != nil || n == 0 {
				if fr.Type != keep.Type || fr.StreamID != keep.StreamID || len(fr.Payload) != len(src) {
					t.Fatalf("n=%d err=%v changed the frame to %+v", n, err, fr)
				}
				break
			}
			if n < codec.LengthSize+codec.MinFrameLength || n > len(rest) || n > codec.LengthSize+max {
				t.Fatalf("frame of %d bytes from %d", n, len(rest))
			}
			if !fr.Type.Known() {
				t.Fatalf("unknown type %s returned", fr.Type)
			}
			re, start := codec.BeginFrame(nil, fr.Type, fr.Flags, fr.StreamID, fr.FrameID)
			re = codec.FinishFrame(append(re, fr.Payload...), start)
			// Re-encoding is canonical; the input may use a longer varint for an id (HAProxy's
			// encoding has one form per value up to 2^64, so only an overflowing one differs).
			if !bytes.Equal(re, rest[:n]) {
				if _, _, err := readFrame(re, max); err != nil {
					t.Fatalf("re-encoded frame % x does not read back: %v", re, err)
				}
			}
			frames = append(frames, fr)
			rest = rest[n:]
		}
		// The same bytes split at every tenth position still give the same first frame.
		if len(frames) > 0 {
			for cut := 0; cut < len(src); cut += 10 {
				fr, n, err := readFrame(src[:cut], max)
				if err != nil {
					t.Fatalf("prefix of %d bytes: %v, but the whole input reads", cut, err)
				}
				if n != 0 && (fr.StreamID != frames[0].StreamID || !bytes.Equal(fr.Payload, frames[0].Payload)) {
					t.Fatalf("prefix of %d bytes gives another frame", cut)
				}
			}
		}
	})
}

// FuzzVarint: decoding never panics, and what decodes without overflow re-encodes to the bytes
// it was read from; every value round-trips.
func FuzzVarint(f *testing.F) {
	for _, c := range loadVarintCases(f) {
		f.Add(h(c.Hex))
	}
	f.Add(h("ff f0 fe fe fe fe fe fe fe fe 0e"))
	f.Add(h("f0"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, src []byte) {
		tail, v, err := codec.ReadVarint(src)
		checkError(t, err)
		if err != nil {
			if len(src) > 0 && src[0] < 240 {
				t.Fatalf("% x: a byte below 240 is a whole varint, got %v", src, err)
			}
			return
		}
		used := src[:len(src)-len(tail)]
		if len(used) > codec.MaxVarintLen {
			t.Fatalf("% x: used %d bytes", src, len(used))
		}
		re := codec.AppendVarint(nil, v)
		if _, back, err := codec.ReadVarint(re); err != nil || back != v {
			t.Fatalf("%d re-encoded as % x reads %d, %v", v, re, back, err)
		}
		if len(used) < codec.MaxVarintLen && !bytes.Equal(re, used) {
			t.Fatalf("% x decodes to %d, which encodes as % x", used, v, re)
		}
	})
}

// FuzzMessages: iterating any NOTIFY payload never panics; a payload that iterates without
// error re-encodes to the same bytes, so nothing was skipped or misread.
func FuzzMessages(f *testing.F) {
	fuzzPayloads(f, nil, func(t *testing.T, payload []byte) {
		var re []byte
		msgs := codec.NewMessageIterator(payload)
		for msgs.Next() {
			if msgs.NumArgs() < 0 || msgs.NumArgs() > 255 {
				t.Fatalf("NumArgs %d", msgs.NumArgs())
			}
			re = codec.AppendMessage(re, string(msgs.Name()), uint8(msgs.NumArgs()))
			// Two iterators over the same arguments: one read by Value, one by its parts.
			args, parts := msgs.Args(), msgs.Args()
			n := 0
			for args.Next() {
				n++
				v := args.Value()
				re = codec.AppendArg(re, string(args.Name()), v)
				if !parts.Next() || !bytes.Equal(parts.Name(), args.Name()) || parts.Type() != v.Type ||
					parts.Bool() != v.Bool || parts.Uint() != v.Uint || !bytes.Equal(parts.Bytes(), v.Bytes) ||
					(parts.Bytes() == nil) != (v.Bytes == nil) {
					t.Fatalf("message %q argument %d: %v by Value, %s %v %d % x by parts", msgs.Name(), n, v, parts.Type(), parts.Bool(), parts.Uint(), parts.Bytes())
				}
			}
			if parts.Next() {
				t.Fatalf("message %q: a second Args has more arguments than the first", msgs.Name())
			}
			// Capped views: appending to an argument must not overwrite what follows it.
			for a := msgs.Args(); a.Next(); {
				if b := a.Bytes(); cap(b) != len(b) || cap(a.Name()) != len(a.Name()) {
					t.Fatalf("message %q: argument %q of %s has len %d cap %d", msgs.Name(), a.Name(), a.Type(), len(b), cap(b))
				}
			}
			if n != msgs.NumArgs() {
				t.Fatalf("message %q: iterated %d arguments of %d", msgs.Name(), n, msgs.NumArgs())
			}
		}
		checkError(t, msgs.Err())
		if msgs.Err() == nil {
			checkCanonical(t, payload, re, messagesErr(hexOf(re)))
		}
	})
}

// FuzzKV: iterating any KV list, parsing it as a HELLO or a DISCONNECT and iterating it as an
// action list never panics, and a clean KV list re-encodes to the same bytes.
func FuzzKV(f *testing.F) {
	fuzzPayloads(f, nil, func(t *testing.T, payload []byte) {
		var re []byte
		it := codec.NewKVIterator(payload)
		for it.Next() {
			re = codec.AppendValue(codec.AppendName(re, string(it.Key())), it.Value())
		}
		checkError(t, it.Err())
		if it.Err() == nil {
			checkCanonical(t, payload, re, kvErr(hexOf(re)))
		}
		_, err := codec.ParseHello(payload)
		checkError(t, err)
		_, err = codec.ParseDisconnect(payload)
		checkError(t, err)

		acts := codec.NewActionIterator(payload)
		re = re[:0]
		for acts.Next() {
			a := acts.Action()
			if a.Scope > codec.ScopeRes {
				t.Fatalf("scope %d accepted", a.Scope)
			}
			if a.Type == codec.ActionSetVar {
				re = codec.AppendSetVar(re, a.Scope, string(a.Name), a.Value)
			} else {
				re = codec.AppendUnsetVar(re, a.Scope, string(a.Name))
			}
		}
		checkError(t, acts.Err())
		if acts.Err() == nil {
			checkCanonical(t, payload, re, actionsErr(hexOf(re)))
		}
	})
}

// checkCanonical compares a re-encoding with its input. They may differ only where the input
// was not in the form our encoders write (a BOOL or another type with a flags nibble, an
// overflowing varint); then the re-encoding must itself decode.
func checkCanonical(t *testing.T, in, re []byte, decode func() error) {
	t.Helper()
	if bytes.Equal(in, re) || len(in) == 0 && len(re) == 0 {
		return
	}
	if len(re) > len(in) {
		t.Fatalf("input\n% x\nre-encodes longer as\n% x", in, re)
	}
	if err := decode(); err != nil {
		t.Fatalf("re-encoding % x does not decode: %v", re, err)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// FuzzValue: any typed value decodes without panicking, and what decodes re-encodes into a
// value that decodes to the same thing.
func FuzzValue(f *testing.F) {
	var values [][]byte
	for _, s := range []string{"00", "11", "31", "02 ff f0 fe fe fe fe fe fe fe 0e", "06 7f 00 00 01", "07 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01", "08 03 47 45 54", "09 00", "0a", "05 fc f0 06"} {
		values = append(values, h(s))
	}
	// Payloads hold values at many offsets; the fuzzer slides into them.
	fuzzPayloads(f, values, func(t *testing.T, src []byte) {
		tail, v, err := codec.ReadValue(src)
		checkError(t, err)
		if err != nil {
			return
		}
		if len(tail) > len(src) {
			t.Fatal("tail longer than the input")
		}
		_ = v.String()
		if _, ok := v.Addr(); ok != (v.Type == codec.TypeIPv4 || v.Type == codec.TypeIPv6) {
			t.Fatalf("%v: Addr ok=%v", v, ok)
		}
		re := codec.AppendValue(nil, v)
		rtail, back, err := codec.ReadValue(re)
		if err != nil || len(rtail) != 0 || !sameValue(back, v) {
			t.Fatalf("%v re-encoded as % x reads %v, %v", v, re, back, err)
		}
	})
}

// TestFuzzCorpusIsKept makes sure crashers kept under testdata/fuzz are found by go test.
func TestFuzzCorpusIsKept(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no crashers kept")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "Fuzz") {
			t.Errorf("testdata/fuzz/%s is not a fuzz target's corpus", e.Name())
		}
	}
}
