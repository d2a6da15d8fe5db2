package main

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// probeAddrs returns the addresses both agents are asked about: the first address of data
// lines of the feeds (each list's hits; at most 300 lines a file, spread over it), their
// neighbours, and random addresses.
func probeAddrs(t *testing.T, files ...string) []netip.Addr {
	var out []netip.Addr
	for _, f := range files {
		var addrs []netip.Addr
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			field := strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == '/' || r == '\t' || r == ' ' || r == '-' })
			if len(field) == 0 {
				continue
			}
			if a, err := netip.ParseAddr(field[0]); err == nil {
				addrs = append(addrs, a)
			}
		}
		fh.Close()
		stride := len(addrs)/300 + 1
		for i := 0; i < len(addrs); i += stride {
			out = append(out, addrs[i], addrs[i].Prev(), addrs[i].Next())
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		out = append(out, netip.AddrFrom4(b))
	}
	return append(out, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.168.7.7"), netip.MustParseAddr("2001:db8::1"))
}

func TestConfigFileServesTheFlagsDecisions(t *testing.T) {
	cfg, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "config", "spoaguard.yaml"))
	feeds := filepath.Join(filepath.Dir(cfg), "..", "feeds")
	// The flags' form cannot hold the allow list's path, which has a comma: use a copy.
	office := filepath.Join(t.TempDir(), "office.txt")
	data, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "office, lab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(office, data, 0o644); err != nil {
		t.Fatal(err)
	}
	firehol := filepath.Join(feeds, "firehol_level1_2021-06-28.netset")
	ipsum := filepath.Join(feeds, "stamparm_ipsum.txt")
	dshield := filepath.Join(feeds, "dshield_block_2026-08-22.txt")

	byFile := startAgent(t, "-config", cfg).dial(t)
	byFlags := startAgent(t, "-loops", "2", "-reload-interval", "1h", "-message", "check-client-ip",
		"-deny", "firehol="+firehol, "-deny", "ipsum="+ipsum+",format=ipsum,min-count=3",
		"-deny", "dshield="+dshield+",format=range", "-allow", "office="+office).dial(t)

	verdicts := map[string]int{}
	for _, ip := range probeAddrs(t, firehol, ipsum, dshield, office) {
		fb, fl := byFile.decide(ip)
		gb, gl := byFlags.decide(ip)
		if fb != gb || fl != gl {
			t.Fatalf("%s: config file says blocked=%v list=%q, flags say blocked=%v list=%q", ip, fb, fl, gb, gl)
		}
		verdicts[fl]++
	}
	// The probe meets every list and the allow list, so that agreeing means something.
	for _, v := range []string{"", "firehol", "ipsum", "dshield"} {
		if verdicts[v] == 0 {
			t.Errorf("no probe address got list=%q: %v", v, verdicts)
		}
	}
	if b, _ := byFile.decide(netip.MustParseAddr("10.1.2.3")); b {
		t.Error("10.1.2.3 (firehol's 10.0.0.0/8, but on the allow list) is blocked")
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "l.txt")
	testutil.WriteFile(t, list, "192.0.2.1\n")
	deny := "lists:\n  - {name: l, kind: deny, path: " + list + "}\n"
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown key", deny + "listn: 127.0.0.1:1\n", nil, `:3: unknown key "listn"`},
		{"value the flag refuses", deny + "loops: many\n", nil, ":3: loops: \"many\": parse error: want an integer"},
		{"value its check refuses", "max-shrink: 2\n" + deny, nil, ":1: -max-shrink 2"},
		{"nice out of range", "background-nice: 25\n" + deny, nil, ":1: -background-nice 25"},
		{"zero connections", deny + "max-conns: 0\n", nil, ":3: -max-conns 0: must be positive"},
		{"zero list timeout", "list-load-timeout: 0s\n" + deny, nil, ":1: -list-load-timeout 0s: must be positive"},
		{"zero write timeout", deny + "write-timeout: 0s\n", nil, ":3: -write-timeout 0s: must be positive"},
		{"negative loops", deny + "loops: -2\n", nil, ":3: -loops -2: must not be negative"},
		{"redis URL the agent refuses", deny + "redis: http://10.0.0.5:6379/0\n", nil, `:3: -redis: redis URL "http://10.0.0.5:6379/0"`},
		{"scope", "\n\nscope: global\n" + deny, nil, `:3: -scope "global"`},
		{"no lists", "loops: 1\n", nil, "c.yaml: no deny entry in lists (and no -deny list, -api or -redis for live bans)"},
		{"empty file", "", nil, "c.yaml: no deny entry in lists"},
		{"list name twice", deny + "  - {name: l, kind: allow, path: x}\n", nil, `:3: list name "l" is used twice`},
		{"command-line-only key", deny + "config: other.yaml\n", nil, ":3: config: only on the command line"},
		{"sequence for a single value", deny + "loops: [1, 2]\n", nil, ":3: loops: takes one value"},
		{"empty value", deny + "metrics:\n", nil, `:3: metrics: no value (write "" for an empty one)`},
		{"not yaml", "loops: [1\n", nil, "yaml: line"},
		{"missing file", "", []string{"-config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			testutil.WriteFile(t, path, tc.file)
			args := tc.args
			if args == nil {
				args = []string{"-config", path}
			}
			_, err := parseFlags(args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCommandLineOverridesTheFile(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "l.txt")
	testutil.WriteFile(t, list, "192.0.2.1\n")
	path := filepath.Join(dir, "c.yaml")
	file := "loops: 3\nlisten: [127.0.0.1:1, 127.0.0.1:2]\nmetrics: \"\"\nlists:\n  - {name: l, kind: deny, path: l.txt}\n"
	testutil.WriteFile(t, path, file)
	o, err := parseFlags([]string{"-config", path, "-loops", "5"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.loops != 5 || len(o.listen) != 2 || o.listen[1] != "127.0.0.1:2" || o.metricsAddr != "" {
		t.Errorf("loops=%d listen=%q metrics=%q, want 5 (command line), the file's two listeners, no metrics", o.loops, o.listen, o.metricsAddr)
	}
	if len(o.sources) != 1 || o.sources[0].Path != list {
		t.Errorf("sources %+v, want l.txt resolved against the file's directory", o.sources)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	testutil.WriteFile(t, good, "192.0.2.1\nnot an address\n10.2.0.0/16\n")
	empty := filepath.Join(dir, "token")
	testutil.WriteFile(t, empty, "\n")
	for _, tc := range []struct {
		name   string
		args   []string
		err    error
		output []string
	}{
		{"good lists with warnings", []string{"-check", "-deny", "a=" + good, "-allow", "b=" + good},
			nil, []string{"list a (deny) " + good, "2 entries, 1 lines skipped", `skipped line 2: `,
				"warning: covers addresses in 10.0.0.0/8 (private)", "list b (allow)", "OK: 2 lists, 4 entries, 1 warnings"}},
		{"an observed list is not warned about", []string{"-check", "-deny", "a=" + good + ",observe"},
			nil, []string{"list a (deny, observe only)", "OK: 1 lists, 2 entries, 0 warnings"}},
		{"a list that does not load", []string{"-check", "-deny", "a=" + filepath.Join(dir, "missing.txt")},
			errCheckFailed, []string{"error: ", "missing.txt", "FAILED"}},
		{"a listen address the agent refuses", []string{"-check", "-listen", "1", "-deny", "a=" + good},
			errCheckFailed, []string{`error: server: listen address "1"`, "FAILED"}},
		{"a token file that is missing", []string{"-check", "-api", "127.0.0.1:0", "-api-token-file", filepath.Join(dir, "none"), "-deny", "a=" + good},
			errCheckFailed, []string{"error: -api-token-file: open " + filepath.Join(dir, "none"), "FAILED"}},
		{"a token file that is empty", []string{"-check", "-api", "127.0.0.1:0", "-api-token-file", empty, "-deny", "a=" + good},
			errCheckFailed, []string{"error: -api-token-file " + empty + ": empty", "FAILED"}},
		{"an unknown socket group", []string{"-check", "-listen", "unix:" + filepath.Join(dir, "s.sock"), "-socket-group", "no-such-group-spoaguard", "-deny", "a=" + good},
			errCheckFailed, []string{`error: socket group "no-such-group-spoaguard": no such group`, "FAILED"}},
		{"a socket group without a unix socket", []string{"-check", "-socket-group", "no-such-group-spoaguard", "-deny", "a=" + good},
			nil, []string{"OK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tc.args, &out, &bytes.Buffer{}, nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("run = %v, want %v\n%s", err, tc.err, &out)
			}
			for _, want := range tc.output {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, &out)
				}
			}
			if tc.err == nil {
				return
			}
			// The start fails, and says what -check said.
			args := append([]string{"-metrics", ""}, tc.args[1:]...)
			if !slices.Contains(args, "-listen") {
				args = append(args, "-listen", "127.0.0.1:0")
			}
			err = run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{}, nil)
			if want := strings.TrimPrefix(tc.output[0], "error: "); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("the start: %v, want an error about %q", err, want)
			}
		})
	}
	// A URL list with a download kept in -state-dir: -check reads that copy, as the agent
	// serves it at start, and does not fetch (here the URL refuses every connection).
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "feeds"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "feeds", "u.feed"), []byte("192.0.2.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		state string
		err   error
		want  string
	}{{state, nil, "the last good download, kept in " + filepath.Join(state, "feeds", "u.feed")}, {t.TempDir(), errCheckFailed, "error: "}} {
		var out bytes.Buffer
		err := run(t.Context(), []string{"-check", "-state-dir", tc.state, "-deny", "u=http://127.0.0.1:1/u.txt"}, &out, &bytes.Buffer{}, nil)
		if !errors.Is(err, tc.err) || !strings.Contains(out.String(), tc.want) {
			t.Errorf("-check of a URL list, state dir %s: %v, want %v and %q in:\n%s", tc.state, err, tc.err, tc.want, &out)
		}
	}
	// The download's options do not apply to reading the kept copy.
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check", "-state-dir", state, "-deny", "u=http://127.0.0.1:1/u.txt,refresh=1h,stale-after=48h"}, &out, &bytes.Buffer{}, nil); err != nil {
		t.Errorf("-check of a URL list with refresh and stale-after: %v\n%s", err, &out)
	}

	// A command line that does not parse is a failure, not a usage error, under -check.
	if err := run(t.Context(), []string{"-check", "-deny", "x"}, &bytes.Buffer{}, &bytes.Buffer{}, nil); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("-check with a bad -deny: %v, want a plain error (exit status 1)", err)
	}
}

