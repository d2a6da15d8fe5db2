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
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "packaging", "spoaguard.service"))
	if err != nil {
		t.Fatal(err)
	}
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
