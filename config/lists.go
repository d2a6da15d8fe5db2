package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/geoip"
)

// ListOptions names the options a list takes, in the file's options mapping and after the
// path of a -deny/-allow flag, comma-separated.
func ListOptions() string { return listOptionNames }

var listOptionNames = optionNames()

// listOptions are the options SetListOption applies, each with how it parses its value into
// the source.
var listOptions = []struct {
	name string
	set  func(src *blocklist.Source, val string) error
}{
	{"min-count", option(positive, func(s *blocklist.Source) *int { return &s.MinCount })},
	{"min-prefix-v4", option(positive, func(s *blocklist.Source) *int { return &s.MinPrefixV4 })},
	{"min-prefix-v6", option(positive, func(s *blocklist.Source) *int { return &s.MinPrefixV6 })},
	{"allow-short", option(flagValue, func(s *blocklist.Source) *bool { return &s.AllowShortPrefixes })},
	{"observe", setObserve},
	{"max-bytes", option(positive64, func(s *blocklist.Source) *int64 { return &s.MaxBytes })},
	{"max-entries", option(positive, func(s *blocklist.Source) *int { return &s.MaxEntries })},
	{"max-shrink", option(share, func(s *blocklist.Source) *float64 { return &s.MaxShrink })},
	{"allow-empty", option(flagValue, func(s *blocklist.Source) *bool { return &s.AllowEmpty })},
	{"refresh", option(duration, func(s *blocklist.Source) *time.Duration { return &s.Refresh })},
	{"stale-after", option(duration, func(s *blocklist.Source) *time.Duration { return &s.StaleAfter })},
	{"countries", option(plusList(geoip.ParseCountry), func(s *blocklist.Source) *[]string { return &s.Countries })},
	{"asns", option(plusList(geoip.ParseASN), func(s *blocklist.Source) *[]uint32 { return &s.ASNs })},
	{"invert", option(flagValue, func(s *blocklist.Source) *bool { return &s.Invert })},
}

func optionNames() string {
	names := make([]string, len(listOptions))
	for i, o := range listOptions {
		names[i] = o.name
	}
	return strings.Join(names, ", ")
}

// option makes the setter of an option from the parser of its value and the field it sets.
func option[T any](parse func(string) (T, error), field func(*blocklist.Source) *T) func(*blocklist.Source, string) error {
	return func(src *blocklist.Source, val string) error {
		v, err := parse(val)
		*field(src) = v
		return err
	}
}

func setObserve(src *blocklist.Source, val string) error {
	if src.Kind != blocklist.Deny {
		return errors.New("observe applies to deny lists only")
	}
	var err error
	src.Observe, err = flagValue(val)
	return err
}

// CheckListName accepts the names a list may have (blocklist.ValidListName).
func CheckListName(s string) error {
	if !blocklist.ValidListName(s) {
		return fmt.Errorf("list name %q: %s", s, blocklist.ListNameRule)
	}
	return nil
}

// SetListOption applies one list option. allow-short, observe, allow-empty and invert take "",
// "true" or "false"; countries and asns take values joined by '+' (CN+RU, 64496+AS64511).
func SetListOption(src *blocklist.Source, key, val string) error {
	for _, o := range listOptions {
		if o.name == key {
			return o.set(src, val)
		}
	}
	return fmt.Errorf("unknown option (want %s)", listOptionNames)
}

// ParseListFlag parses a -deny/-allow value, NAME=PATH[,format=FMT][,OPTION[=VALUE]]...: the
// command line's compact form of a list entry. A path holding a comma needs the file's form.
// Options that do not go together are refused as the file's are (blocklist's Source.Check).
func ParseListFlag(spec string, kind blocklist.Kind) (blocklist.Source, error) {
	src := blocklist.Source{Kind: kind}
	name, rest, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return src, errors.New("want NAME=PATH[,OPTIONS]")
	}
	if err := CheckListName(name); err != nil {
		return src, err
	}
	parts := strings.Split(rest, ",")
	src.Name, src.Path = name, parts[0]
	if src.Path == "" {
		return src, errors.New("empty path")
	}
	for _, opt := range parts[1:] {
		key, val, _ := strings.Cut(opt, "=")
		var err error
		if key == "format" {
			src.Format, err = blocklist.ParseFormat(val)
		} else {
			err = SetListOption(&src, key, val)
		}
		if err != nil {
			return src, fmt.Errorf("option %q: %w", opt, err)
		}
	}
	if err := src.Check(); err != nil {
		return src, fmt.Errorf("list %q: %w", src.Name, err)
	}
	return src, nil
}

// flagValue parses the value of an option that is a switch: "" (the option alone) is true.
func flagValue(s string) (bool, error) {
	switch s {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q: want true or false", s)
}

func duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 1h or 30m", s)
	}
	return d, nil
}

// plusList returns the parser of values joined by '+' (',' separates the options of a -deny
// flag), each parsed by parse.
func plusList[T any](parse func(string) (T, error)) func(string) ([]T, error) {
	return func(s string) ([]T, error) {
		var out []T
		for _, v := range strings.Split(s, "+") {
			x, err := parse(v)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
}

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return n, nil
}

func positive64(s string) (int64, error) {
	n, err := positive(s)
	return int64(n), err
}

// share parses a share above 0, at most 1.
func share(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 1) {
		return f, fmt.Errorf("%q: want a share above 0, at most 1", s)
	}
	return f, nil
}

// formats lists the format names for error messages.
func formats() string {
	return "auto, plain, netset, spamhaus-drop, spamhaus-json, ipsum, range, ipset-save or mmdb"
}
