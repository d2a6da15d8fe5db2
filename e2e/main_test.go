package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root; go test runs in the package directory.
const repoRoot = ".."

// installHint ends every "HAProxy is missing" failure.
const installHint = "install both generations with: sudo scripts/haproxy-env.sh " +
	"(HAProxy 2.6 from apt, HAProxy 3.x in a debootstrap root cached in /var/cache/spoaguard)"

// agentBin is the spoaguard binary built once by TestMain.
var agentBin string

// generations are the HAProxy versions every scenario runs against. err is set when a
// generation is unavailable: each test using it then fails with that message.
var generations = []*generation{
	{name: "2.6", cfg: "haproxy-2.6.cfg", spoe: "spoaguard-2.6.conf", spoeXFF: "spoaguard-xff-2.6.conf"},
	{name: "3.x", cfg: "haproxy-3.x.cfg", spoe: "spoaguard-3.x.conf", spoeXFF: "spoaguard-xff-3.x.conf"},
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spoaguard-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		findHAProxy26(generations[0])
		findHAProxy3(generations[1])
		// $SPOAGUARD_AGENT tests a binary built elsewhere (a release, a profiling build).
		if agentBin = os.Getenv("SPOAGUARD_AGENT"); agentBin != "" {
			return m.Run()
		}
		agentBin = filepath.Join(dir, "spoaguard")
		args := []string{"build", "-o", agentBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, "./cmd/spoaguard")...)
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building ./cmd/spoaguard failed: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// generation is one HAProxy version and the config files written for it.
type generation struct {
	name    string // "2.6" or "3.x"
	cfg     string // main config in scripts/haproxy/
	spoe    string // SPOE file, ip=src
	spoeXFF string // SPOE file, ip from X-Forwarded-For
	root    string // chroot directory holding HAProxy 3.x; "" runs the host's binary
	bin     string // HAProxy binary, as seen inside root
	version string // "2.6.12-1+deb12u4"
	err     error  // why this generation cannot run
}

// require fails the test when the generation is not installed.
func (g *generation) require(t *testing.T) {
	t.Helper()
	if g.err != nil {
		t.Fatalf("HAProxy %s is not available: %v\n%s", g.name, g.err, installHint)
	}
}

// command returns the command running HAProxy with args, through chroot for 3.x.
func (g *generation) command(args ...string) *exec.Cmd {
	if g.root == "" {
		return exec.Command(g.bin, args...)
	}
	return exec.Command("chroot", append([]string{g.root, g.bin}, args...)...)
}

var versionRE = regexp.MustCompile(`HA-?Proxy version (\d+)\.(\d+)\S*`)

// probe runs "haproxy -v" and checks the version is the generation's.
func (g *generation) probe(acceptable func(major, minor int) bool) {
	out, err := g.command("-v").CombinedOutput()
	if err != nil {
		g.err = fmt.Errorf("%s -v: %v: %s", g.bin, err, strings.TrimSpace(string(out)))
		return
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		g.err = fmt.Errorf("%s -v printed no version: %q", g.bin, out)
		return
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	g.version = strings.TrimPrefix(strings.TrimPrefix(m[0], "HAProxy version "), "HA-Proxy version ")
	if !acceptable(major, minor) {
		g.err = fmt.Errorf("%s is version %d.%d, not a HAProxy %s", g.bin, major, minor, g.name)
	}
}

// findHAProxy26 uses $SPOAGUARD_HAPROXY26 or "haproxy" from PATH (or /usr/sbin).
func findHAProxy26(g *generation) {
	bin := os.Getenv("SPOAGUARD_HAPROXY26")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("haproxy"); err != nil {
			bin = "/usr/sbin/haproxy" // not in a non-root PATH on Debian
		}
	}
	if _, err := os.Stat(bin); err != nil {
		g.err = fmt.Errorf("no haproxy binary: %v", err)
		return
	}
	g.bin = bin
	// Everything before the 3.1 rewrite speaks the "applet" SPOE that this generation covers.
	g.probe(func(major, minor int) bool { return major == 2 || major == 3 && minor == 0 })
}

// findHAProxy3 uses the debootstrap root built by scripts/haproxy-env.sh.
func findHAProxy3(g *generation) {
	root := os.Getenv("SPOAGUARD_HAPROXY3_ROOT")
	if root == "" {
		root = "/var/cache/spoaguard/haproxy-forky"
	}
	if _, err := os.Stat(filepath.Join(root, ".spoaguard-root-complete")); err != nil {
		g.err = fmt.Errorf("no complete HAProxy 3.x root in %s (%v)", root, err)
		return
	}
	if os.Geteuid() != 0 {
		g.err = fmt.Errorf("running HAProxy 3.x from %s needs chroot, i.e. root", root)
		return
	}
	g.root, g.bin = root, "/usr/sbin/haproxy"
	g.probe(func(major, minor int) bool { return major > 3 || major == 3 && minor >= 1 })
}
