//go:build race

package server

// raceEnabled: the race detector makes sync.Pool drop items on purpose, so pooled buffers
// allocate and allocation rates are not meaningful.
const raceEnabled = true