// TestCheckAppliesTheListCaps: -check loads each list under the caps the agent's start does,
// -list-max-bytes, -list-max-entries and -list-load-timeout or the list's own, and says
// FAILED where the agent would refuse to start.
func TestCheckAppliesTheListCaps(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "l.txt")
	testutil.WriteFile(t, list, "192.0.2.1\n192.0.2.2\n192.0.2.3\n") // 30 bytes, 3 entries
	conf := filepath.Join(dir, "c.yaml")
	for _, tc := range []struct {
		name, settings, options string
		err                     error
		want                    string
	}{
		{"bytes", "list-max-bytes: 20\n", "", errCheckFailed, "the cap is 20"},
		{"entries", "list-max-entries: 2\n", "", errCheckFailed, "more than 2 entries"},
		{"time", "list-load-timeout: 1ns\n", "", errCheckFailed, "time budget"},
		{"the list's own bytes", "list-max-bytes: 20\n", ", options: {max-bytes: 100}", nil, "OK"},
		{"the list's own entries", "list-max-entries: 2\n", ", options: {max-entries: 3}", nil, "OK"},
		{"the list's own cap first", "", ", options: {max-bytes: 20}", errCheckFailed, "the cap is 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.WriteFile(t, conf, tc.settings+"lists:\n  - {name: l, kind: deny, path: "+list+tc.options+"}\n")
			var out bytes.Buffer
			err := run(t.Context(), []string{"-check", "-config", conf}, &out, &bytes.Buffer{}, nil)
			if !errors.Is(err, tc.err) || !strings.Contains(out.String(), tc.want) {
				t.Errorf("-check: %v, want %v and %q in:\n%s", err, tc.err, tc.want, &out)
			}
			if tc.err == nil {
				return
			}
			err = run(t.Context(), []string{"-listen", "127.0.0.1:0", "-metrics", "", "-config", conf}, &bytes.Buffer{}, &bytes.Buffer{}, nil)
			if err == nil {
				t.Errorf("the agent starts where -check says it would not")
			}
		})
	}
}

