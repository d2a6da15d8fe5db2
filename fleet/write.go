package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Write writes one batch of changes to Redis and waits until this agent has applied it, so
// that the caller reads its own write. It returns an error wrapping ErrUnavailable when Redis
// does not accept the batch; nothing is queued.
func (f *Fleet) Write(ctx context.Context, changes []Change) error {
	// A large batch takes this agent longer to apply: a second more per 10,000 changes.
	ctx, cancel := context.WithTimeout(ctx, f.opt.WriteTimeout+time.Duration(len(changes)/10_000)*time.Second)
	defer cancel()
	f.writes.Inc()
	batch, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	args := make([]any, 0, 4+4*len(changes))
	args = append(args, newToken(), time.Now().UnixMilli(), f.opt.LogRetention.Milliseconds(), string(batch))
	for _, c := range changes {
		rec, exp := "", int64(0)
		if c.Op == Put {
			b, err := json.Marshal(c.Record)
			if err != nil {
				return err
			}
			rec, exp = string(b), c.Record.Expires
		}
		args = append(args, string(c.Op), c.Key, rec, exp)
	}
	res, err := writeScript.Run(ctx, f.rdb, f.keys, args...).StringSlice()
	if err != nil || len(res) != 2 {
		f.wfail.Inc()
		return fmt.Errorf("%w: writing %d changes: %v", ErrUnavailable, len(changes), err)
	}
	return f.waitApplied(ctx, res[0], res[1])
}

// waitApplied waits until the Follower has applied log entry id of epoch.
func (f *Fleet) waitApplied(ctx context.Context, epoch, id string) error {
	for {
		f.mu.Lock()
		done := f.synced && f.epoch == epoch && compareID(f.pos, id) >= 0
		ch := f.advance
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: Redis accepted the change (log %s) but this agent has not applied it yet: %v", ErrUnavailable, id, ctx.Err())
		}
	}
}
