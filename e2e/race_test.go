//go:build race

package e2e

// raceEnabled builds the agent under test with the race detector too when the tests run
// with -race (scripts/test.sh does): real HAProxy traffic then checks the server for races.
const raceEnabled = true
