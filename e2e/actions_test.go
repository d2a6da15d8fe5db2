package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spoaguard/spoaguard/internal/testutil"
)

// Sources on the lists the shipped configs treat differently: "scanners" is tarpitted,
// "watch" is observed.
const (
	scannerV4 = "127.0.0.77"
	watchedV4 = "127.0.0.88"
)

// scopeExample is the SPOE file's commented example of a scoped check.
var scopeExample = regexp.MustCompile(`(?m)^\s*#\s+(event on-frontend-http-request if .+)$`)

// applyScopeExample replaces the SPOE file's "event" line with its commented example, so the
// example the file documents is the one tested.
func applyScopeExample(t *testing.T, name, cfg string) string {
	t.Helper()
	m := scopeExample.FindStringSubmatch(cfg)
	if m == nil || strings.Count(cfg, "\n    event on-frontend-http-request\n") != 1 {
		t.Fatalf("scripts/haproxy/%s: no commented \"event ... if\" example, or not one event line to replace", name)
	}
	return strings.Replace(cfg, "\n    event on-frontend-http-request\n", "\n    "+m[1]+"\n", 1)
}

// TestActingOnTheList runs the shipped configs as they are: one list denied, one tarpitted,
// one observed; the verdict is in HAProxy's log and never in a response.
func TestActingOnTheList(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		dir := t.TempDir()
		scanners, _ := writeList(t, dir, "scanners", scannerV4+"\n")
		watch, _ := writeList(t, dir, "watch", watchedV4+"\n")
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t), scanners, watch}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr, asShipped: true, tarpit: 300 * time.Millisecond})
		h.expect(t, []request{
			{name: "a listed source is denied, without saying by which list", src: listedV4, want: result{status: 403}},
			{name: "a scanner is tarpitted, then answered 500", src: scannerV4, want: result{status: 500}},
			{name: "a watched source is only observed", src: watchedV4, want: allowed},
			{name: "an unlisted source passes", src: unlistedV4, want: allowed},
		})
		for _, line := range []struct{ src, status, verdict string }{
			{listedV4, "403", "spoaguard_blocked=1 spoaguard_list=e2e "},
			{scannerV4, "500", "spoaguard_blocked=1 spoaguard_list=scanners "},
			{watchedV4, "200", "spoaguard_blocked=1 spoaguard_list=watch "},
			{unlistedV4, "200", "spoaguard_blocked=0 spoaguard_list=- "},
		} {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line.src) + `:\d+ .* ` + line.status + ` .*` + regexp.QuoteMeta(line.verdict))
			testutil.Eventually(t, 5*time.Second, "HAProxy's log line for "+line.src+": "+re.String(), func() bool { return re.MatchString(h.proc.output.String()) })
		}
	})
}

// TestScopedCheck applies the SPOE file's example condition: only /login and /api/ are
// checked, so a listed source reaches the rest.
func TestScopedCheck(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr, scoped: true})
		for _, c := range []struct {
			path string
			want result
		}{
			{"login", denied},
			{"api/orders", denied},
			{"", allowed},
			{"static/app.css", allowed},
		} {
			got, err := newClient(listedV4, false).get(h.url("127.0.0.1")+c.path, "")
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("GET /%s from a listed source: %s, want %s", c.path, got, c.want)
			}
		}
	})
}
