module github.com/spoaguard/spoaguard/bench/bartcompare

go 1.26.0

require github.com/spoaguard/spoaguard v0.0.0

require (
	github.com/oschwald/maxminddb-golang/v2 v2.5.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

require (
	github.com/bits-and-blooms/bitset v1.24.2 // indirect
	github.com/bits-and-blooms/bloom/v3 v3.7.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/gaissmai/bart v0.30.0
)

replace github.com/spoaguard/spoaguard => ../..
