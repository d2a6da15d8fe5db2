// Package live holds the live set: deny and allow entries added and removed at run time (by
// the admin API, or a follower of a shared store), each with an optional expiry, kept in
// front of the file snapshot without ever rebuilding it.
//
// The pieces, in the order a change flows through them:
//   - Entry is one address, prefix or range with its action, list, expiry and comment; its
//     address is parsed by blocklist.ParseEntry, the rules of list files.
//   - Set.Apply takes a batch of Changes. Concurrent batches are coalesced: one Store write
//     (durable before Apply returns) and one new Table per round.
//   - Table's lookup structures are immutable and published with one atomic pointer store;
//     Lookup answers from them without allocating. A new Table shares with the one before it
//     every shard of its exact sets that the round did not touch and their filter, whose bits
//     a round only sets, and the entries by key (for listings and explanations) are one map
//     that the round changes in place, so a round's cost follows the size of the change, not
//     of the live set.
//   - An expired entry is removed by the Set's own timer, from a queue ordered by expiry, so
//     it stops matching without any traffic or API call.
//   - After a round, what has become mostly spare room (the index's slots and map, the expiry
//     queue, an exact set's shards) is compacted, so the set's memory follows its entries
//     down as well as up (compact.go).
package live
