package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
	bolt "go.etcd.io/bbolt"
)

func entry(t testing.TB, addr string) live.Entry {
	t.Helper()
	a, err := blocklist.ParseEntry(addr)
	if err != nil {
		t.Fatal(err)
	}
	return live.Entry{Addr: a}
}

func openSet(t *testing.T, dir string, now time.Time) (*live.Set, *DB) {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := live.Open(live.Options{Store: db, Now: func() time.Time { return now }})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return s, db
}

func TestARestartKeepsEveryUnexpiredBan(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	s, db := openSet(t, dir, now)
	var changes []live.Change
	for i := range 1000 {
		e := entry(t, fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		switch i % 4 {
		case 0:
			e.Expires = now.Add(time.Minute) // expired by the time of the restart
		case 1:
			e.Expires = now.Add(time.Hour)
			e.Comment = "ssh brute force"
		case 2:
			e.Action, e.List = blocklist.Allow, "office"
		case 3:
			e.List, e.Observe = "trial", true
		}
		changes = append(changes, live.Change{Op: live.Put, Entry: e})
	}
	changes = append(changes, live.Change{Op: live.Put, Entry: entry(t, "2001:db8::/48")},
		live.Change{Op: live.Put, Entry: entry(t, "192.0.2.1-192.0.2.9")})
	if _, err := s.Apply(changes); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]live.Change{{Op: live.Delete, Entry: entry(t, "10.0.0.3")}}); err != nil {
		t.Fatal(err)
	}
	before := s.Table()
	s.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s2, db2 := openSet(t, dir, now.Add(2*time.Minute))
	defer db2.Close()
	defer s2.Close()
	after := s2.Table()
	want := 0
	for _, e := range before.Entries(nil, 0) {
		got, ok := after.Get(e.Addr)
		if !e.Expires.IsZero() && e.Expires.Before(now.Add(2*time.Minute)) {
			if ok {
				t.Errorf("%s expired while stopped but was loaded", e.Addr)
			}
			continue
		}
		want++
		if !ok {
			t.Errorf("%s was lost over the restart", e.Addr)
			continue
		}
		if got.Action != e.Action || got.List != e.List || got.Observe != e.Observe || got.Comment != e.Comment ||
			!got.Expires.Equal(e.Expires) || !got.Created.Equal(e.Created) {
			t.Errorf("%s: %+v after the restart, %+v before", e.Addr, got, e)
		}
	}
	if after.Len() != want || want != 1000-250-1+2 {
		t.Errorf("%d entries after the restart, want %d (of %d)", after.Len(), want, before.Len())
	}
}

func TestAnUnreadableStateFileStopsTheStart(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"not a database", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not bbolt\n", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a database of live entries, or its header is damaged (invalid database)"},
		{"locked by another process", func(t *testing.T, dir string) {
			db, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, "locked"},
		{"a newer format", func(t *testing.T, dir string) {
			db, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte("2")) })
			db.Close()
		}, "format version"},
		{"an empty file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "empty (0 bytes)"},
		{"a file cut short", func(t *testing.T, dir string) {
			storeSome(t, dir)
			if err := os.Truncate(filepath.Join(dir, FileName), 4*int64(os.Getpagesize())); err != nil {
				t.Fatal(err)
			}
		}, "damaged"},
		{"a page overwritten", func(t *testing.T, dir string) {
			damagePage(t, dir, 2) // the first page after the two meta pages and the freelist
		}, "damaged"},
		{"the bucket's root page overwritten", func(t *testing.T, dir string) {
			damagePage(t, dir, 3)
		}, "damaged"},
		{"a record that does not parse", func(t *testing.T, dir string) {
			db, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLive).Put([]byte("10.0.0.1"), []byte("{")) })
			db.Close()
		}, `entry "10.0.0.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			db, err := Open(dir)
			if err == nil {
				_, err = live.Open(live.Options{Store: db})
				db.Close()
			}
			if err == nil {
				t.Fatal("the start went on")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, FileName)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the file and say %q", err, tt.want)
			}
			// What to do with a file that holds nothing this agent can read; a lock or a
			// newer format is another matter.
			const hint = "; restore it from a backup, or move it away to start with no live entries"
			if hasHint := strings.HasSuffix(err.Error(), hint); hasHint == (tt.want == "locked" || tt.want == "format version") {
				t.Errorf("error %q: the hint %q given %v", err, hint, hasHint)
			}
		})
	}
}

// storeSome fills a database in dir with enough entries to take many pages.
func storeSome(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := make([]*live.Entry, 2000)
	for i := range put {
		e := entry(t, fmt.Sprintf("10.%d.%d.1", i/256, i%256))
		e.Comment = "a comment long enough to spread the entries over many pages"
		put[i] = &e
	}
	if err := db.Apply(put, nil); err != nil {
		t.Fatal(err)
	}
}

// damagePage stores some entries in dir and then inverts every byte of page n of the file.
func damagePage(t *testing.T, dir string, n int) {
	t.Helper()
	storeSome(t, dir)
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	if len(b) < (n+1)*ps {
		t.Fatalf("%d bytes: no page %d", len(b), n)
	}
	for i := n * ps; i < (n+1)*ps; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
