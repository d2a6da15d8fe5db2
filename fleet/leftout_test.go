package fleet

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"

	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
)

func queueKeys(l *leftQueue, n int, now int64) []string {
	var keys []string
	for _, e := range l.next(n, now) {
		keys = append(keys, e.key)
	}
	return keys
}

// The queue gives back the entries in the order they were left out: one left out again keeps
// its place (with its new expiry), one removed and left out again goes to the end, one that
// expired while it waited is dropped on the way, and past its limit it only counts them.
func TestTheLeftOutQueueKeepsTheOrderEntriesWereLeftOutIn(t *testing.T) {
	l := leftQueue{max: 4}
	for _, e := range []leftEntry{{"a", 0}, {"b", 100}, {"c", 0}, {"b", 300}, {"d", 200}} {
		l.add(e)
	}
	if got := queueKeys(&l, 10, 50); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("next = %q, want a b c d", got)
	}
	l.remove("a")
	l.add(leftEntry{"a", 0})
	l.add(leftEntry{"e", 0}) // past the limit of 4
	if got := queueKeys(&l, 2, 50); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("next(2) = %q, want b c", got)
	}
	// At 250, d (200) has expired and b (100, left out again with 300) has not.
	if got := queueKeys(&l, 10, 250); !slices.Equal(got, []string{"b", "c", "a"}) {
		t.Errorf("next at 250 = %q, want b c a", got)
	}
	if l.len() != 3 || l.forgotten != 1 {
		t.Errorf("%d remembered, %d forgotten; want 3 and 1", l.len(), l.forgotten)
	}
	for _, k := range []string{"b", "c", "a"} {
		l.remove(k)
	}
	if l.q != nil || l.at != nil || l.forgotten != 1 {
		t.Errorf("an empty queue holds %d places and %d keys; want none, and the forgotten count kept", len(l.q), len(l.at))
	}
}

// However entries come and go, the queue's places follow the entries that wait, and their
// order holds through each compaction.
func TestTheLeftOutQueueCompactsInOrder(t *testing.T) {
	l := leftQueue{max: 1 << 20}
	var want []string
	for i := range 20_000 {
		k := strconv.Itoa(i)
		l.add(leftEntry{k, 0})
		if i%3 == 0 {
			want = append(want, k)
		}
	}
	for i := range 20_000 {
		if i%3 != 0 {
			l.remove(strconv.Itoa(i))
		}
	}
	if len(l.q) >= 2*l.len()+1024 {
		t.Errorf("%d places for %d entries: not compacted", len(l.q), l.len())
	}
	if got := queueKeys(&l, 1<<20, 0); !slices.Equal(got, want) {
		t.Errorf("after removals, %d entries in order %v…, want %d", len(got), got[:min(5, len(got))], len(want))
	}
}