// TestSIGHUPReReadsTheConfig adds a list, removes one, and changes a setting that needs a
// restart, all with SIGHUP.
func TestSIGHUPReReadsTheConfig(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.txt": "192.0.2.1\n", "b.txt": "192.0.2.2\n"} {
		testutil.WriteFile(t, filepath.Join(dir, name), body)
	}
	cfg := filepath.Join(dir, "spoaguard.yaml")
	write := func(body string) {
		testutil.WriteFile(t, cfg, body)
	}
	write("reload-interval: 1h\nlists:\n  - {name: a, kind: deny, path: a.txt}\n")
	agent := startAgent(t, "-config", cfg)
	c := agent.dial(t)
	one, two := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if b, l := c.decide(one); !b || l != "a" {
		t.Fatalf("192.0.2.1: blocked=%v list=%q, want list a", b, l)
	}

	write("reload-interval: 1h\nmax-conns: 7\nmax-shrink: 0.9\nlists:\n  - {name: b, kind: deny, path: b.txt}\n")
	agent.reload(t, "list b not served after SIGHUP", func() bool { b, l := c.decide(two); return b && l == "b" })
	agent.waitFor(t, "no log of the max-shrink applied", func() bool {
		return strings.Contains(agent.logs.String(), `msg="SIGHUP: setting changed" setting=max-shrink was=0.5 now=0.9`)
	})
	if b, _ := c.decide(one); b {
		t.Error("192.0.2.1 still blocked after list a was removed")
	}
	agent.waitFor(t, "no restart warning for max-conns", func() bool {
		return strings.Contains(agent.logs.String(), "needs a restart to apply") && strings.Contains(agent.logs.String(), "setting=max-conns")
	})
	m := agent.scrape(t)
	checkExposition(t, m)
	if !strings.Contains(m, `spoaguard_list_entries{list="b"} 1`) || strings.Contains(m, `spoaguard_list_entries{list="a"}`) ||
		strings.Contains(m, `spoaguard_list_load_failures_total{list="a"}`) || !strings.Contains(m, "spoaguard_reloads_total 1\n") {
		t.Errorf("metrics after the swap, want list b's series, none of a's, and one reload:\n%s", m)
	}

	// A config that does not parse changes nothing.
	write("lists: [\n")
	agent.reload(t, "no error logged for a bad config", func() bool { return strings.Contains(agent.logs.String(), "configuration not applied") })
	if b, l := c.decide(two); !b || l != "b" {
		t.Errorf("after a bad config: blocked=%v list=%q, want list b still served", b, l)
	}
}

