// Package blocklist turns blocklist feed files into an immutable Snapshot that answers "is this
// address listed, and by which lists?" without allocating, and replaces that snapshot atomically
// when a file changes (Manager).
//
// The pieces, in the order data flows through them:
//   - ParseFile streams one file (any supported Format, optionally gzip-compressed) into a Parsed
//     set of address ranges, counting and reporting the lines it skips and refusing files that
//     fail their completeness marker. ParseAddr is the package's one address text parser, for
//     feed lines and for addresses sent as text (X-Forwarded-For, through ParseLastAddr).
//   - Build merges the parsed lists into a Snapshot: per address family, sorted disjoint ranges
//     carrying a bitmask of the lists covering them, plus an exact-address hash set for single
//     IPv6 addresses (optionally behind a bloom filter).
//   - Manager owns the sources, polls them for changes and publishes new snapshots with one
//     atomic pointer store; a source that fails to load keeps its previous contents.
//
// A file per concept, each using only the files above it in this list, with two exceptions:
// table4.go reads PrefetchMinBytes from prefetch.go, and remote.go, manager.go and file.go use
// each other (a URL source is loaded as the file of its last download).
//
//	ranges.go    addresses as numbers (uint32, uint128), inclusive ranges, merging
//	addr.go      address, prefix and range text: ParseAddr, ParseLastAddr, list entries
//	entry.go     Entry, a list entry for other sources of entries (the live set)
//	formats.go   Format, the feed layouts, and their detection
//	name.go      which list names are valid
//	source.go    Kind and Source, the description of one list
//	parse.go     Parsed, and the per-format line grammar with its completeness checks
//	overlap.go   which prefixes of a set a Parsed list touches (for reports)
//	mmdb.go      lists of countries or ASNs from a MaxMind database
//	file.go      reading: Parse (a reader, gzip), ParseFile (a file), LoadError
//	index.go     the per-/16 index layout shared by both families, mask interning
//	table4.go    the IPv4 range table
//	table6.go    the IPv6 range table and its second-level blocks
//	exact.go     exact-address hash sets and their bloom filter
//	snapshot.go  Snapshot, Lookup and Result
//	prefetch.go  Snapshot.Prefetch, overlapping a batch's cache misses
//	build.go     Build: lists into a Snapshot
//	memory.go    how loads use the runtime's memory
//	manager.go   Manager: sources, loads, publishing and status
//	remote.go    sources downloaded by URL
//	reload.go    Reload (SIGHUP) and Run (polling)
package blocklist