// A sink with entries waiting keeps places for them: the batch's new entries take only the
// room past those, and the ones it leaves out are returned with their keys and expiries.
func TestASinkKeepsPlacesForTheEntriesThatWait(t *testing.T) {
	sink, set, dropped := fullSink(t, 4, "192.0.2.1")
	c := liveChange(t, live.Put, "192.0.2.12")
	c.Entry.Expires = set.Now().Add(time.Hour).Truncate(time.Millisecond)
	batch := []live.Change{liveChange(t, live.Put, "192.0.2.10"), liveChange(t, live.Put, "192.0.2.11"), c}
	left, err := sink.applyFitting(ChangesOf(batch), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []leftEntry{{"192.0.2.12", c.Entry.Expires.UnixMilli()}}
	if !slices.Equal(left, want) || !blocks(set, "192.0.2.11") || blocks(set, "192.0.2.12") || dropped.Get() != 1 {
		t.Errorf("left out %v (want %v), .11 %v, .12 %v, dropped %d; want the place of 1 waiting kept",
			left, want, blocks(set, "192.0.2.11"), blocks(set, "192.0.2.12"), dropped.Get())
	}
}

// metric is the value of the series name in ms.
func metric(t *testing.T, ms *metrics.Set, name string) float64 {
	t.Helper()
	var b bytes.Buffer
	ms.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in\n%s", name, b.String())
	return 0
}

func bans(t *testing.T, ttl time.Duration, ips ...string) []Change {
	var out []live.Change
	for _, ip := range ips {
		c := liveChange(t, live.Put, ip)
		if ttl > 0 {
			c.Entry.Expires = time.Now().Add(ttl)
		}
		out = append(out, c)
	}
	return ChangesOf(out)
}

func unbans(ips ...string) []Change {
	var out []Change
	for _, ip := range ips {
		out = append(out, del(ip))
	}
	return out
}

// inForce reports which of ips set enforces, as "ip ip …".
func inForce(set *live.Set, ips ...string) string {
	var in []string
	for _, ip := range ips {
		if blocks(set, ip) {
			in = append(in, ip)
		}
	}
	return strings.Join(in, " ")
}

// roomFleet is an agent without a limit that writes to the shared set, and a follower whose
// set has room for max entries.
type roomFleet struct {
	t      *testing.T
	writer *Fleet
	set    *live.Set    // the follower's
	ms     *metrics.Set // the follower's metrics
}

func newRoomFleet(t *testing.T, max int, tune func(*Fleet)) *roomFleet {
	r := startRedis(t, false)
	w, _ := liveAgent(t, r.URL())
	ms := metrics.NewSet()
	_, set := followingAgent(t, r.URL(), max, nil, ms, tune)
	return &roomFleet{t, w, set, ms}
}

func (f *roomFleet) write(changes []Change) {
	f.t.Helper()
	if err := f.writer.Write(context.Background(), changes); err != nil {
		f.t.Fatal(err)
	}
}

func (f *roomFleet) metric(name string) float64 { return metric(f.t, f.ms, "spoaguard_redis_"+name) }

// A follower whose set is full leaves the shared set's new entries out; as the fleet's
// removals make room, those it left out come into force, in the order they were left out and
// ahead of newer ones, without a full sync; one removed from the shared set meanwhile stays
// out. The metrics say how many wait and how many came back.
func TestLeftOutEntriesComeBackAsRemovalsMakeRoom(t *testing.T) {
	f := newRoomFleet(t, 3, nil)
	f.write(bans(t, 0, "192.0.2.1", "192.0.2.2", "192.0.2.3"))
	f.write(bans(t, 0, "203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"))
	eventually(t, "A to leave out the 4 it has no room for", func() bool { return f.metric("entries_left_out") == 4 })
	all := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"}
	if got := inForce(f.set, all...); got != "" {
		t.Fatalf("in force on A with its set full: %q", got)
	}

	f.write(unbans("192.0.2.1", "203.0.113.2"))
	eventually(t, "the first left out to come into force in the place an unban freed", func() bool {
		return inForce(f.set, all...) == "203.0.113.1"
	})
	// A new entry, and room for one: the entry that waits comes first.
	f.write(append(unbans("192.0.2.2"), bans(t, 0, "203.0.113.5")...))
	eventually(t, "the next left out to come before the newer entry", func() bool {
		return inForce(f.set, all...) == "203.0.113.1 203.0.113.3"
	})
	if w, r := f.metric("entries_left_out"), f.metric("entries_restored_total"); w != 2 || r != 2 {
		t.Errorf("left out %v, restored %v; want 2 (.4, .5) and 2", w, r)
	}
	f.write(unbans("192.0.2.3", "203.0.113.1", "203.0.113.3"))
	eventually(t, "the rest to come into force", func() bool {
		return inForce(f.set, all...) == "203.0.113.4 203.0.113.5" && f.metric("entries_left_out") == 0
	})
	if r, s := f.metric("entries_restored_total"), f.metric("resyncs_total"); r != 4 || s != 1 {
		t.Errorf("restored %v, full syncs %v; want 4, and the first full sync only", r, s)
	}
}

// A follower whose set is full of bans with a ttl brings the entries it left out into force
// as its own clock expires them, with no write to make room.
func TestLeftOutEntriesComeBackAsExpiriesMakeRoom(t *testing.T) {
	f := newRoomFleet(t, 2, nil)
	f.write(bans(t, 3*time.Second, "192.0.2.1", "192.0.2.2"))
	f.write(bans(t, 0, "203.0.113.1", "203.0.113.2", "203.0.113.3"))
	eventually(t, "A to leave out the 3 it has no room for", func() bool { return f.metric("entries_left_out") == 3 })
	if !blocks(f.set, "192.0.2.1") || blocks(f.set, "203.0.113.1") {
		t.Fatal("A's set is not the 2 with a ttl")
	}
	eventually(t, "the first 2 left out to take the places of the expired bans", func() bool {
		return inForce(f.set, "192.0.2.1", "192.0.2.2", "203.0.113.1", "203.0.113.2", "203.0.113.3") == "203.0.113.1 203.0.113.2"
	})
	if w, r, s := f.metric("entries_left_out"), f.metric("entries_restored_total"), f.metric("resyncs_total"); w != 1 || r != 2 || s != 1 {
		t.Errorf("left out %v, restored %v, full syncs %v; want 1, 2, 1", w, r, s)
	}
}

// Entries left out past what the follower remembers are counted, and once those it
// remembers are back and there is room, a full sync brings back the others.
func TestEntriesLeftOutPastWhatIsRememberedComeBackWithAFullSync(t *testing.T) {
	f := newRoomFleet(t, 3, func(f *Fleet) { f.left.max, f.syncGap = 1, 0 })
	held := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}
	left := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}
	f.write(bans(t, 0, held...))
	f.write(bans(t, 0, left...))
	eventually(t, "A to remember 1 left out and count 2", func() bool {
		return f.metric("entries_left_out") == 1 && f.metric("entries_left_out_forgotten") == 2
	})
	f.write(unbans(held...))
	eventually(t, "all 3 left out to come into force", func() bool {
		return inForce(f.set, left...) == strings.Join(left, " ")
	})
	if n, s := f.metric("entries_left_out_forgotten"), f.metric("resyncs_total"); n != 0 || s != 2 {
		t.Errorf("forgotten %v, full syncs %v; want 0 and 2", n, s)
	}
}

