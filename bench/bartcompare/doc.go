// Package bartcompare benchmarks the blocklist snapshot against github.com/gaissmai/bart, the
// best general Go prefix table, on the same data in the same run. It is its own module so the
// agent does not depend on bart.
//
//	cd bench/bartcompare && go test -run '^$' -bench . -benchmem -count 5
//
// bart answers a different question (longest-prefix match, one value per prefix) from the
// snapshot (the set of all lists covering an address), so bart gets the easier job: one table
// holding every prefix, asked Contains (bart.Lite) or Lookup (bart.Fast, bart.Table). The
// snapshot answers with the full list bitmask.
package bartcompare
