package geoip

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
)

// safety bounds a test that would otherwise hang; it is never what a test asserts on.
const safety = 20 * time.Second

var metaMarker = []byte("\xab\xcd\xefMaxMind.com")

// patchMeta returns db with the value of the metadata's uint16 or uint32 field key (encoded
// in one byte, as the test databases' are) replaced by v.
func patchMeta(t *testing.T, db []byte, key string, v byte) []byte {
	t.Helper()
	b := bytes.Clone(db)
	meta := bytes.LastIndex(b, metaMarker) + len(metaMarker)
	k := bytes.Index(b[meta:], append([]byte{0x40 | byte(len(key))}, key...))
	if k < 0 {
		t.Fatalf("no %s in the metadata", key)
	}
	at := meta + k + 1 + len(key)
	if ctl := b[at]; ctl != 0xa1 && ctl != 0xc1 {
		t.Fatalf("%s: control byte %#x, want a one-byte uint16 or uint32", key, ctl)
	}
	b[at+1] = v
	return b
}

// hugeMeta returns db with a string of n bytes added to its metadata map.
func hugeMeta(t *testing.T, db []byte, n int) []byte {
	t.Helper()
	b := bytes.Clone(db)
	meta := bytes.LastIndex(b, metaMarker) + len(metaMarker)
	if b[meta]&0xe0 != 0xe0 || b[meta]&0x1f >= 28 {
		t.Fatalf("metadata starts %#x, want a small map", b[meta])
	}
	b[meta]++
	size := n - 65821
	b = append(b, 0x41, 'x', 0x5f, byte(size>>16), byte(size>>8), byte(size))
	return append(b, strings.Repeat("m", n)...)
}

// No damaged, tampered or mixed database makes Walk panic or keep a network; each is refused
// with an error that says it is the database that is wrong.
func TestHostileDatabases(t *testing.T) {
	good := geoiptest.Build(t, countryNets, geoiptest.Options{})
	other := geoiptest.Build(t, countryNets[:4], geoiptest.Options{IPv4Only: true})
	sel := Selection{Countries: []string{"CN", "RU"}}
	cases := []struct {
		name string
		db   []byte
	}{
		{"record size 0", patchMeta(t, good, "record_size", 0)},
		{"record size 7", patchMeta(t, good, "record_size", 7)},
		{"record size 255", patchMeta(t, good, "record_size", 255)},
		{"ip version 5", patchMeta(t, good, "ip_version", 5)},
		{"ip version 0", patchMeta(t, good, "ip_version", 0)},
		{"node count 0", patchMeta(t, good, "node_count", 0)},
		{"node count past the tree", patchMeta(t, good, "node_count", 255)},
		{"the first half of one database and the rest of another", append(bytes.Clone(good[:len(good)/2]), other[len(other)/2:]...)},
		{"a metadata string past the end", hugeMeta(t, good, 1<<20)[:len(good)+1000]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := walk(t, tc.db, sel)
			if err == nil {
				t.Fatalf("accepted, kept %q", got)
			}
			if !strings.HasPrefix(err.Error(), "geoip: ") {
				t.Errorf("err %v", err)
			}
		})
	}
	// A metadata section of a megabyte is read like any other.
	if got, _, err := walk(t, hugeMeta(t, good, 1<<20), sel); err != nil || len(got) != 4 {
		t.Errorf("a database with a megabyte of metadata: kept %q, %v", got, err)
	}
}

// A database cut at any byte is refused, never half taken.
func TestEveryTruncationIsRefused(t *testing.T) {
	good := geoiptest.Build(t, countryNets, geoiptest.Options{})
	sel := Selection{Countries: []string{"CN", "RU"}}
	for n := range len(good) {
		kept := 0
		_, err := Walk(good[:n], sel, func(netip.Prefix) { kept++ })
		if err == nil {
			t.Fatalf("cut at %d of %d bytes: accepted, %d networks kept", n, len(good), kept)
		}
	}
}

// A file rewritten in place while it is read reads as part of each version: refused.
func TestADatabaseRewrittenWhileReadIsRefused(t *testing.T) {
	old := geoiptest.Build(t, countryNets, geoiptest.Options{})
	newer := geoiptest.Build(t, append(countryNets, geoiptest.Network{CIDR: "100.64.0.0/10", Country: "CN"}), geoiptest.Options{})
	r := io.MultiReader(bytes.NewReader(old[:len(old)/2]), bytes.NewReader(newer[len(old)/2:]))
	if _, err := Read(r, Selection{Countries: []string{"CN"}}, func(netip.Prefix) {}); err == nil {
		t.Error("a database mixed from two versions was accepted")
	}
}

// setNode28 writes the two records of node n of a tree of 28-bit records.
func setNode28(b []byte, n, left, right uint) {
	o := n * 7
	b[o], b[o+1], b[o+2] = byte(left>>16), byte(left>>8), byte(left)
	b[o+3] = byte(left>>24&0xf)<<4 | byte(right>>24&0xf)
	b[o+4], b[o+5], b[o+6] = byte(right>>16), byte(right>>8), byte(right)
}

// A tree whose nodes each point twice to the next is a walk of 2^60 paths (2^30 in an IPv4
// tree, which is 32 bits deep): refused at once.
func TestATreeOfSharedNodesIsRefused(t *testing.T) {
	for _, tc := range []struct {
		opt   geoiptest.Options
		chain uint
	}{{geoiptest.Options{}, 60}, {geoiptest.Options{IPv4Only: true}, 30}} {
		db := geoiptest.Build(t, countryNets, tc.opt)
		for n := range tc.chain {
			setNode28(db, n, n+1, n+1)
		}
		done := make(chan error, 1)
		go func() {
			_, err := Walk(db, Selection{Countries: []string{"CN"}}, func(netip.Prefix) {})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a tree") && !strings.Contains(err.Error(), "deeper than") {
				t.Errorf("err %v, want the shared node or the depth named", err)
			}
		case <-time.After(safety):
			t.Fatal("Walk still runs: the shared nodes are walked path by path")
		}
	}
}