// With nothing left out, a batch costs the follower what it cost the sink alone.
func TestABatchThatFitsCostsNoAllocationForTheLeftOut(t *testing.T) {
	sink, _, _ := fullSink(t, 1000)
	f := &Fleet{sink: sink, limited: sink, left: leftQueue{max: minRemembered}}
	batch := bans(t, 0, "192.0.2.1", "192.0.2.2")
	viaSink := testing.AllocsPerRun(100, func() {
		if err := sink.Apply(batch); err != nil {
			t.Fatal(err)
		}
	})
	viaFleet := testing.AllocsPerRun(100, func() {
		if err := f.apply(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := f.restore(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	if viaFleet > viaSink {
		t.Errorf("%v allocations a batch through the follower, %v through the sink alone", viaFleet, viaSink)
	}
	if f.left.len() != 0 {
		t.Errorf("%d left out of a set with room", f.left.len())
	}
}

// stillAgent is a follower that does not run: the test drives its apply and restore, against
// the shared set in Redis at url, into a set of max entries.
func stillAgent(t *testing.T, url string, max int) (*Fleet, *live.Set) {
	t.Helper()
	set, err := live.Open(live.Options{MaxEntries: max, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	sink := LiveSink{Set: set, Logger: slog.New(slog.DiscardHandler)}
	f, err := New(Options{URL: url, Logger: slog.New(slog.DiscardHandler)}, sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, set
}

// writeAndApply writes changes to the shared set through w and applies them to f, as f's
// follower would on reading the log.
func writeAndApply(t *testing.T, w, f *Fleet, changes []Change) {
	t.Helper()
	if err := w.Write(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(changes); err != nil {
		t.Fatal(err)
	}
}

// A record in the shared set that this agent cannot turn into an entry (an unknown action,
// written by a tool), read for an entry left out, is skipped with a warning as a full sync
// skips it: the pass goes on with the entries behind it and does not fail the follower.
func TestARestoreSkipsARecordItCannotEnforce(t *testing.T) {
	r := startRedis(t, false)
	w, _ := liveAgent(t, r.URL())
	f, set := stillAgent(t, r.URL(), 2)
	writeAndApply(t, w, f, bans(t, 0, "192.0.2.1", "192.0.2.2"))
	writeAndApply(t, w, f, bans(t, 0, "203.0.113.1", "203.0.113.2"))
	if f.left.len() != 2 {
		t.Fatalf("%d left out, want 2", f.left.len())
	}
	ctx := context.Background()
	bad := `{"addr":"203.0.113.1","action":"block","list":"api","created":1}`
	if err := r.client(t).HSet(ctx, f.keys[0], "203.0.113.1", bad).Err(); err != nil {
		t.Fatal(err)
	}
	writeAndApply(t, w, f, unbans("192.0.2.1", "192.0.2.2"))
	if _, err := f.restore(ctx); err != nil {
		t.Fatalf("restore: %v; want the record it cannot enforce skipped", err)
	}
	if got := inForce(set, "203.0.113.1", "203.0.113.2"); got != "203.0.113.2" || f.left.len() != 0 {
		t.Errorf("in force %q with %d left out; want 203.0.113.2 and none", got, f.left.len())
	}
}

// Once the queue has forgotten an entry, entries left out after it are not remembered ahead
// of it: they are forgotten too, and the full sync that brings back the forgotten ones
// brings them back, so that no entry waits behind newer ones.
func TestTheLeftOutQueueRemembersNoEntryBehindAForgottenOne(t *testing.T) {
	l := leftQueue{max: 2}
	for _, k := range []string{"a", "b", "c"} {
		l.add(leftEntry{k, 0})
	}
	l.remove("a")
	l.add(leftEntry{"d", 0}) // left out after c, which was forgotten
	l.add(leftEntry{"b", 5}) // an update of one remembered keeps its place
	if got := queueKeys(&l, 10, 0); !slices.Equal(got, []string{"b"}) || l.forgotten != 2 {
		t.Errorf("next = %q with %d forgotten; want b, and c and d forgotten", got, l.forgotten)
	}
}

// failHook fails the commands named cmd after the first ok of them.
type failHook struct {
	cmd string
	ok  *int
}

func (h failHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h failHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == h.cmd {
			if *h.ok == 0 {
				return errors.New("injected failure")
			}
			*h.ok--
		}
		return next(ctx, cmd)
	}
}
func (h failHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A pass that Redis fails in its middle counts the entries its first pages brought back.
func TestARestoreFailedInItsMiddleCountsWhatCameBack(t *testing.T) {
	r := startRedis(t, false)
	const n = restorePage + 1
	f, set := stillAgent(t, r.URL(), n)
	ctx := context.Background()
	var held []live.Change
	var left []Change
	pipe := f.rdb.Pipeline()
	for i := range n {
		held = append(held, liveChange(t, live.Put, ipv4Key(i)))
		rec := Record{Addr: ipv4Key(n + i), Action: "deny", List: "api", Created: 1}
		pipe.HSet(ctx, f.keys[0], rec.Addr, string(appendRecord(nil, &rec)))
		left = append(left, Change{Op: Put, Key: rec.Addr, Record: &rec})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Apply(held); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(left); err != nil || f.left.len() != n {
		t.Fatalf("apply: %v, %d left out; want %d", err, f.left.len(), n)
	}
	for i := range held {
		held[i].Op = live.Delete
	}
	if _, err := set.Apply(held); err != nil {
		t.Fatal(err)
	}
	f.rdb.AddHook(failHook{"hmget", new(1)})
	if _, err := f.restore(ctx); err == nil {
		t.Fatal("restore succeeded with its second HMGET failed")
	}
	if got := f.restored.Get(); got != restorePage || set.Table().Len() != restorePage {
		t.Errorf("restored_total %d with %d in force; want %d", got, set.Table().Len(), restorePage)
	}
}

// Through any sequence of bans and unbans of a shared set larger than a follower's limit,
// and restore passes between them: the follower enforces no entry the shared set lacks,
// every shared entry it does not hold waits in its queue (or is counted forgotten), and after
// a pass with nothing forgotten it holds as many as fit.
func TestAFollowerWithLessRoomStaysASubsetAndFillsItsRoom(t *testing.T) {
	r := startRedis(t, false)
	w, _ := liveAgent(t, r.URL())
	const limit, keys = 4, 30
	f, set := stillAgent(t, r.URL(), limit)
	f.left.max = 2 // forgotten entries, and the full syncs that bring them back
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 2))
	ip := func(i int) string { return "192.0.2." + strconv.Itoa(i+1) }
	for step := range 2000 {
		var batch []Change
		for range 1 + rng.IntN(4) {
			if k := ip(rng.IntN(keys)); rng.IntN(2) == 0 {
				batch = append(batch, bans(t, 0, k)...)
			} else {
				batch = append(batch, del(k))
			}
		}
		if err := w.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := f.apply(batch); err != nil {
			t.Fatal(err)
		}
		restored := rng.IntN(3) > 0
		if restored {
			resync, err := f.restore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if resync {
				recs, err := f.scan(ctx)
				if err == nil {
					err = f.replace(recs)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		shared, err := f.rdb.HKeys(ctx, f.keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		for i := range keys {
			k := ip(i)
			in, isShared := blocks(set, k), slices.Contains(shared, k)
			_, waits := f.left.at[k]
			switch {
			case in && !isShared:
				t.Fatalf("step %d: %s in force, and not in the shared set", step, k)
			case !in && isShared && !waits && f.left.forgotten == 0:
				t.Fatalf("step %d: %s shared, not in force, not waiting, and none forgotten", step, k)
			}
			if in {
				held++
			}
		}
		if restored && f.left.forgotten == 0 && held != min(limit, len(shared)) {
			t.Fatalf("step %d: after a pass, %d in force of %d shared; want as many as fit", step, held, len(shared))
		}
	}
}

// clockedFleet is a follower that does not run, on a sink of max entries whose clock the
// test moves: the test drives its apply and restore.
func clockedFleet(t *testing.T, max int) (*Fleet, *live.Set, *time.Time) {
	t.Helper()
	now := time.UnixMilli(1_800_000_000_000)
	set, err := live.Open(live.Options{MaxEntries: max, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	sink := LiveSink{Set: set, Logger: slog.New(slog.DiscardHandler)}
	ms := metrics.NewSet()
	f := &Fleet{sink: sink, limited: sink, left: leftQueue{max: minRemembered}, log: slog.New(slog.DiscardHandler),
		restored: ms.NewCounter("restored"), leftExpired: ms.NewCounter("expired"), leftWarnSuppressed: ms.NewCounter("suppressed")}
	return f, set, &now
}

// banUntil is a put of ip that expires at the Unix millisecond until (0: never).
func banUntil(ip string, until int64) Change {
	r := &Record{Addr: ip, Action: "deny", List: "api", Created: 1, Expires: until}
	return Change{Op: Put, Key: ip, Record: r}
}

// An entry left out that has expired while it waited keeps no place: a new entry of the
// log takes the room a removal frees, at once, and the expired one is not brought back.
func TestAnExpiredEntryLeftOutKeepsNoPlace(t *testing.T) {
	f, set, now := clockedFleet(t, 1)
	apply := func(changes ...Change) {
		t.Helper()
		if err := f.apply(changes); err != nil {
			t.Fatal(err)
		}
	}
	apply(banUntil("192.0.2.1", 0))
	apply(banUntil("203.0.113.1", now.Add(time.Minute).UnixMilli()))
	if f.left.len() != 1 {
		t.Fatalf("%d left out, want 1", f.left.len())
	}
	*now = now.Add(2 * time.Minute)
	apply(del("192.0.2.1"), banUntil("198.51.100.1", 0))
	if got := inForce(set, "192.0.2.1", "203.0.113.1", "198.51.100.1"); got != "198.51.100.1" {
		t.Errorf("in force %q after the removal; want the new entry in the place the expired one would keep", got)
	}
	if f.left.len() != 0 || f.leftN.Load() != 0 {
		t.Errorf("%d left out (gauge %d); want the expired one gone", f.left.len(), f.leftN.Load())
	}
}

// Entries left out that expire behind others while the set stays full are swept from the
// queue: they are not counted as waiting, and keep no place in what it remembers.
func TestExpiredEntriesLeftOutAreSweptWhileTheSetIsFull(t *testing.T) {
	// The set holds 192.0.2.1; 203.0.113.1 waits, and behind it two entries that expire.
	start := func(t *testing.T) (*Fleet, *time.Time) {
		f, _, now := clockedFleet(t, 1)
		f.left.max = 3
		for _, c := range []Change{
			banUntil("192.0.2.1", 0),
			banUntil("203.0.113.1", 0),
			banUntil("203.0.113.2", now.Add(time.Minute).UnixMilli()),
			banUntil("203.0.113.3", now.Add(time.Minute).UnixMilli()),
		} {
			if err := f.apply([]Change{c}); err != nil {
				t.Fatal(err)
			}
		}
		*now = now.Add(2 * time.Minute)
		return f, now
	}
	t.Run("a pass with no room", func(t *testing.T) {
		f, _ := start(t)
		if _, err := f.restore(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f.leftN.Load() != 1 || f.leftExpired.Get() != 2 {
			t.Errorf("left out %d, expired %d; want 1 (203.0.113.1) and 2", f.leftN.Load(), f.leftExpired.Get())
		}
	})
	t.Run("a queue at its limit", func(t *testing.T) {
		f, now := start(t)
		for _, ip := range []string{"198.51.100.1", "198.51.100.2"} {
			if err := f.apply([]Change{banUntil(ip, 0)}); err != nil {
				t.Fatal(err)
			}
		}
		if got := queueKeys(&f.left, 10, now.UnixMilli()); !slices.Equal(got, []string{"203.0.113.1", "198.51.100.1", "198.51.100.2"}) || f.left.forgotten != 0 {
			t.Errorf("queue %q with %d forgotten; want the 3 in force remembered", got, f.left.forgotten)
		}
	})
}

// A steady churn over a full set leaves entries out batch after batch: the first warns, and
// the next warning, once its interval has passed, counts what was left out since.
func TestLeftOutWarningsHaveABudget(t *testing.T) {
	f, _, _ := clockedFleet(t, 1)
	var logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f.log = log
	sink := f.limited.(LiveSink)
	sink.Logger = log
	f.sink, f.limited = sink, sink
	apply := func(changes ...Change) {
		t.Helper()
		if err := f.apply(changes); err != nil {
			t.Fatal(err)
		}
	}
	apply(banUntil("192.0.2.1", 0))
	for i := range 100 {
		apply(banUntil(ipv4Key(i), 0), banUntil(ipv4Key(1000+i), 0))
	}
	warnings := func() []string {
		var out []string
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "left out") {
				out = append(out, line)
			}
		}
		return out
	}
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], "dropped=2 ") {
		t.Fatalf("%d warnings for 100 batches left out, want 1 (the first, dropped=2):\n%s", len(w), strings.Join(w, ""))
	}
	if n := f.leftWarnSuppressed.Get(); n != 99 {
		t.Errorf("%d warnings suppressed, want 99", n)
	}
	f.leftWarn.next = time.Now() // the interval has passed
	apply(banUntil("198.51.100.1", 0))
	w := warnings()
	if len(w) != 2 || !strings.Contains(w[1], "dropped=199 ") || !strings.Contains(w[1], "batches=100 ") {
		t.Errorf("after the interval, warnings:\n%s\nwant a second one counting the 199 entries of 100 batches since the first", strings.Join(w, ""))
	}
}
