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
// path of a -deny/-allow flag.
const ListOptions = "min-count, min-prefix-v4, min-prefix-v6, allow-short, observe, max-bytes, max-entries, max-shrink, allow-empty, refresh, stale-after, countries, asns, invert"

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
	var err error
	switch key {
	case "observe":
		if src.Kind != blocklist.Deny {
			return errors.New("observe applies to deny lists only")
		}
		src.Observe, err = flagValue(val)
	case "max-bytes":
		var n int
		n, err = positive(val)
		src.MaxBytes = int64(n)
	case "max-entries":
		src.MaxEntries, err = positive(val)
	case "max-shrink":
		src.MaxShrink, err = strconv.ParseFloat(val, 64)
		if err != nil || !(src.MaxShrink > 0 && src.MaxShrink <= 1) {
			err = fmt.Errorf("%q: want a share above 0, at most 1", val)
		}
	case "allow-empty":
		src.AllowEmpty, err = flagValue(val)
	case "refresh":
		src.Refresh, err = duration(val)
	case "stale-after":
		src.StaleAfter, err = duration(val)
	case "countries":
		src.Countries, err = plusList(val, geoip.ParseCountry)
	case "asns":
		src.ASNs, err = plusList(val, geoip.ParseASN)
	case "invert":
		src.Invert, err = flagValue(val)
	case "min-count":
		src.MinCount, err = positive(val)
	case "min-prefix-v4":
		src.MinPrefixV4, err = positive(val)
	case "min-prefix-v6":
		src.MinPrefixV6, err = positive(val)
	case "allow-short":
		src.AllowShortPrefixes, err = flagValue(val)
	default:
		err = fmt.Errorf("unknown option (want %s)", ListOptions)
	}
	return err
}

// ParseListFlag parses a -deny/-allow value, NAME=PATH[,format=FMT][,OPTION[=VALUE]]...: the
// command line's compact form of a list entry. A path holding a comma needs the file's form.
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

// plusList parses values joined by '+' (',' separates the options of a -deny flag).
func plusList[T any](s string, parse func(string) (T, error)) ([]T, error) {
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

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return n, nil
}

// formats lists the format names for error messages.
func formats() string {
	return "auto, plain, netset, spamhaus-drop, spamhaus-json, ipsum, range, ipset-save or mmdb"
}
