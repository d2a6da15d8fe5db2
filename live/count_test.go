package live

import (
	"testing"

	"github.com/spoaguard/spoaguard/blocklist"
)

func TestCountMatchesApply(t *testing.T) {
	addr := func(s string) blocklist.Entry {
		e, err := blocklist.ParseEntry(s)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	put := func(s string) Change { return Change{Op: Put, Entry: Entry{Addr: addr(s)}} }
	del := func(s string) Change { return Change{Op: Delete, Entry: Entry{Addr: addr(s)}} }

	set, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if _, err := set.Apply([]Change{put("203.0.113.1"), put("198.51.100.0/24")}); err != nil {
		t.Fatal(err)
	}
	batches := [][]Change{
		{put("203.0.113.1"), put("203.0.113.2"), put("203.0.113.2")},
		{del("203.0.113.1"), del("203.0.113.9"), put("203.0.113.1"), del("198.51.100.0/24")},
		{del("203.0.113.2"), put("203.0.113.2"), del("203.0.113.2")},
	}
	for i, b := range batches {
		want := set.Table().Count(b)
		got, err := set.Apply(b)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("batch %d: Count said %+v, Apply counted %+v", i, want, got)
		}
	}
}

// LastChanges gives each key its last change in the batch, a put after a delete or a delete
// after a put alike.
func TestLastChangesKeepsEachKeysLast(t *testing.T) {
	a, b := mustAddr(t, "192.0.2.1"), mustAddr(t, "198.51.100.0/24")
	changes := []Change{
		{Op: Put, Entry: Entry{Addr: a, List: "first"}},
		{Op: Put, Entry: Entry{Addr: b}},
		{Op: Delete, Entry: Entry{Addr: a}},
		{Op: Put, Entry: Entry{Addr: a, List: "last"}},
		{Op: Delete, Entry: Entry{Addr: b}},
	}
	last := LastChanges(changes)
	if len(last) != 2 || last[a] != &changes[3] || last[b] != &changes[4] {
		t.Errorf("LastChanges = %v, want changes 3 and 4", last)
	}
}
