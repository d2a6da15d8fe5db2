package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run follows the shared set into the sink until ctx is done: a full sync, then the log,
// resyncing on a gap and reconnecting with jittered backoff when Redis is away.
func (f *Fleet) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	needSync := true
	for ctx.Err() == nil {
		var err error
		if needSync {
			if err = f.resync(ctx); err == nil {
				needSync = false
			}
		} else if needSync, err = f.follow(ctx); err == nil && !needSync {
			needSync, err = f.restore(ctx)
		}
		if err == nil {
			if !needSync {
				f.setUp(true)
				backoff = 100 * time.Millisecond
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.failures.Inc()
		if f.setUp(false) {
			f.log.Warn("redis unavailable: enforcing the last known live set, reconnecting", "err", err)
		}
		// Jittered exponential backoff: a thousand agents must not reconnect in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, f.opt.MaxBackoff)
		// Back from an outage: resume from the position if the epoch and head allow it.
		needSync, err = f.checkPosition(ctx)
		if err != nil {
			needSync = !f.Synced() // still away: try again after the next backoff
		}
	}
}

// setUp records Redis's state and reports whether it changed. Redis answering again after it
// was found away is logged here, whichever path (a resync, the log) found it back.
func (f *Fleet) setUp(up bool) bool {
	v := 0.0
	if up {
		v = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := f.upV != v
	switch {
	case up && f.upV == 0:
		f.log.Info("redis available again: following the shared live set", "away", time.Since(f.downSince).Round(time.Millisecond))
	case !up && changed:
		f.downSince = time.Now()
	}
	f.upV = v
	return changed
}

// resync reads the whole set and swaps it into the sink.
func (f *Fleet) resync(ctx context.Context) error {
	start := time.Now()
	f.lastSync = start
	res, err := ensureEpochScript.Run(ctx, f.rdb, []string{f.keys[4], f.keys[3]}, newToken()).StringSlice()
	if err != nil || len(res) != 2 {
		return fmt.Errorf("reading the epoch: %v", err)
	}
	epoch, head := res[0], res[1]
	records, err := f.scan(ctx)
	if err != nil {
		return err
	}
	if err := f.replace(records); err != nil {
		return fmt.Errorf("applying the full sync: %v", err)
	}
	f.resyncs.Inc()
	f.mu.Lock()
	old := f.epoch
	f.epoch, f.pos, f.synced = epoch, head, true
	f.signalLocked()
	f.mu.Unlock()
	f.setUp(true)
	if old != "" && old != epoch {
		f.log.Warn("redis: the shared set was replaced or flushed (new epoch); converged to what Redis holds", "entries", len(records))
	}
	f.log.Info("redis: full sync", "entries", len(records), "log", head, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// scanCount is the HSCAN batch: large enough that a million entries take few round trips,
// small enough that no single call holds Redis for long.
const scanCount = 20000

// scan reads every entry. The next HSCAN is in flight while a page is decoded.
func (f *Fleet) scan(ctx context.Context) ([]Record, error) {
	type page struct {
		kv  []string
		err error
	}
	pages := make(chan page, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		var cursor uint64
		for {
			kv, next, err := f.rdb.HScan(ctx, f.keys[0], cursor, "*", scanCount).Result()
			select {
			case pages <- page{kv, err}:
			case <-ctx.Done():
				return
			}
			if cursor = next; err != nil || cursor == 0 {
				return
			}
		}
	}()
	var records []Record
	var d decoder
	for p := range pages {
		if p.err != nil {
			return nil, fmt.Errorf("reading the entries: %v", p.err)
		}
		for i := 0; i+1 < len(p.kv); i += 2 {
			records = append(records, Record{})
			if err := decodeRecord(&d, p.kv[i+1], p.kv[i], &records[len(records)-1]); err != nil {
				f.log.Warn("redis: skipping an unreadable entry", "key", p.kv[i], "err", err)
				records = records[:len(records)-1]
			}
		}
	}
	return records, nil
}

// follow applies the log's next batches. It reports whether a resync is needed.
func (f *Fleet) follow(ctx context.Context) (bool, error) {
	f.mu.Lock()
	pos, epoch, from := f.pos, f.epoch, f.pos
	if compareID(f.skip, pos) > 0 {
		// An entry past the head that no write made (an XADD by hand): the resync it forced
		// holds the set, and reading it again would resync without end.
		from = f.skip
	}
	f.mu.Unlock()
	block := f.opt.Poll
	if f.restoreDue {
		block = -1 // entries left out wait for the room there is: read what the log has, and go on
	}
	streams, err := f.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{f.keys[2], from}, Count: 1000, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return f.checkPosition(ctx) // quiet: check for a flush or failover that wrote nothing
	}
	if err != nil {
		return false, err
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			if compareID(m.ID, from) <= 0 {
				// Not a Redis: resyncing for it would resync at every read.
				return false, fmt.Errorf("the log answered entry %q, which is not after %s", m.ID, from)
			}
			if m.Values["epoch"] != epoch {
				if err := f.heldInLog(ctx, m.ID); err != nil {
					return false, err
				}
				f.log.Warn("redis: the log's epoch changed; resyncing", "log", m.ID)
				return f.resyncPast(m.ID), nil
			}
			if m.Values["prev"] != pos {
				if err := f.heldInLog(ctx, m.ID); err != nil {
					return false, err
				}
				f.log.Warn("redis: the log has a gap (trimmed past this agent's position, or a failover); resyncing", "position", pos, "next", m.ID)
				return f.resyncPast(m.ID), nil
			}
			raw, _ := m.Values["changes"].(string)
			changes, err := decodeChanges(raw)
			if err != nil {
				if err := f.heldInLog(ctx, m.ID); err != nil {
					return false, err
				}
				f.log.Warn("redis: unreadable log entry; resyncing", "log", m.ID, "err", err)
				return f.resyncPast(m.ID), nil
			}
			if err := f.apply(changes); err != nil {
				return false, fmt.Errorf("applying log %s: %v", m.ID, err)
			}
			f.batches.Inc()
			f.changes.Add(len(changes))
			pos = m.ID
			f.mu.Lock()
			f.pos = pos
			f.lagS = max(0, time.Since(time.UnixMilli(idMillis(m.ID))).Seconds())
			f.signalLocked()
			f.mu.Unlock()
		}
	}
	return false, nil
}

// heldInLog checks that the log holds entry id, which forces a resync: a broken server that
// answers an entry the log does not hold, read after read, would otherwise make the follower
// resync at every read, and hold it past every write to come.
func (f *Fleet) heldInLog(ctx context.Context, id string) error {
	held, err := f.rdb.XRange(ctx, f.keys[2], id, id).Result()
	if err != nil {
		return err
	}
	if len(held) != 1 || held[0].ID != id {
		return fmt.Errorf("the log answered entry %q, which it does not hold", id)
	}
	return nil
}

// resyncPast asks for a resync after which reading resumes past the log entry id.
func (f *Fleet) resyncPast(id string) bool {
	f.mu.Lock()
	f.skip = id
	f.mu.Unlock()
	return true
}

// checkPosition compares the epoch and head with this agent's position: a changed epoch or
// a head behind the position needs a resync.
func (f *Fleet) checkPosition(ctx context.Context) (bool, error) {
	vals, err := f.rdb.MGet(ctx, f.keys[4], f.keys[3]).Result()
	if err != nil {
		return false, err
	}
	if len(vals) != 2 {
		return false, fmt.Errorf("reading the epoch and head: %d values for 2 keys", len(vals))
	}
	epoch, _ := vals[0].(string)
	head, _ := vals[1].(string)
	if head == "" {
		head = "0-0"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.synced {
		return true, nil
	}
	if epoch != f.epoch {
		f.log.Warn("redis: the epoch changed (flushed or replaced); resyncing")
		return true, nil
	}
	if compareID(head, f.pos) < 0 {
		f.log.Warn("redis: the log's head is behind this agent's position (failover lost writes); resyncing", "head", head, "position", f.pos)
		return true, nil
	}
	if head == f.pos {
		f.lagS = 0
	}
	return false, nil
}

func (f *Fleet) signalLocked() {
	close(f.advance)
	f.advance = make(chan struct{})
}
