package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Write writes one batch of changes to Redis and waits until this agent has applied it, so
// that the caller reads its own write. It returns an error wrapping ErrUnavailable when Redis
// does not accept the batch; nothing is queued here, but a request that reached a Redis too
// busy to answer in time may still run there when it is free, which the error then says. A batch that followers would refuse (a change
// without a key, an unknown op, a put without a record) is refused here.
func (f *Fleet) Write(ctx context.Context, changes []Change) error {
	if err := validateChanges(changes); err != nil {
		return err
	}
	// A large batch takes this agent longer to apply: a second more per 10,000 changes.
	ctx, cancel := context.WithTimeout(ctx, f.opt.WriteTimeout+time.Duration(len(changes)/10_000)*time.Second)
	defer cancel()
	f.writes.Inc()
	// One encoding: the batch (the log entry) holds each record's JSON, which is also the
	// value of its entry.
	spans := make([][2]int, len(changes))
	batch := string(appendChanges(make([]byte, 0, 2+160*len(changes)), changes, spans))
	recs := make([]string, len(changes))
	args := make([]any, 0, 4+4*len(changes))
	args = append(args, newToken(), time.Now().UnixMilli(), f.opt.LogRetention.Milliseconds(), batch)
	for i := range changes {
		c := &changes[i]
		// Constants and pointers go into an interface without an allocation, and go-redis
		// writes a *string or *int64 as its value: the arguments cost no allocation each.
		// validateChanges left only the two ops.
		var op, rec, exp any = string(Delete), "", int64(0)
		if c.Op == Put {
			recs[i] = batch[spans[i][0]:spans[i][1]]
			op, rec, exp = string(Put), &recs[i], &c.Record.Expires
		}
		args = append(args, op, &c.Key, rec, exp)
	}
	res, err := writeScript.Run(ctx, f.rdb, f.keys, args...).StringSlice()
	if err != nil || len(res) != 2 {
		f.wfail.Inc()
		if err != nil && !notSent(err) {
			// A Redis that is blocked or slow (a long command, CLIENT PAUSE, a stopped
			// process) runs the script once it reads it: the caller must not take the
			// refusal for a change that did not happen.
			return fmt.Errorf("%w: writing %d changes: %v (the request may have reached Redis, which may still apply it: check before writing again)", ErrUnavailable, len(changes), err)
		}
		return fmt.Errorf("%w: writing %d changes: %v", ErrUnavailable, len(changes), err)
	}
	return f.waitApplied(ctx, res[0], res[1])
}

// notSent says whether err means that the request never left this agent: no connection to
// Redis could be had.
func notSent(err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed)
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
