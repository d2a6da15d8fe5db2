// Package prefetch asks the CPU for cache lines ahead of their use.
//
// A lookup in a table larger than the cache waits for a miss at each of its dependent loads.
// When many lookups are due together (the addresses of a read's NOTIFYs), asking for all
// their first lines, then all their second ones, overlaps the misses. On amd64, Lines asks
// with a prefetch instruction, which retires at once; a plain load holds its place in the
// reorder buffer until its line arrives, so that a batch's misses fill the buffer and queue
// behind one another. Elsewhere it reads a byte of each line, which still overlaps the misses
// of a batch, if fewer of them (and under the race detector, nothing: load).
package prefetch
