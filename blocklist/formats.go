package blocklist

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

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
	// FormatMMDB: a MaxMind-format database (GeoLite2/GeoIP2 Country or ASN, DB-IP); the list
	// is the networks of the countries or ASNs the source selects. Never auto-detected.
	FormatMMDB
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
	FormatMMDB:         "mmdb",
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

// stripComment cuts s at the first '#' (and ';' when semicolons are comments too).
func stripComment(s []byte, semicolon bool) []byte {
	for i, c := range s {
		if c == '#' || (semicolon && c == ';') {
			return trimSpace(s[:i])
		}
	}
	return s
}

// fields splits s at the ASCII white space trimSpace removes. Not bytes.Fields: it also
// splits at Unicode spaces (U+2003, U+00A0, ...), so a line that trimSpace left non-empty
// could have no field at all, and callers index f[0].
func fields(s []byte) [][]byte {
	return bytes.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
}

// detectFormat guesses the format from the start of a file.
func detectFormat(head []byte) Format {
	firehol := false
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		line = trimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case '#':
			if bytes.Contains(line, []byte("Entries")) || bytes.Contains(line, []byte("firehol")) {
				firehol = true
			}
			continue
		case ';':
			continue
		case '{':
			return FormatSpamhausJSON
		}
		if bytes.HasPrefix(line, []byte("create ")) || bytes.HasPrefix(line, []byte("add ")) {
			return FormatIPSetSave
		}
		if bytes.Contains(line, []byte(";")) && bytes.Contains(line, []byte("SBL")) {
			return FormatSpamhausDROP
		}
		f := fields(stripComment(line, true))
		if len(f) >= 2 {
			if _, err := strconv.Atoi(string(f[1])); err == nil {
				return FormatIpsum
			}
			if _, _, _, err := parseAddr(f[1]); err == nil {
				return FormatRange
			}
		}
		if firehol {
			return FormatNetset
		}
		return FormatPlain
	}
	if firehol {
		return FormatNetset
	}
	return FormatPlain
}
