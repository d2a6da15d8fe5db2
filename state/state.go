// Package state keeps the live set in the state directory, in an embedded database
// (go.etcd.io/bbolt): one file, written by one transaction per round of changes and synced
// to disk before the transaction returns, so that a change is durable before the API answers.
//
// bbolt rather than SQLite or a log of our own: it is pure Go (no cgo in the agent), a
// single file with copy-on-write pages that a crash cannot leave half-written, and a file
// lock that stops a second agent from sharing the directory.
package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/live"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the database's name inside the state directory.
const FileName = "live.db"

var (
	bucketLive = []byte("live")
	bucketMeta = []byte("meta")
	keyVersion = []byte("version")
	version    = []byte("1")
)

// DB is the live set's store in a state directory. It implements live.Store.
type DB struct {
	db   *bolt.DB
	path string
}

// Open opens the database in dir, creating dir and the database if they do not exist. A file
// that is not a database of this format, is empty, cut short or damaged (its pages are checked
// first: 50–70 ms for 1M entries, BenchmarkOpen1M), or is locked by another process, is an
// error naming it: it is never replaced by an empty one.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		// bbolt would make a new database of it: the entries it held would be gone unsaid.
		return nil, unreadable(path, errors.New("empty (0 bytes), not a database"))
	}
	// The initial mapping covers about a million entries, so that a large batch does not
	// remap the file as it grows (address space only: pages are read in as they are used).
	// bbolt reads the freelist as it opens the file: a damaged one faults or panics there.
	// The file then stays locked until the process, whose start stops, ends.
	var db *bolt.DB
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: 256 << 20, FreelistType: bolt.FreelistMapType})
		return err
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("state file %s: locked by another process (is another spoaguard using this -state-dir?)", path)
		}
		if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrVersionMismatch) || errors.Is(err, bolterrors.ErrChecksum) {
			return nil, unreadable(path, fmt.Errorf("not a database of live entries, or its header is damaged (%w)", err))
		}
		if errors.Is(err, errDamaged) {
			return nil, unreadable(path, err)
		}
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if err = guard(func() error { return verify(db, path) }); err != nil {
		db.Close()
		return nil, unreadable(path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keyVersion); {
		case v == nil:
			if err := meta.Put(keyVersion, version); err != nil {
				return err
			}
		case !bytes.Equal(v, version):
			return fmt.Errorf("format version %q; this spoaguard reads version %s", v, version)
		}
		_, err = tx.CreateBucketIfNotExists(bucketLive)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &DB{db: db, path: path}, nil
}

// verify checks that the file holds every page its last transaction names and that its
// pages are consistent (bbolt's tx.Check), before anything reads an entry from them: bbolt
// maps the file into memory and trusts its pages, so a truncated file faults on the first
// page past its end, and a damaged page sends reads out of bounds.
func verify(db *bolt.DB, path string) error {
	return db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: truncated to %d bytes, its last transaction needs %d", errDamaged, fi.Size(), tx.Size())
		}
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", errDamaged, errors.Join(errs...))
		}
		return nil
	})
}

// errDamaged marks a file whose pages cannot be trusted.
var errDamaged = errors.New("damaged")

// unreadable is the error of a state file that holds no live set this agent can read: it
// names the file and what to do, since the agent never replaces it with an empty one.
func unreadable(path string, err error) error {
	return fmt.Errorf("state file %s: %w; restore it from a backup, or move it away to start with no live entries", path, err)
}

// guard runs f, turning a memory fault or a panic inside bbolt into an error: a damaged file
// must stop the start with a message naming it, not crash the agent with a stack dump.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading it failed (%v)", errDamaged, r)
		}
	}()
	return f()
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// A record is an entry's value, keyed by its canonical address text:
//
//	flags (1 byte: bit 0 allow, bit 1 observe) | expires | created (unix nanoseconds, 8 bytes
//	each, big endian, 0 for no expiry) | list length (1 byte) | list | comment
//
// A fixed layout appended into one buffer: encoding a batch of 100k entries costs a few
// milliseconds, where JSON cost a quarter of the whole transaction.
const recordHead = 1 + 8 + 8 + 1

func appendRecord(dst []byte, e *live.Entry) []byte {
	var flags byte
	if e.Action == blocklist.Allow {
		flags |= 1
	}
	if e.Observe {
		flags |= 2
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixNano(e.Expires)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(unixNano(e.Created)))
	dst = append(dst, byte(len(e.List)))
	dst = append(dst, e.List...)
	return append(dst, e.Comment...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Load returns every stored entry. A record that does not parse is an error naming the file
// and the key.
func (d *DB) Load() ([]live.Entry, error) {
	var out []live.Entry
	err := guard(func() error {
		return d.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketLive).ForEach(func(k, v []byte) error {
				e, err := decode(k, v)
				if err != nil {
					return fmt.Errorf("entry %q: %w", k, err)
				}
				out = append(out, e)
				return nil
			})
		})
	})
	if err != nil {
		return nil, unreadable(d.path, err)
	}
	return out, nil
}

func decode(k, v []byte) (live.Entry, error) {
	addr, err := blocklist.ParseEntry(string(k))
	if err != nil {
		return live.Entry{}, err
	}
	if len(v) < recordHead || len(v) < recordHead+int(v[recordHead-1]) || v[0] > 3 {
		return live.Entry{}, fmt.Errorf("bad record %x", v)
	}
	e := live.Entry{Addr: addr, Observe: v[0]&2 != 0,
		Expires: fromUnixNano(int64(binary.BigEndian.Uint64(v[1:]))),
		Created: fromUnixNano(int64(binary.BigEndian.Uint64(v[9:])))}
	if v[0]&1 != 0 {
		e.Action = blocklist.Allow
	}
	n := int(v[recordHead-1])
	e.List = string(v[recordHead : recordHead+n])
	e.Comment = string(v[recordHead+n:])
	return e, nil
}

// Apply stores put and removes del in one transaction, synced before it returns.
func (d *DB) Apply(put []*live.Entry, del []blocklist.Entry) error {
	type kv struct{ k, v []byte }
	puts := make([]kv, 0, len(put))
	var buf []byte // one buffer for every record: bbolt copies values at commit
	for _, e := range put {
		start := len(buf)
		buf = appendRecord(buf, e)
		puts = append(puts, kv{[]byte(e.Key()), buf[start:len(buf):len(buf)]})
	}
	// In key order, bbolt appends to its pages instead of splitting them.
	slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLive)
		for _, p := range puts {
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		for _, k := range del {
			if err := b.Delete([]byte(k.String())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state file %s: %w", d.path, err)
	}
	return nil
}
