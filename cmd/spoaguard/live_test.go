package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/blocklist"
	"github.com/spoaguard/spoaguard/internal/testutil"
	"github.com/spoaguard/spoaguard/live"
	"github.com/spoaguard/spoaguard/state"
)

// runCommand runs one of the commands as the command line does and returns its output.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, io.Discard, nil)
	return out.String(), err
}

// TestLiveBansThroughTheCommands bans, checks, lists and unbans through the commands and a
// running agent's API on a unix socket, with every decision taken over SPOP; then restarts
// the agent on the same state directory and finds the unexpired bans again.
func TestLiveBansThroughTheCommands(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	trial := filepath.Join(dir, "trial.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	os.WriteFile(trial, []byte("198.51.100.0/24\n"), 0o644)
	sock := "unix:" + filepath.Join(dir, "api.sock")
	state := filepath.Join(dir, "state")
	args := []string{"-deny", "drop=" + list, "-deny", "trial=" + trial + ",observe", "-state-dir", state, "-api", sock}
	a := startAgent(t, args...)
	ac := a.dial(t)
	ip := netip.MustParseAddr("203.0.113.7")

	steps := []struct {
		args    []string
		out     string // in the output
		blocked bool   // 203.0.113.7 afterwards
		list    string
	}{
		{[]string{"ban", "203.0.113.7", "-ttl", "1h", "-comment", "ssh brute force"}, "added 203.0.113.7", true, "api"},
		{[]string{"ban", "-list", "abuse", "203.0.113.7"}, "updated 203.0.113.7", true, "abuse"},
		{[]string{"check", "203.0.113.7"}, "203.0.113.7 blocked list=abuse lists=abuse\n  abuse deny live 203.0.113.7", true, "abuse"},
		{[]string{"ban", "203.0.113.0/24", "-allow"}, "added 203.0.113.0/24", false, ""},
		{[]string{"bans"}, "ADDR                ACTION        LIST   EXPIRES               COMMENT\n203.0.113.0/24      allow         api    never\n203.0.113.7         deny          abuse  never\n", false, ""},
		{[]string{"unban", "203.0.113.0/24"}, "removed 203.0.113.0/24", true, "abuse"},
		{[]string{"check", "-json", "198.51.100.1"}, `"observed":["trial"]`, true, "abuse"},
		{[]string{"unban", "203.0.113.7"}, "removed 203.0.113.7", false, ""},
		{[]string{"ban", "203.0.113.7", "-ttl", "1h"}, "added", true, "api"},
		{[]string{"ban", "198.51.100.77/24", "-list", "scanners"}, "added 198.51.100.0/24\n", true, "api"}, // what it covers, as bans lists it
		{[]string{"unban", "198.51.100.0-198.51.100.255"}, "removed 198.51.100.0/24\n", true, "api"},
	}
	for _, s := range steps {
		out, err := runCommand(t, append(s.args, "-api", sock)...)
		if err != nil || !strings.Contains(out, s.out) {
			t.Fatalf("spoaguard %s: %v\n%s\nwant %q", strings.Join(s.args, " "), err, out, s.out)
		}
		if blocked, l := ac.decide(ip); blocked != s.blocked || l != s.list {
			t.Fatalf("after spoaguard %s: blocked=%v list=%q, want %v %q", strings.Join(s.args, " "), blocked, l, s.blocked, s.list)
		}
	}
	for _, want := range []string{`spoaguard_live_entries{list="api",action="deny",observe="false"} 1`,
		`spoaguard_live_changes_total{op="add"} 4`, `spoaguard_live_changes_total{op="delete"} 3`,
		`spoaguard_api_requests_total{route="POST /v1/bans",status="200"} 5`} {
		if m := a.scrape(t); !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, err := runCommand(t, "unban", "203.0.113.99", "-api", sock); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unban of an address that is not banned: %v", err)
	}
	a.stop()
	<-a.err
	a.err <- nil

	b := startAgent(t, args...)
	if blocked, l := b.dial(t).decide(ip); !blocked || l != "api" {
		t.Errorf("after a restart: blocked=%v list=%q, want the ban kept", blocked, l)
	}
	if !strings.Contains(b.logs.String(), "live set loaded") {
		t.Errorf("the start-up log does not report the live set:\n%s", b.logs)
	}
}

// TestAStartThatFailsLeavesNoAPI: a -listen address already in use fails the start, and the
// admin API bound before it is closed, not left taking bans.
func TestAStartThatFailsLeavesNoAPI(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sock := filepath.Join(dir, "api.sock")
	err = run(t.Context(), []string{"-listen", busy.Addr().String(), "-metrics", "", "-api", "unix:" + sock, "-deny", "drop=" + list},
		io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a busy -listen address: %v", err)
	}
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Error("the admin API still answers after the start failed")
	}
}

