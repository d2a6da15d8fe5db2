package testutil

import "testing"

// Batch is a named test input: the frames of one read, as HAProxy sends them.
type Batch struct {
	Name string
	In   []byte
}

// WantNoAllocs requires answer to allocate nothing on any of batches once warm (the first
// run of testing.AllocsPerRun warms it): the zero-allocation requirement of the NOTIFY→ACK
// path. answer appends its reply to out, which has room for it, and says why a batch was
// not answered as it should be.
func WantNoAllocs(t *testing.T, batches []Batch, answer func(in, out []byte) error) {
	t.Helper()
	for _, b := range batches {
		out := make([]byte, 0, 4096)
		allocs := testing.AllocsPerRun(1000, func() {
			if err := answer(b.In, out[:0]); err != nil {
				t.Fatalf("%s: %v", b.Name, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per batch, want 0", b.Name, allocs)
		}
	}
}
