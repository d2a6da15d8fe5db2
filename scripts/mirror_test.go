// Package scripts tests the shell scripts' logic that a fresh machine depends on, under the
// scripts' own shell options.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebianMirrorPrintsExactlyOneURI runs haproxy-env.sh --print-mirror (which runs under
// the script's set -euo pipefail) against fixture apt directories of every layout a Debian
// machine can have.
func TestDebianMirrorPrintsExactlyOneURI(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to test the scripts")
	}
	tests := []struct {
		aptDir string
		env    string // SPOAGUARD_DEBIAN_MIRROR
		want   string
	}{
		{aptDir: "deb822-only", want: "http://deb.debian.org/debian"},
		{aptDir: "oneline-only", want: "http://ftp.fr.debian.org/debian"},
		{aptDir: "both", want: "http://ftp.nl.debian.org/debian"},
		{aptDir: "neither", want: "http://deb.debian.org/debian"},
		{aptDir: "does-not-exist", want: "http://deb.debian.org/debian"},
		{aptDir: "security-first", want: "http://ftp.uk.debian.org/debian"},
		{aptDir: "security-first-oneline", want: "http://ftp.se.debian.org/debian"},
		{aptDir: "path-trailing-slash", want: "http://mirror.example.org/pub/linux/debian"},
		{aptDir: "several-uris", want: "http://mirror-a.example.org/debian"},
		{aptDir: "third-party-and-disabled", want: "http://ftp.at.debian.org/debian"},
		{aptDir: "deb822-only", env: "http://local.example.org/debian/", want: "http://local.example.org/debian"},
	}
	for _, tt := range tests {
		name := tt.aptDir
		if tt.env != "" {
			name += "/override"
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("bash", "haproxy-env.sh", "--print-mirror")
			env := []string{"SPOAGUARD_APT_DIR=" + filepath.Join("testdata", "apt", tt.aptDir)}
			if tt.env != "" {
				env = append(env, "SPOAGUARD_DEBIAN_MIRROR="+tt.env)
			}
			cmd.Env = append(cleanEnv(), env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("haproxy-env.sh --print-mirror: %v\n%s", err, stderr.String())
			}
			if got := string(out); got != tt.want+"\n" {
				t.Errorf("printed %q, want exactly one line %q", got, tt.want)
			}
		})
	}
}

// cleanEnv is the test's environment without the variables the script reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPOAGUARD_") {
			env = append(env, kv)
		}
	}
	return env
}
