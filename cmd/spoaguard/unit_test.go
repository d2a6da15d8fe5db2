package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on packaging/spoaguard.service, with
// the binary's path pointed at this test's executable (verify checks that commands exist),
// and on the feed timer in packaging/feeds.
// Any complaint fails, warnings included: systemd ignores an unknown key with a warning, and
// an ignored hardening line is a hole.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, unit := packagedUnit(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "ExecStartPre=/usr/bin/spoaguard -check",
		"ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "StateDirectory=", "RuntimeDirectory=", "LimitNOFILE="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spoaguard.service"), []byte(strings.ReplaceAll(string(unit), "/usr/bin/spoaguard", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The feed timer of the README, with its script where the service says.
	feeds := filepath.Join("..", "..", "packaging", "feeds")
	script, err := filepath.Abs(filepath.Join(feeds, "spoaguard-feeds"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"spoaguard-feeds.service", "spoaguard-feeds.timer"} {
		b, err := os.ReadFile(filepath.Join(feeds, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(string(b), "/usr/local/sbin/spoaguard-feeds", script)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"spoaguard.service", "spoaguard-feeds.service", "spoaguard-feeds.timer"} {
		out, err := exec.Command(analyze, "verify", filepath.Join(dir, name)).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// packagedUnit returns systemd-analyze's path and packaging/spoaguard.service, skipping t
// where systemd-analyze is not installed.
func packagedUnit(t *testing.T) (analyze string, unit []byte) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if unit, err = os.ReadFile(filepath.Join("..", "..", "packaging", "spoaguard.service")); err != nil {
		t.Fatal(err)
	}
	return analyze, unit
}

// The unit's system call filter lets through the calls the agent makes for its options: a
// call it refuses fails the option at start-up (EPERM), under the packaged unit only.
func TestSystemdUnitAllowsTheAgentsSystemCalls(t *testing.T) {
	analyze, unit := packagedUnit(t)
	allowed := unitSyscalls(t, analyze, string(unit))
	for _, c := range []struct{ option, syscall string }{
		{"-background-nice", "setpriority"},
	} {
		if !allowed[c.syscall] {
			t.Errorf("%s calls %s, which the unit's SystemCallFilter refuses", c.option, c.syscall)
		}
	}
}

// unitSyscalls returns the system calls a unit's SystemCallFilter lines allow, as systemd
// merges them: the first line's kind decides, later allow lines add to the set and deny
// lines (~) take from it. The unit must start with an allow line.
func unitSyscalls(t *testing.T, analyze, unit string) map[string]bool {
	t.Helper()
	var expand func(name string, into map[string]bool)
	expand = func(name string, into map[string]bool) {
		if !strings.HasPrefix(name, "@") {
			into[name] = true
			return
		}
		out, err := exec.Command(analyze, "syscall-filter", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		for _, l := range strings.Split(string(out), "\n")[1:] {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				expand(l, into)
			}
		}
	}
	var allowed map[string]bool
	for _, l := range strings.Split(unit, "\n") {
		v, ok := strings.CutPrefix(l, "SystemCallFilter=")
		if !ok {
			continue
		}
		v, deny := strings.CutPrefix(v, "~")
		if allowed == nil && deny {
			t.Fatal("the unit's first SystemCallFilter is a deny list")
		}
		set := map[string]bool{}
		for _, name := range strings.Fields(v) {
			expand(name, set)
		}
		if allowed == nil {
			allowed = set
			continue
		}
		for name := range set {
			if deny {
				delete(allowed, name)
			} else {
				allowed[name] = true
			}
		}
	}
	if allowed == nil {
		t.Fatal("the unit has no SystemCallFilter")
	}
	return allowed
}
