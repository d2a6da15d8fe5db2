// Package live holds the live set: deny and allow entries added and removed at run time (by
// the admin API, or a follower of a shared store), each with an optional expiry, kept in
// front of the file snapshot without ever rebuilding it.
//
// The pieces, in the order a change flows through them:
//   - Entry is one address, prefix or range with its action, list, expiry and comment; its
//     address is parsed by blocklist.ParseEntry, the rules of list files.
//   - Set.Apply takes a batch of Changes. Concurrent batches are coalesced: one Store write
//     (durable before Apply returns) and one new Table per round.
//   - A Table is published with one atomic pointer store, and Lookup answers from it without
//     allocating or locking. The tables edited from one build share their exact sets' array
//     of shards and their filter: a round copies only the shards it touches, and once the
//     store has its changes puts each copy in the array with one atomic store and sets its
//     new keys' filter bits, just before it publishes its table. The entries by key (for
//     listings and explanations) are one map that the round changes in place. So a round's
//     cost follows the size of the change, not of the live set, and a Table is not a
//     snapshot: a table published before a round sees the round's changes of single
//     addresses as their shards are stored, one by one, but never its prefixes and ranges,
//     nor, once a round has given the set a new filter, the addresses added from then on. A
//     lookup on it may thus answer as neither the set before a round nor the set after; the
//     table a round publishes holds the whole round.
//   - An expired entry is removed by the Set's own timer, from a queue ordered by expiry, so
//     it stops matching without any traffic or API call.
package live
