package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/decision"
)

// The commands that talk to a running agent's admin API (and check, which also works
// offline). Their output is for scripts (fail2ban actions, cron jobs): exit status 0 on
// success, otherwise non-zero and one error line.
var commands = map[string]func(args []string, stdout io.Writer) error{
	"ban":   cmdBan,
	"unban": cmdUnban,
	"bans":  cmdBans,
	"check": cmdCheck,
}

const commandsUsage = `Commands (talk to a running agent's admin API; -api and -api-token-file, or the
environment's SPOAGUARD_API and SPOAGUARD_API_TOKEN_FILE or SPOAGUARD_API_TOKEN, say where):
  spoaguard ban ADDR [-ttl D] [-list NAME] [-allow] [-observe] [-comment S] [-allow-short]
  spoaguard unban ADDR [-missing-ok]
  spoaguard bans [-json]
  spoaguard check IP [-json]            ask the agent
  spoaguard check IP [-json] LIST FLAGS  load the lists named by -deny/-allow/-config and decide offline
`

// apiFlags are the flags every command shares.
type apiFlags struct {
	addr, tokenFile string
	json            bool
}

func newCommandFlags(name string, f *apiFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("spoaguard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.addr, "api", os.Getenv("SPOAGUARD_API"), "the agent's admin API `address`: IP:port or unix:/path")
	fs.StringVar(&f.tokenFile, "api-token-file", os.Getenv("SPOAGUARD_API_TOKEN_FILE"), "`file` holding the API's bearer token")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON answer")
	return fs
}

// parseCommand parses a command's flags around its one positional argument, which may come
// before or after them ("ban 192.0.2.1 -ttl 1h" and "ban -ttl 1h 192.0.2.1").
func parseCommand(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	name := strings.TrimPrefix(fs.Name(), "spoaguard ") // the error line starts "spoaguard: "
	if fs.NArg() == 0 {
		return "", fmt.Errorf("%s: want %s", name, what)
	}
	arg := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return arg, nil
}

// addrCommand parses a command whose one argument is an address (see parseCommand) and
// returns it with the admin API client.
func (f *apiFlags) addrCommand(fs *flag.FlagSet, args []string, what string) (string, *admin.Client, error) {
	addr, err := parseCommand(fs, args, what)
	if err != nil {
		return "", nil, err
	}
	c, err := f.client()
	return addr, c, err
}

func (f *apiFlags) client() (*admin.Client, error) {
	if f.addr == "" {
		return nil, errors.New("no admin API address: give -api or set SPOAGUARD_API")
	}
	if err := admin.CheckAddr(f.addr); err != nil {
		return nil, fmt.Errorf("admin API address %v", err)
	}
	token := os.Getenv("SPOAGUARD_API_TOKEN")
	if f.tokenFile != "" {
		var err error
		if token, err = admin.ReadTokenFile(f.tokenFile); err != nil {
			return nil, err
		}
	}
	return admin.NewClient(f.addr, token), nil
}

func cmdBan(args []string, stdout io.Writer) error {
	var f apiFlags
	var b admin.Ban
	var allow, allowShort bool
	fs := newCommandFlags("ban", &f)
	fs.Var(&b.TTL, "ttl", "expire after this long: a duration such as 4h, or a number of seconds (0: never)")
	fs.StringVar(&b.List, "list", "", "list `name` (default api)")
	fs.BoolVar(&allow, "allow", false, "an allow entry: never block ADDR")
	fs.BoolVar(&b.Observe, "observe", false, "report matches (the observed variable), never block")
	fs.StringVar(&b.Comment, "comment", "", "why")
	fs.BoolVar(&allowShort, "allow-short", false, "accept a prefix wider than the minimum")
	addr, c, err := f.addrCommand(fs, args, "ADDR (an address, CIDR or a-b range)")
	if err != nil {
		return err
	}
	b.Addr = addr
	if allow {
		b.Action = "allow"
	}
	got, err := c.BanWith(allowShort, b)
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(got)
	}
	verb := "added"
	if got.Updated > 0 {
		verb = "updated"
	}
	_, err = fmt.Fprintf(stdout, "%s %s\n", verb, entryKey(addr))
	return err
}

// entryKey is addr as the agent keeps and lists it: "10.0.0.5/24" is 10.0.0.0/24, a range
// spelling a prefix is that prefix, ::ffff:192.0.2.1 is 192.0.2.1. The agent has accepted
// addr, so it parses; addr as given otherwise.
func entryKey(addr string) string {
	e, err := blocklist.ParseEntry(addr)
	if err != nil {
		return addr
	}
	return e.String()
}

func cmdUnban(args []string, stdout io.Writer) error {
	var f apiFlags
	var missingOK bool
	fs := newCommandFlags("unban", &f)
	fs.BoolVar(&missingOK, "missing-ok", false, "succeed when ADDR is not banned (it expired, or was removed)")
	addr, c, err := f.addrCommand(fs, args, "ADDR, as it was banned")
	if err != nil {
		return err
	}
	got, err := c.Unban(addr)
	var se *admin.StatusError
	if missingOK && errors.As(err, &se) && se.Status == http.StatusNotFound {
		if f.json {
			return json.NewEncoder(stdout).Encode(got) // {"removed":0}
		}
		_, err = fmt.Fprintf(stdout, "not banned %s\n", entryKey(addr))
		return err
	}
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(got)
	}
	_, err = fmt.Fprintf(stdout, "removed %s\n", entryKey(addr))
	return err
}