// TestSIGHUPNotAppliedIsReported: a SIGHUP whose file does not parse, or whose lists do not
// load, leaves the running configuration in force, and /readyz and the metrics say so until a
// SIGHUP applies the file; one that changes a setting needing a restart names it.
func TestSIGHUPNotAppliedIsReported(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a.txt"), "192.0.2.1\n")
	cfg := filepath.Join(dir, "spoaguard.yaml")
	good := "reload-interval: 1h\nlists:\n  - {name: a, kind: deny, path: a.txt}\n"
	testutil.WriteFile(t, cfg, good)
	agent := startAgent(t, "-config", cfg)
	readyz := func() string { _, body := agent.get(t, "/readyz"); return body }
	if body := readyz(); !strings.Contains(body, "config: ready: in force: "+cfg+"\n") {
		t.Fatalf("/readyz at start:\n%s", body)
	}
	scraped := func(want ...string) func() bool {
		return func() bool {
			m := agent.scrape(t)
			for _, w := range want {
				if !strings.Contains(m, w+"\n") {
					return false
				}
			}
			return true
		}
	}
	agent.waitFor(t, "the config metrics at start", scraped(`spoaguard_config_last_reload_successful 1`,
		`spoaguard_config_reloads_total{result="failed"} 0`))

	testutil.WriteFile(t, cfg, good+"lsten: 127.0.0.1:1\n")
	agent.reload(t, "a file that does not parse, not reported", func() bool {
		return strings.Contains(readyz(), "config: degraded: not applied: the SIGHUP at ")
	})
	if body := readyz(); !strings.HasPrefix(body, "degraded\n") || !strings.Contains(body, cfg+`:4: unknown key "lsten"`) {
		t.Errorf("/readyz after a file that does not parse:\n%s", body)
	}
	agent.waitFor(t, "the metrics of a file not applied", scraped(`spoaguard_config_last_reload_successful 0`,
		`spoaguard_config_reloads_total{result="failed"} 1`))

	testutil.WriteFile(t, cfg, good+"  - {name: b, kind: deny, path: missing.txt}\n")
	agent.reload(t, "lists that do not load, not reported", func() bool {
		return strings.Contains(readyz(), "the configuration's lists did not load: b: ")
	})

	testutil.WriteFile(t, cfg, "max-conns: 7\n"+good)
	agent.reload(t, "a file applied, not reported", func() bool {
		return strings.Contains(readyz(), "config: ready: in force: "+cfg+"; changed settings that need a restart: max-conns\n")
	})
	agent.waitFor(t, "the metrics of a file applied", scraped(`spoaguard_config_last_reload_successful 1`,
		`spoaguard_config_reloads_total{result="applied"} 1`, `spoaguard_config_reloads_total{result="failed"} 2`))
	checkExposition(t, agent.scrape(t))
}

