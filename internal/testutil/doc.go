// Package testutil holds what the module's tests and benchmarks share, a file each: the
// captured SPOP frames (capture.go), an SPOP test client and frame decoder (spop.go), a
// buffer a child process or server can log into while a test reads it (buffer.go), files
// written and read or failing the test (files.go), a bounded wait for a condition
// (wait.go), a listener that serves each connection (accept.go), a redis-server for the
// fleet tests (redis.go), the zero-allocation check of the NOTIFY→ACK path (alloc.go), and
// CPU timers for benchmarks on a shared machine (cpu.go). Only tests import it.
package testutil
