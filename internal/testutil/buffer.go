package testutil

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that one goroutine (a logger, a child's output) can write while
// another reads it. With Limit > 0 it keeps only the first Limit bytes and drops the rest,
// so a chatty writer cannot grow it without bound.
type Buffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.b.Len() > b.Limit {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
