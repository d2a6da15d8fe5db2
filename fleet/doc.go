// Package fleet keeps the live set of every agent of a fleet in step through one Redis: a ban
// written by any agent (or by any tool that writes the same layout) is enforced by all of them
// within a fraction of a second, and survives any agent restarting.
//
// Only the live set goes through Redis; file feeds stay local to each node. Requests never
// touch Redis: a Follower applies what Redis holds to the agent's in-memory live set (a
// Sink), and the request path reads only that.
//
// # Data layout
//
// Every key starts with the namespace (default "spoaguard"), so several fleets can share one
// Redis. The layout is a stable interface, written only by WriteScript:
//
//	NS:entries  HASH    field: the entry's key (canonical address text), value: Record JSON
//	NS:expiry   ZSET    member: key, score: expiry in Unix milliseconds (expiring entries only)
//	NS:log      STREAM  one entry per batch: epoch, prev (the ID of the batch before), changes
//	                    (a JSON array of Change); trimmed by age with MINID
//	NS:head     STRING  the ID of the last batch in NS:log
//	NS:epoch    STRING  a random token naming this incarnation of the set; a FLUSHALL or a new
//	                    Redis loses it, and the next write makes a new one
//
// # Sync
//
// A Follower starts by reading NS:epoch and NS:head, then the whole of NS:entries (HSCAN),
// swaps that in whole (Sink.Replace), and follows NS:log from head with a blocking XREAD.
// Changes are idempotent puts and deletes applied in log order, so a batch that raced the scan
// is harmless. Each batch names the batch before it: a batch whose prev is not the last one
// applied (the log was trimmed past this agent's position), an epoch that changed (FLUSHALL, a
// replaced Redis), or a head behind the position (a failover lost writes) makes the Follower
// resync in whole. There is never an empty window: the old set serves until the new one is
// swapped in.
//
// # Room
//
// An agent's set may have room for fewer entries than the shared set holds (another agent,
// with a higher -live-max-entries, wrote them). Its sink then applies every removal and every
// change to an entry it holds, and adds the new entries that fit; the Follower remembers the
// keys of those left out (as many as the agent's limit, and at least 10,000; about 100 bytes
// each), in the order they were left out. As removals and the agent's own expiries make room,
// it reads those entries again with HMGET, as many as fit, in that order and ahead of newer
// entries, at the latest after the next poll of the log; an entry removed from the shared set
// meanwhile stays out, and one that expires while it waits is dropped and keeps no place.
// What Redis holds then is put, which the log's later batches, idempotent, bring to the same
// end as a full sync would. Entries left out past what it remembers, and those left out after
// them, are counted, and once the others are back, a full sync (at most one a minute) brings
// them back.
//
// When Redis is away, the Sink keeps what it has (and expires entries on its own clock), and
// the Follower reconnects with jittered exponential backoff, resuming from its position or
// resyncing.
package fleet
