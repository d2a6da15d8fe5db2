package live

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestEntriesPastUnixNanosecondsExpireAtTheirOwnTime: Unix nanoseconds end in 2262 and begin
// in 1677, and the set's clock (Options.Now) may be past either end. An entry there expires
// when its own time comes, in order with the others there: never early, never with the last.
func TestEntriesPastUnixNanosecondsExpireAtTheirOwnTime(t *testing.T) {
	for _, base := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MaxInt64).Add(-1500 * time.Millisecond), // across the end
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(base.UTC().Format(time.RFC3339Nano), func(t *testing.T) {
			in := map[string]time.Duration{ // address: expiry after base
				"192.0.2.1": time.Second,
				"192.0.2.2": time.Hour,
				"192.0.2.3": 2 * time.Second,
				"192.0.2.4": 2*time.Second + time.Nanosecond,
			}
			var entries []Entry
			for a, d := range in {
				entries = append(entries, Entry{Addr: mustAddr(t, a), List: DefaultList, Expires: base.Add(d)})
			}
			slices.SortFunc(entries, func(a, b Entry) int { return compareAddr(a.Addr, b.Addr) })
			tb, err := buildTable(entries)
			if err != nil {
				t.Fatal(err)
			}
			var x expiries
			for _, e := range entries {
				x.add(tb.idx, keyOf(e.Addr))
			}
			for _, step := range []struct {
				at   time.Duration
				want []string
			}{
				{0, nil},
				{time.Second - time.Nanosecond, nil},
				{time.Second, []string{"192.0.2.1"}},
				{1500 * time.Millisecond, nil},
				{2 * time.Second, []string{"192.0.2.3"}},
				{2*time.Second + time.Nanosecond, []string{"192.0.2.4"}},
				{59 * time.Minute, nil},
				{time.Hour, []string{"192.0.2.2"}},
			} {
				now := base.Add(step.at)
				var got []string
				for _, a := range x.due(tb, now) {
					got = append(got, a.String())
					tb.idx.remove(keyOf(a)) // as the round of expiries does
				}
				if !slices.Equal(got, step.want) {
					t.Errorf("due at base+%v: %v, want %v", step.at, got, step.want)
				}
				if next, want := x.next(tb), nextOf(tb); !next.Equal(want) {
					t.Errorf("after base+%v the next expiry is %v, want %v", step.at, next, want)
				}
			}
		})
	}
}

// nextOf is the earliest expiry of tb's entries, zero if none.
func nextOf(tb *Table) time.Time {
	var next time.Time
	tb.Each(func(e *Entry) bool {
		if !e.Expires.IsZero() && (next.IsZero() || e.Expires.Before(next)) {
			next = e.Expires
		}
		return true
	})
	return next
}
