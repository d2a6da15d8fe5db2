package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAptWaitsForTheDpkgLock: every apt-get the scripts run waits for the dpkg lock, which
// another apt (an unattended upgrade, a package test run beside) may hold, instead of failing
// at once. debian_apt_install runs here against a stand-in apt-get that records its arguments.
func TestAptWaitsForTheDpkgLock(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to test the scripts")
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	fake := "#!/bin/sh\necho \"$*\" >> " + calls + "\n"
	if err := os.WriteFile(filepath.Join(dir, "apt-get"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("debian.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `set -euo pipefail; . "$1"; debian_apt_install haproxy; debian_apt_install redis-server`, "bash", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debian_apt_install: %v\n%s", err, out)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 { // update once, then each install
		t.Fatalf("apt-get ran %d times, want 3:\n%s", len(lines), b)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "-o DPkg::Lock::Timeout=120 ") {
			t.Errorf("apt-get %s: does not wait for the dpkg lock", l)
		}
	}
}