// TestSIGHUPLoadsNewListsUnderTheRunningSettings: a SIGHUP that changes the lists and a
// setting that needs a restart loads the new lists under the running setting, as its
// warning says.
func TestSIGHUPLoadsNewListsUnderTheRunningSettings(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a.txt"), "192.0.2.1\n")
	testutil.WriteFile(t, filepath.Join(dir, "b.txt"), "192.0.2.2\n192.0.2.3\n192.0.2.4\n")
	cfg := filepath.Join(dir, "spoaguard.yaml")
	testutil.WriteFile(t, cfg, "reload-interval: 1h\nlists:\n  - {name: a, kind: deny, path: a.txt}\n")
	agent := startAgent(t, "-config", cfg)
	c := agent.dial(t)
	testutil.WriteFile(t, cfg, "reload-interval: 1h\nlist-max-bytes: 16\nlists:\n  - {name: a, kind: deny, path: a.txt}\n"+
		"  - {name: b, kind: deny, path: b.txt}\n")
	agent.reload(t, "list b (30 bytes, under the running -list-max-bytes) not served after SIGHUP", func() bool {
		b, l := c.decide(netip.MustParseAddr("192.0.2.3"))
		return b && l == "b"
	})
	if !strings.Contains(agent.logs.String(), "setting=list-max-bytes") {
		t.Errorf("no restart warning for list-max-bytes\n%s", agent.logs)
	}
}

// TestShippedConfigParses keeps the package's default config in step with the flags (the
// package test runs -check on it once installed).
func TestShippedConfigParses(t *testing.T) {
	o, err := parseFlags([]string{"-config", filepath.Join("..", "..", "packaging", "spoaguard.yaml")}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.sources) != 1 || o.sources[0].Path != "/etc/spoaguard/deny.txt" {
		t.Errorf("sources %+v", o.sources)
	}
	// -check on the shipped config and list as installed, with /etc/spoaguard, /var/lib and
	// /run moved into a temporary directory.
	dir := t.TempDir()
	shipped, err := os.ReadFile(filepath.Join("..", "..", "packaging", "spoaguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := os.ReadFile(filepath.Join("..", "..", "packaging", "deny.txt"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "deny.txt"), string(deny))
	cfg := strings.NewReplacer("/etc/spoaguard/", dir+"/", "/var/lib/spoaguard", dir+"/state", "/run/spoaguard/", dir+"/").Replace(string(shipped))
	testutil.WriteFile(t, filepath.Join(dir, "spoaguard.yaml"), cfg)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-check", "-config", filepath.Join(dir, "spoaguard.yaml")}, &out, &bytes.Buffer{}, nil); err != nil {
		t.Errorf("-check on the shipped config: %v\n%s", err, &out)
	}
}

func TestFDShortfall(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		t.Skipf("open-files limit %d: %v", rl.Cur, err)
	}
	if msg := fdShortfall(int(rl.Cur)); !strings.Contains(msg, "LimitNOFILE") {
		t.Errorf("fdShortfall(the limit) = %q, want a warning", msg)
	}
	if msg := fdShortfall(1); msg != "" {
		t.Errorf("fdShortfall(1) = %q, want none", msg)
	}
}

// TestShutdownDoesNotWaitForASIGHUPsDownload: a SIGHUP whose configuration adds a URL list
// loads it before it replaces the running lists, and a download may take minutes (a feed's
// timeout is a minute an attempt). A shutdown meanwhile ends within -shutdown-timeout.
func TestShutdownDoesNotWaitForASIGHUPsDownload(t *testing.T) {
	asked, release := make(chan struct{}, 1), make(chan struct{})
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-release // a feed that never answers while the test runs
	}))
	defer feed.Close()
	defer close(release)
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a.txt"), "192.0.2.1\n")
	cfg := filepath.Join(dir, "spoaguard.yaml")
	testutil.WriteFile(t, cfg, "reload-interval: 1h\nshutdown-timeout: 1s\nlists:\n  - {name: a, kind: deny, path: a.txt}\n")
	agent := startAgent(t, "-config", cfg)
	testutil.WriteFile(t, cfg, "reload-interval: 1h\nshutdown-timeout: 1s\nlists:\n  - {name: a, kind: deny, path: a.txt}\n"+
		"  - {name: slow, kind: deny, path: \""+feed.URL+"/list.txt\"}\n")
	agent.hup <- syscall.SIGHUP
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatalf("the SIGHUP did not ask the feed for the new list\n%s", agent.logs)
	}
	agent.stop()
	select {
	case err := <-agent.err:
		agent.err <- err // for the cleanup
	case <-time.After(30 * time.Second): // the download alone would hold it for minutes
		t.Fatalf("the shutdown waits for the SIGHUP's download\n%s", agent.logs)
	}
	if !strings.Contains(agent.logs.String(), "still loads the lists") {
		t.Errorf("the shutdown does not say that it left a load behind\n%s", agent.logs)
	}
}
