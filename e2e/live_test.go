package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spoaguardCommand runs one of spoaguard's commands (ban, unban, ...) against the agent's
// API, as an operator or a fail2ban action does, and fails the test unless it succeeds.
func spoaguardCommand(t *testing.T, api string, args ...string) string {
	t.Helper()
	cmd := exec.Command(agentBin, append(args, "-api", api)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spoaguard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLiveBans: `spoaguard ban` makes the next request from the address 403, `unban` makes
// it 200 again, and a ban with a 2 s ttl lifts by itself, with no request in between.
func TestLiveBans(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, g *generation) {
		api := "unix:" + filepath.Join(t.TempDir(), "api.sock")
		// The API's requests and the live set's rounds on threads at nice 19: the bans apply
		// at the next request all the same.
		a := startAgent(t, agentOptions{deny: []string{e2eDeny(t)}, args: []string{"-api", api, "-state-dir", t.TempDir(), "-background-nice", "19"}})
		h := startHAProxy(t, g, haproxyOptions{agentAddr: a.addr})
		banned := result{status: 403, list: "api"}

		h.expect(t, []request{{name: "before the ban", src: otherV4, want: allowed}})
		spoaguardCommand(t, api, "ban", otherV4, "-comment", "e2e")
		h.expect(t, []request{
			{name: "the next request after the ban", src: otherV4, want: banned},
			{name: "another address", src: unlistedV4, want: allowed},
			{name: "the file list still decides", src: listedV4, want: denied},
		})
		spoaguardCommand(t, api, "unban", otherV4)
		h.expect(t, []request{{name: "the next request after the unban", src: otherV4, want: allowed}})

		spoaguardCommand(t, api, "ban", otherV4, "-ttl", "2s")
		h.expect(t, []request{{name: "during a 2 s ban", src: otherV4, want: banned}})
		time.Sleep(3 * time.Second) // no request: the expiry needs none
		h.expect(t, []request{{name: "after the 2 s ban lifted by itself", src: otherV4, want: allowed}})
		if got := a.metric(`spoaguard_live_changes_total{op="expire"}`); got != 1 {
			t.Errorf(`spoaguard_live_changes_total{op="expire"} = %v, want 1`, got)
		}
	})
}
