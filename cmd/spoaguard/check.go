package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/httpserve"
	"github.com/spoaguard/spoaguard/server"
)

// errCheckFailed is -check's verdict when something would not load (exit status 1).
var errCheckFailed = errors.New("check failed")

// specialRanges are the special-purpose ranges (RFC 6890 and its updates) a deny list should
// not cover: a client there is a load balancer, a health check, a NAT or the host itself, and
// blocking it blocks everyone behind it.
var specialRanges = []struct {
	pfx  netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "unique local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
}

// runCheck loads every list as the agent would and prints what it would serve: the settings
// HAProxy must match, each list with its entries, skipped lines and warnings. It returns
// errCheckFailed when a list does not load or the lists do not build into a snapshot.
func runCheck(o *options, w io.Writer) error {
	src := "command line"
	if o.configPath != "" {
		src = o.configPath
	}
	fmt.Fprintf(w, "configuration: %s\n", src)
	fmt.Fprintf(w, "listen: %s  metrics: %s\n", strings.Join(o.listen, ", "), orDisabled(o.metricsAddr))
	fmt.Fprintf(w, "messages: %s  arg: %s  variables: %s.<var-prefix>.%s, %s.<var-prefix>.%s\n",
		strings.Join(o.messages, ", "), o.arg, o.scope, o.varBlocked, o.scope, o.varList)

	ok, warnings, entries := true, 0, 0
	if err := serverConfig(o, nil, nil).Validate(); err != nil { // the agent refuses to start
		fmt.Fprintf(w, "error: %v\n", err)
		ok = false
	}
	if msg := fdShortfall(o.maxConns); msg != "" { // the agent refuses to start
		fmt.Fprintf(w, "error: %s\n", msg)
		ok = false
	}
	for _, msg := range startupShortfalls(o) { // the agent refuses to start
		fmt.Fprintf(w, "error: %s\n", msg)
		ok = false
	}
	var built []blocklist.List
	for _, s := range o.sources {
		kind := s.Kind.String()
		if s.Observe {
			kind += ", observe only"
		}
		fmt.Fprintf(w, "\nlist %s (%s) %s\n", s.Name, kind, s.Path)
		p, err := checkLoad(o, s, w)
		if err != nil {
			fmt.Fprintf(w, "  error: %v\n", err)
			ok = false
			continue
		}
		entries += p.Entries
		built = append(built, blocklist.List{Name: s.Name, Kind: s.Kind, Parsed: p})
		fmt.Fprintf(w, "  format %s, %d entries, %d lines skipped\n", p.Format, p.Entries, p.Skipped)
		for _, sl := range p.SkippedLines {
			fmt.Fprintf(w, "  skipped %s\n", sl)
		}
		if p.Skipped > len(p.SkippedLines) {
			fmt.Fprintf(w, "  ... and %d more skipped lines\n", p.Skipped-len(p.SkippedLines))
		}
		var warn []string
		if p.Entries == 0 {
			warn = append(warn, "no entries: the list matches nothing")
		} else if !p.Unmatched.Empty() {
			warn = append(warn, fmt.Sprintf("%s match no network of the database", p.Unmatched))
		}
		if s.Kind == blocklist.Deny && !s.Observe {
			pfxs := make([]netip.Prefix, len(specialRanges))
			for i, r := range specialRanges {
				pfxs[i] = r.pfx
			}
			for _, pfx := range p.Overlapping(pfxs) {
				for _, r := range specialRanges {
					if r.pfx == pfx {
						warn = append(warn, fmt.Sprintf("covers addresses in %s (%s): HAProxy, health checks or NATed clients there would be blocked", pfx, r.what))
					}
				}
			}
		}
		for _, msg := range warn {
			fmt.Fprintf(w, "  warning: %s\n", msg)
		}
		warnings += len(warn)
	}
	if ok {
		if _, err := blocklist.Build(built, blocklist.BuildOptions{}); err != nil {
			fmt.Fprintf(w, "\nerror: the lists do not build into a snapshot: %v\n", err)
			ok = false
		}
	}
	if !ok {
		fmt.Fprintf(w, "\nFAILED: the agent would not start with this configuration\n")
		return errCheckFailed
	}
	fmt.Fprintf(w, "\nOK: %d lists, %d entries, %d warnings\n", len(o.sources), entries, warnings)
	return nil
}

// checkLoad loads s as the agent's start does (blocklist.ParseFileWith with the agent's list
// options: its caps, its time budget, its User-Agent), from the last good download kept in
// -state-dir when there is one, as the agent serves it at start.
func checkLoad(o *options, s blocklist.Source, w io.Writer) (*blocklist.Parsed, error) {
	if cache, mod, ok := cachedDownload(o.stateDir, s); ok {
		// What the agent serves at start whatever the network says: checking it keeps
		// a feed host that is down from failing a start (ExecStartPre) that would work.
		fmt.Fprintf(w, "  the last good download, kept in %s (%s); not fetched again\n", cache, mod.UTC().Format(time.RFC3339))
		s.Path = cache
		s.Refresh, s.StaleAfter = 0, 0 // the download's options, not the file's
	}
	return blocklist.ParseFileWith(s, listOptions(o, nil))
}

// startupShortfalls says what the agent's start would refuse besides the lists and the server
// settings: an -api-token-file that does not read or is empty, a -socket-group that the unix:
// sockets cannot be given.
func startupShortfalls(o *options) []string {
	var msgs []string
	if o.apiAddr != "" && o.apiTokenFile != "" {
		if _, err := admin.ReadTokenFile(o.apiTokenFile); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if o.socketGroup != "" && slices.ContainsFunc(o.listen, func(a string) bool { return strings.HasPrefix(a, "unix:") }) {
		if _, err := server.SocketGroupID(o.socketGroup); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	return msgs
}

// fdReserve is the descriptors the agent needs besides HAProxy's connections: the
// connections of the metrics and admin listeners (each capped by internal/httpserve), and
// listeners, list files being read, the event loops' epoll and eventfd descriptors, stdio.
const fdReserve = 2*httpserve.DefaultMaxConns + 64

// fdShortfall says why -max-conns cannot be reached under the process's open-files limit
// (LimitNOFILE= in a unit), or "" when it can.
func fdShortfall(maxConns int) string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return ""
	}
	if uint64(maxConns)+fdReserve <= rl.Cur {
		return ""
	}
	return fmt.Sprintf("-max-conns %d needs about %d open files, the limit is %d (raise LimitNOFILE= or lower -max-conns)",
		maxConns, uint64(maxConns)+fdReserve, rl.Cur)
}

// cachedDownload returns where the agent keeps the last good download of a URL list under
// -state-dir (blocklist.Options.StateDir), when there is one.
func cachedDownload(stateDir string, s blocklist.Source) (path string, mod time.Time, ok bool) {
	if stateDir == "" || !s.IsURL() {
		return "", time.Time{}, false
	}
	path = filepath.Join(stateDir, "feeds", s.Name+".feed")
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return "", time.Time{}, false
	}
	return path, fi.ModTime(), true
}

func orDisabled(addr string) string {
	if addr == "" {
		return "disabled"
	}
	return addr
}