// TestBansTableHasARowAnEntry: a comment holding a newline or a tab is quoted, so that the
// table scripts read keeps a row an entry and five columns. The API refuses such a comment; a
// state file written by another version, or a fleet's Redis, may still hold one.
func TestBansTableHasARowAnEntry(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	sock := "unix:" + filepath.Join(dir, "api.sock")
	comment := "x\n198.51.100.1\tdeny\tapi\tnever\ty"
	stateDir := filepath.Join(dir, "state")
	db, err := state.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := blocklist.ParseEntry("203.0.113.7")
	err = db.Apply([]*live.Entry{{Addr: addr, List: live.DefaultList, Comment: comment, Created: time.Now()}}, nil)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, "-deny", "drop="+list, "-api", sock, "-state-dir", stateDir)
	out, err := runCommand(t, "bans", "-api", sock)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "203.0.113.7 ") || !strings.Contains(lines[1], strconv.Quote(comment)) {
		t.Errorf("bans printed %d lines, want the header and 203.0.113.7 with its comment quoted:\n%s", len(lines), out)
	}
}

func TestCheckOfflineLoadsTheListFlags(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	out, err := runCommand(t, "check", "192.0.2.9", "-deny", "drop="+list, "-deny", "trial="+list+",observe")
	if err != nil || out != "192.0.2.9 blocked list=drop lists=drop observed=trial\n  drop deny file\n  trial deny file observe\n" {
		t.Errorf("offline check: %v\n%s", err, out)
	}
	out, err = runCommand(t, "check", "192.0.2.9", "-deny", "drop="+list, "-json")
	if err != nil || !strings.HasPrefix(out, `{"ip":"192.0.2.9","blocked":true,"list":"drop"`) {
		t.Errorf("offline check with -json after the list flags: %v\n%s", err, out)
	}
}

