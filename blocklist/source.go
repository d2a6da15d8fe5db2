// Package blocklist turns blocklist feed files into an immutable Snapshot that answers "is this
// address listed, and by which lists?" without allocating, and replaces that snapshot atomically
// when a file changes (Manager).
//
// The pieces, in the order data flows through them:
//   - ParseFile streams one file (any supported Format, optionally gzip-compressed) into a Parsed
//     set of address ranges, counting and reporting the lines it skips and refusing files that
//     fail their completeness marker.
//   - Build merges the parsed lists into a Snapshot: per address family, sorted disjoint ranges
//     carrying a bitmask of the lists covering them, plus an exact-address hash set for single
//     addresses (optionally behind a bloom filter).
//   - Manager owns the sources, polls them for changes and publishes new snapshots with one
//     atomic pointer store; a source that fails to load keeps its previous contents.
package blocklist

import (
	"fmt"
	"strings"
)

// Kind says what a match in a list means.
type Kind uint8

const (
	// Deny lists block the addresses they cover.
	Deny Kind = iota
	// Allow lists exempt the addresses they cover from every deny list.
	Allow
)

func (k Kind) String() string {
	switch k {
	case Deny:
		return "deny"
	case Allow:
		return "allow"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind parses "deny" or "allow" (case-insensitive).
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "deny", "block":
		return Deny, nil
	case "allow":
		return Allow, nil
	}
	return 0, fmt.Errorf("blocklist: unknown list kind %q (want deny or allow)", s)
}

// Format is the layout of a feed file.
type Format uint8

const (
	// FormatAuto detects the format from the first lines of the file.
	FormatAuto Format = iota
	// FormatPlain: one address, CIDR or a-b range per line; '#' and ';' start comments.
	FormatPlain
	// FormatNetset: FireHOL .netset/.ipset files. Like FormatPlain, and the header's
	// "Entries : N" count must match the number of data lines.
	FormatNetset
	// FormatSpamhausDROP: "CIDR ; SBLnnn" lines, must end with a "; EOF" line.
	FormatSpamhausDROP
	// FormatSpamhausJSON: one {"cidr":...} object per line and a final
	// {"type":"metadata",...,"records":N} line whose count must match.
	FormatSpamhausJSON
	// FormatIpsum: stamparm/ipsum "IP<TAB>count" lines; Source.MinCount filters by count.
	FormatIpsum
	// FormatRange: "a-b" lines or DShield "start<TAB>end<TAB>..." lines.
	FormatRange
	// FormatIPSetSave: `ipset save` output: "add SET entry [nomatch] ..." lines; an entry
	// marked nomatch is an exception carved out of the set.
	FormatIPSetSave
	numFormats
)

var formatNames = [numFormats]string{
	FormatAuto:         "auto",
	FormatPlain:        "plain",
	FormatNetset:       "netset",
	FormatSpamhausDROP: "spamhaus-drop",
	FormatSpamhausJSON: "spamhaus-json",
	FormatIpsum:        "ipsum",
	FormatRange:        "range",
	FormatIPSetSave:    "ipset-save",
}

func (f Format) String() string {
	if f < numFormats {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat parses a Format name as printed by Format.String ("" means auto). A few common
// aliases are accepted: "ipset" and "firehol" for netset, "drop" for spamhaus-drop,
// "json" for spamhaus-json, "dshield" for range.
func ParseFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range formatNames {
		if s == n {
			return Format(i), nil
		}
	}
	switch s {
	case "":
		return FormatAuto, nil
	case "ipset", "firehol":
		return FormatNetset, nil
	case "drop", "spamhaus":
		return FormatSpamhausDROP, nil
	case "json":
		return FormatSpamhausJSON, nil
	case "dshield", "ranges":
		return FormatRange, nil
	case "save":
		return FormatIPSetSave, nil
	}
	return 0, fmt.Errorf("blocklist: unknown feed format %q", s)
}

// Default minimum prefix lengths: shorter prefixes are refused unless the source sets
// AllowShortPrefixes (a stray 0.0.0.0/1 in a deny list would block half the Internet).
const (
	DefaultMinPrefixV4 = 8
	DefaultMinPrefixV6 = 16
)

// Source describes one list file.
type Source struct {
	Name   string // list name, reported to HAProxy as txn.<prefix>.list
	Path   string
	Kind   Kind
	Format Format

	MinPrefixV4, MinPrefixV6 int // 0 = DefaultMinPrefixV4 / DefaultMinPrefixV6
	AllowShortPrefixes       bool
	MinCount                 int // ipsum: keep addresses listed by at least this many lists; 0 = all
}

func (s *Source) minPrefixes() (v4, v6 int) {
	if s.AllowShortPrefixes {
		return 0, 0
	}
	v4, v6 = s.MinPrefixV4, s.MinPrefixV6
	if v4 <= 0 {
		v4 = DefaultMinPrefixV4
	}
	if v6 <= 0 {
		v6 = DefaultMinPrefixV6
	}
	return min(v4, 32), min(v6, 128)
}