func cmdBans(args []string, stdout io.Writer) error {
	var f apiFlags
	fs := newCommandFlags("bans", &f)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bans: unexpected argument %q", fs.Arg(0))
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if f.json {
		err = writeBansJSON(w, c)
	} else {
		err = writeBansTable(w, c)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// writeBansJSON writes the live entries as one JSON list, a page at a time.
func writeBansJSON(w *bufio.Writer, c *admin.Client) error {
	sep := "["
	err := c.BanPages(func(page []admin.Listed) error {
		for i := range page {
			b, err := json.Marshal(&page[i])
			if err != nil {
				return err
			}
			w.WriteString(sep)
			w.Write(b)
			sep = ","
		}
		return w.Flush() // out before the next page is asked for
	})
	if err != nil {
		return err
	}
	if sep == "[" {
		w.WriteString(sep) // no entries: []
	}
	_, err = w.WriteString("]\n")
	return err
}

// writeBansTable writes the live entries as a table, a page at a time: each column as wide
// as its widest cell so far and two spaces, the comment last, without trailing spaces. The
// widths start at what an IPv4 prefix, deny,observe and an expiry take, so that pages of such
// entries line up with the ones before them.
func writeBansTable(w *bufio.Writer, c *admin.Client) error {
	header := [5]string{"ADDR", "ACTION", "LIST", "EXPIRES", "COMMENT"}
	width := [4]int{len("255.255.255.255/32"), len("deny,observe"), len("LIST"), len(time.RFC3339) - len("07:00")}
	var rows [][5]string
	var line []byte
	first := true
	return c.BanPages(func(page []admin.Listed) error {
		rows = rows[:0]
		if first {
			rows, first = append(rows, header), false
		}
		for _, b := range page {
			exp := "never"
			if b.Expires != nil {
				exp = b.Expires.Format(time.RFC3339)
			}
			action := b.Action
			if b.Observe {
				action += ",observe"
			}
			rows = append(rows, [5]string{b.Addr, action, b.List, exp, tableComment(b.Comment)})
		}
		for _, r := range rows {
			for i := range width {
				width[i] = max(width[i], len(r[i]))
			}
		}
		for _, r := range rows {
			line = line[:0]
			for i := range width {
				line = append(line, r[i]...)
				for range width[i] - len(r[i]) + 2 {
					line = append(line, ' ')
				}
			}
			line = append(line, r[4]...)
			w.Write(bytes.TrimRight(line, " "))
			w.WriteByte('\n')
		}
		return w.Flush() // out before the next page is asked for
	})
}

// tableComment is a comment as the bans table prints it: as it is, or quoted (Go syntax) when
// it holds a character that is not printable, so that a newline or a tab in a comment cannot
// make another row or column for the scripts that read the table.
func tableComment(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return strconv.Quote(s)
		}
	}
	return s
}

// cmdCheck explains the decision on an address: through the API, or offline, from the lists
// named by the agent's own flags when any of -deny, -allow or -config is given.
func cmdCheck(args []string, stdout io.Writer) error {
	var f apiFlags
	fs := newCommandFlags("check", &f)
	var rest []string
	ip, err := parseCheckArgs(fs, args, &rest)
	if err != nil {
		return err
	}
	var c admin.Check
	if len(rest) > 0 {
		if c, err = checkOffline(ip, rest); err != nil {
			return err
		}
	} else {
		cl, err := f.client()
		if err != nil {
			return err
		}
		if c, err = cl.Check(ip); err != nil {
			return err
		}
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(c)
	}
	return printCheck(stdout, c)
}

// parseCheckArgs takes check's own flags and its IP; the agent's list flags, from the first
// one on, go to rest, but for -json, which is check's wherever it is, and -h.
func parseCheckArgs(fs *flag.FlagSet, args []string, rest *[]string) (string, error) {
	var own []string
	for i, a := range args {
		name := flagName(a)
		if strings.HasPrefix(a, "-") && fs.Lookup(name) == nil && name != "h" && name != "help" {
			for _, a := range args[i:] {
				if flagName(a) == "json" {
					own = append(own, a)
				} else {
					*rest = append(*rest, a)
				}
			}
			break
		}
		own = append(own, a)
	}
	return parseCommand(fs, own, "IP")
}

// flagName is the name of the flag a names ("-json=true" and "--json" name json), or "" when
// a is not a flag.
func flagName(a string) string {
	if !strings.HasPrefix(a, "-") {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return name
}

func checkOffline(ip string, agentArgs []string) (admin.Check, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return admin.Check{}, fmt.Errorf("check: %q is not an IP address", ip)
	}
	o, err := parseFlags(agentArgs, io.Discard)
	if err != nil {
		return admin.Check{}, err
	}
	mgr, err := newManager(o, slog.New(slog.DiscardHandler))
	if err != nil {
		return admin.Check{}, fmt.Errorf("loading lists: %w", err)
	}
	observe := observeSet(o.sources)
	h, err := decision.New(mgr, decision.Config{Observe: func(l string) bool { return observe[l] }})
	if err != nil {
		return admin.Check{}, err
	}
	return admin.CheckOf(h.Explain(a)), nil
}

func printCheck(w io.Writer, c admin.Check) error {
	verdict := "allowed"
	if c.Blocked {
		verdict = fmt.Sprintf("blocked list=%s lists=%s", c.List, strings.Join(c.Lists, ","))
	}
	if len(c.Observed) > 0 {
		verdict += " observed=" + strings.Join(c.Observed, ",")
	}
	fmt.Fprintf(w, "%s %s\n", c.IP, verdict)
	for _, m := range c.Matches {
		line := fmt.Sprintf("  %s %s %s", m.List, m.Action, m.Source)
		if m.Observe {
			line += " observe"
		}
		if m.Addr != "" {
			line += " " + m.Addr
		}
		if m.Expires != nil {
			line += " expires " + m.Expires.Format(time.RFC3339)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}
