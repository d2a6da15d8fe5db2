//go:build race

package prefetch

// raceEnabled: the binary is built with the race detector.
const raceEnabled = true