func TestLiveStartupErrors(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	badState := filepath.Join(dir, "bad")
	os.MkdirAll(badState, 0o700)
	os.WriteFile(filepath.Join(badState, "live.db"), bytes.Repeat([]byte("garbage!"), 1024), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-state-dir", badState}, filepath.Join(badState, "live.db")},
		{[]string{"-api", "127.0.0.1:0"}, "needs -api-token-file"},
		{[]string{"-api", "127.0.0.1:0", "-api-token-file", filepath.Join(dir, "none")}, "api-token-file"},
		{[]string{"-allow", "x=" + list + ",observe"}, "observe"},
		{[]string{"-var-lists", "list"}, "different"},
	} {
		args := append([]string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", "drop=" + list}, tc.args...)
		err := run(context.Background(), args, io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %q", tc.args, err, tc.want)
		}
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run(ctx, []string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", "drop=" + list}, io.Discard, &logs, nil)
	if !strings.Contains(logs.String(), "will not survive a restart") {
		t.Errorf("without -state-dir the log does not warn:\n%s", logs.String())
	}
	logs.Reset()
	run(ctx, []string{"-listen", "127.0.0.1:0", "-metrics", "", "-deny", "drop=" + list, "-redis", "redis://127.0.0.1:1/0"}, io.Discard, &logs, nil)
	if l := logs.String(); strings.Contains(l, "will not survive a restart") || !strings.Contains(l, "live bans come from Redis at start") {
		t.Errorf("with -redis and without -state-dir the log does not say where the bans come from:\n%s", l)
	}
}

// With -live-max-entries, a ban past the limit fails with its reason, the address stays
// allowed, and the limit is in the metrics.
func TestBansPastTheLiveLimitFail(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	sock := "unix:" + filepath.Join(dir, "api.sock")
	a := startAgent(t, "-deny", "drop="+list, "-api", sock, "-live-max-entries", "1")
	if _, err := runCommand(t, "ban", "203.0.113.7", "-api", sock); err != nil {
		t.Fatal(err)
	}
	_, err := runCommand(t, "ban", "203.0.113.8", "-api", sock)
	if err == nil || !strings.Contains(err.Error(), "507") || !strings.Contains(err.Error(), "the live set is full") {
		t.Fatalf("a ban past -live-max-entries 1: %v, want the 507 and its reason", err)
	}
	if blocked, _ := a.dial(t).decide(netip.MustParseAddr("203.0.113.8")); blocked {
		t.Error("the refused ban is in force")
	}
	m := a.scrape(t)
	for _, want := range []string{"spoaguard_live_entries_limit 1", `spoaguard_live_refused_total{reason="full"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// With -background-nice, the live set's thread and the admin API's run at that nice value,
// and the API works as without it: a ban is in force when it answers, an unban too.
func TestBackgroundNiceLowersTheAPIAndTheLiveSet(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("per-thread priorities are Linux's")
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	sock := "unix:" + filepath.Join(dir, "api.sock")
	a := startAgent(t, "-deny", "drop="+list, "-api", sock, "-background-nice", "9")
	addr := netip.MustParseAddr("203.0.113.9")
	if _, err := runCommand(t, "ban", addr.String(), "-api", sock); err != nil {
		t.Fatal(err)
	}
	if blocked, _ := a.dial(t).decide(addr); !blocked {
		t.Error("the ban is not in force")
	}
	if n := threadsAtNice(t, 9); n < 2 {
		t.Errorf("%d threads at nice 9, want the live set's and an API request's at least", n)
	}
	if n := threadsAtNice(t, 0); n == 0 {
		t.Error("no thread left at nice 0: the event loops were lowered too")
	}
	if _, err := runCommand(t, "unban", addr.String(), "-api", sock); err != nil {
		t.Fatal(err)
	}
	if blocked, _ := a.dial(t).decide(addr); blocked {
		t.Error("the unban is not in force")
	}
	if m := a.scrape(t); !strings.Contains(m, "spoaguard_background_nice 9") || !strings.Contains(m, "spoaguard_background_threads ") {
		t.Errorf("metrics lack the background priority's:\n%s", m)
	}
}

// The tests' main goroutine keeps the main thread, so that none of the goroutines the agents
// lower runs there: a locked goroutine that returns on the main thread leaves it parked for
// good at the nice value it set (the runtime never ends that thread), where threadsAtNice
// would count it.
func init() { runtime.LockOSThread() }

// threadsAtNice counts the threads of this process whose nice value is nice.
func threadsAtNice(t *testing.T, nice int) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "stat"))
		if err != nil {
			continue // the thread has ended
		}
		// Fields after the command's closing parenthesis: state is the 3rd field, nice the 19th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 16 && f[16] == strconv.Itoa(nice) {
			n++
		}
	}
	return n
}

// startTokenAgent starts an agent serving the admin API on TCP with a token, and returns its
// directory, the API's address, the token file and the agent.
func startTokenAgent(t *testing.T) (string, string, string, *testAgent) {
	t.Helper()
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret-token-for-the-test\n"), 0o600)
	api := freeAddr(t)
	return dir, api, tokenFile, startAgent(t, "-deny", "drop="+list, "-api", api, "-api-token-file", tokenFile)
}

// TestCommandsFitScripts: what a fail2ban action or a shell script relies on. The API's
// address and token come from the environment; success is status 0 and nothing on stderr;
// any failure is status 1 and exactly one line on stderr. -ttl takes a number of seconds, as
// fail2ban's bantime gives it.
func TestCommandsFitScripts(t *testing.T) {
	dir, api, tokenFile, a := startTokenAgent(t)
	ac := a.dial(t)
	t.Setenv("SPOAGUARD_API", api)
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		status int
		stdout string // in the output, when the status is 0
	}{
		{"a ttl in seconds", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"ban", "203.0.113.7", "-ttl", "3600"}, 0, "added 203.0.113.7"},
		{"the token itself from the environment", map[string]string{"SPOAGUARD_API_TOKEN": "s3cret-token-for-the-test"}, []string{"check", "203.0.113.7"}, 0, "203.0.113.7 blocked list=api"},
		{"listing", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"bans"}, 0, "203.0.113.7"},
		{"a wrong token", map[string]string{"SPOAGUARD_API_TOKEN": "wrong"}, []string{"ban", "203.0.113.8"}, 1, ""},
		{"no token", nil, []string{"bans"}, 1, ""},
		{"a negative ttl", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"ban", "203.0.113.8", "-ttl", "-1"}, 1, ""},
		{"a ttl that is not one", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"ban", "203.0.113.8", "-ttl", "soon"}, 1, ""},
		{"an address not banned", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"unban", "203.0.113.99"}, 1, ""},
		// fail2ban's unban of a ban whose ttl, its bantime, has just run out.
		{"an address not banned, when that is fine", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"unban", "203.0.113.99", "-missing-ok"}, 0, "not banned 203.0.113.99\n"},
		{"-missing-ok is about the address only", map[string]string{"SPOAGUARD_API_TOKEN": "wrong"}, []string{"unban", "203.0.113.99", "-missing-ok"}, 1, ""},
		{"no agent there", map[string]string{"SPOAGUARD_API": "unix:" + filepath.Join(dir, "none.sock")}, []string{"bans"}, 1, ""},
		{"unban", map[string]string{"SPOAGUARD_API_TOKEN_FILE": tokenFile}, []string{"unban", "203.0.113.7"}, 0, "removed 203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SPOAGUARD_API_TOKEN", "")
			t.Setenv("SPOAGUARD_API_TOKEN_FILE", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			status := exitStatus(run(t.Context(), tc.args, &stdout, &stderr, nil), &stderr)
			if status != tc.status {
				t.Fatalf("exit status %d, want %d; stderr %q", status, tc.status, &stderr)
			}
			if tc.status == 0 {
				if stderr.Len() != 0 || !strings.Contains(stdout.String(), tc.stdout) {
					t.Errorf("stdout %q, want it to hold %q; stderr %q, want nothing", &stdout, tc.stdout, &stderr)
				}
				return
			}
			if n := strings.Count(stderr.String(), "\n"); n != 1 || !strings.HasPrefix(stderr.String(), "spoaguard") {
				t.Errorf("stderr %q: want one line naming spoaguard", &stderr)
			}
		})
	}
	if blocked, _ := ac.decide(netip.MustParseAddr("203.0.113.8")); blocked {
		t.Error("a refused ban is in force")
	}
}

// TestCommandErrorsSayWhatIsWrong: the one error line names what to fix, in the operator's
// terms: the address as given (not the client's URL, whose host is "unix" for a socket), a
// token that was not sent, an address that is a URL.
func TestCommandErrorsSayWhatIsWrong(t *testing.T) {
	dir, api, _, _ := startTokenAgent(t)
	none := "unix:" + filepath.Join(dir, "none.sock")
	t.Setenv("SPOAGUARD_API_TOKEN", "")
	t.Setenv("SPOAGUARD_API_TOKEN_FILE", "")
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"bans", "-api", api}, "401: missing or wrong bearer token (no token was sent: give -api-token-file", ""},
		{[]string{"ban", "203.0.113.7", "-api", none}, "POST /v1/bans: admin API " + none + ": dial unix", "http://unix"},
		{[]string{"bans", "-api", "http://" + api}, `admin API address "http://` + api + `": want IP:port or unix:/path`, ""},
		{[]string{"bans", "-api", "unix:"}, "unix: needs the socket's path", ""},
	} {
		var stderr bytes.Buffer
		status := exitStatus(run(t.Context(), tc.args, io.Discard, &stderr, nil), &stderr)
		if msg := stderr.String(); status != 1 || !strings.Contains(msg, tc.want) || tc.not != "" && strings.Contains(msg, tc.not) {
			t.Errorf("spoaguard %s: status %d, stderr %q; want 1 and %q", strings.Join(tc.args, " "), status, msg, tc.want)
		}
	}
}

// A token file every user can read, or a token short enough to guess, is warned about at
// start; the agent starts all the same.
func TestAWeakTokenIsWarnedAbout(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "drop.txt")
	os.WriteFile(list, []byte("192.0.2.0/24\n"), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("short\n"), 0o644)
	os.Chmod(tokenFile, 0o644) // whatever the umask
	a := startAgent(t, "-deny", "drop="+list, "-api", freeAddr(t), "-api-token-file", tokenFile)
	for _, want := range []string{"token file can be read by every user", "token is short"} {
		if !strings.Contains(a.logs.String(), want) {
			t.Errorf("the start-up log does not say %q:\n%s", want, a.logs)
		}
	}
	os.WriteFile(tokenFile, []byte("s3cret-token-for-the-test\n"), 0o600)
	os.Chmod(tokenFile, 0o640)
	b := startAgent(t, "-deny", "drop="+list, "-api", freeAddr(t), "-api-token-file", tokenFile)
	if strings.Contains(b.logs.String(), "admin API's token") {
		t.Errorf("a token of 25 characters readable by its owner and group is warned about:\n%s", b.logs)
	}
}

// TestBansWritesEachPageAsItComes: bans writes a page out before it asks for the next, so
// that listing a million entries holds one page; the JSON of no entries is [], and the
// table has no trailing spaces.
func TestBansWritesEachPageAsItComes(t *testing.T) {
	for _, tc := range []struct {
		json      bool
		page, all string
	}{
		{false, "ADDR                ACTION        LIST  EXPIRES               COMMENT\n192.0.2.1           deny          api   never\n",
			"ADDR                ACTION        LIST  EXPIRES               COMMENT\n192.0.2.1           deny          api   never\n192.0.2.2           deny          api   never                 x\n"},
		{true, `[{"addr":"192.0.2.1","action":"deny","list":"api","observe":false,"comment":"","expires":null,"created":"2026-01-02T03:04:05Z"}`,
			`[{"addr":"192.0.2.1","action":"deny","list":"api","observe":false,"comment":"","expires":null,"created":"2026-01-02T03:04:05Z"},{"addr":"192.0.2.2","action":"deny","list":"api","observe":false,"comment":"x","expires":null,"created":"2026-01-02T03:04:05Z"}]` + "\n"},
	} {
		out := &testutil.Buffer{}
		var before []string // what was written when the second page was asked for
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("after") == "" {
				io.WriteString(w, `{"bans":[{"addr":"192.0.2.1","action":"deny","list":"api","observe":false,"comment":"","expires":null,"created":"2026-01-02T03:04:05Z"}],"next":"192.0.2.1"}`)
				return
			}
			before = append(before, out.String())
			io.WriteString(w, `{"bans":[{"addr":"192.0.2.2","action":"deny","list":"api","observe":false,"comment":"x","expires":null,"created":"2026-01-02T03:04:05Z"}]}`)
		}))
		args := []string{"bans", "-api", strings.TrimPrefix(srv.URL, "http://")}
		if tc.json {
			args = append(args, "-json")
		}
		err := run(t.Context(), args, out, io.Discard, nil)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 1 || before[0] != tc.page || out.String() != tc.all {
			t.Errorf("bans -json=%v: written before the second page was asked for: %q, want %q; in all:\n%s\nwant\n%s", tc.json, before, tc.page, out, tc.all)
		}
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"bans":[]}`) }))
	defer empty.Close()
	if got, err := runCommand(t, "bans", "-json", "-api", strings.TrimPrefix(empty.URL, "http://")); err != nil || got != "[]\n" {
		t.Errorf("bans -json of no entries: %q, %v; want []", got, err)
	}
}

// TestLiveBansAloneAreEnoughToStart: an agent with -api and no deny list starts, and blocks
// what is banned through the API (-check agrees that it would start); so does one with only
// -redis.
func TestLiveBansAloneAreEnoughToStart(t *testing.T) {
	dir := t.TempDir()
	sock := "unix:" + filepath.Join(dir, "api.sock")
	if out, err := runCommand(t, "-check", "-api", sock); err != nil {
		t.Fatalf("-check with -api and no list: %v\n%s", err, out)
	}
	a := startAgent(t, "-api", sock)
	ac := a.dial(t)
	ip := netip.MustParseAddr("203.0.113.7")
	if blocked, _ := ac.decide(ip); blocked {
		t.Fatal("blocked before any ban")
	}
	if out, err := runCommand(t, "ban", "203.0.113.7", "-api", sock); err != nil {
		t.Fatalf("ban: %v\n%s", err, out)
	}
	if blocked, l := ac.decide(ip); !blocked || l != "api" {
		t.Errorf("after the ban: blocked=%v list=%q, want blocked by api", blocked, l)
	}

	// -redis alone: an agent with neither a list nor an API blocks what another agent of the
	// fleet bans.
	r := testutil.StartRedis(t, false)
	startAgent(t, "-redis", r.URL(), "-api", "unix:"+filepath.Join(dir, "writer.sock"))
	follower := startAgent(t, "-redis", r.URL())
	fc := follower.dial(t)
	if out, err := runCommand(t, "ban", "198.51.100.9", "-api", "unix:"+filepath.Join(dir, "writer.sock")); err != nil {
		t.Fatalf("ban through the other agent: %v\n%s", err, out)
	}
	follower.waitFor(t, "the ban through the other agent does not block", func() bool {
		blocked, _ := fc.decide(netip.MustParseAddr("198.51.100.9"))
		return blocked
	})
}
