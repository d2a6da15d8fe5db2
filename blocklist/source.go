package blocklist

import (
	"fmt"
	"reflect"
	"strings"
	"time"
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
	case "deny":
		return Deny, nil
	case "allow":
		return Allow, nil
	}
	return 0, fmt.Errorf("blocklist: unknown list kind %q (want deny or allow)", s)
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
	Observe                  bool // a deny list that only reports its matches and never blocks
	MinCount                 int  // FormatIpsum only: keep addresses listed by at least this many lists; 0 = all

	// MaxBytes caps the file's size, and its size after decompression; MaxEntries caps the
	// entries (and exceptions) it holds. A file over a cap is refused (ErrTooBig) as a
	// truncated one is. 0 = the Manager's Options, else DefaultMaxBytes / DefaultMaxEntries.
	MaxBytes   int64
	MaxEntries int
	// MaxShrink, when above 0, replaces the Manager's Options.ShrinkLimit for this list.
	MaxShrink float64
	// AllowEmpty accepts an empty file, and a reload that empties the list, as a list with no
	// entries: for hand-kept lists that are sometimes empty. Without it an empty file is
	// refused (ErrEmpty).
	AllowEmpty bool

	// FormatMMDB: the networks kept are those of these countries (ISO 3166-1 alpha-2, the
	// record's country.iso_code) or autonomous systems (autonomous_system_number). With Invert
	// the list covers every address except them ("only these countries may ...").
	Countries []string
	ASNs      []uint32
	Invert    bool

	// A source whose Path is an http:// or https:// URL is downloaded every Refresh (default
	// DefaultRefresh) and reported stale once its downloads have failed for longer than
	// StaleAfter (default DefaultStaleAfter).
	Refresh    time.Duration
	StaleAfter time.Duration
}

// Default caps of a list file. A 2M-entry IPv4 list is about 30 MB of text.
const (
	DefaultMaxBytes   = 256 << 20
	DefaultMaxEntries = 10_000_000
)

func (s *Source) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Source) maxEntries() int {
	if s.MaxEntries > 0 {
		return s.MaxEntries
	}
	return DefaultMaxEntries
}

// Equal says whether two sources describe the same list with the same options.
// (Source holds slices, so == does not compare it.)
func (s Source) Equal(t Source) bool { return reflect.DeepEqual(s, t) }

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
