package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// buildInfo is what -version prints and spoaguard_build_info carries, from the build
// information the Go toolchain embeds: the module version (a tag, or a pseudo-version made
// from the VCS state), the VCS revision and commit time, and the Go version.
type buildInfo struct {
	version, revision, time, goVersion string
	modified                           bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{version: "unknown", goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := bi.Main.Version; v != "" {
		b.version = v
	}
	b.goVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// String is -version's line, e.g.
// "spoaguard v1.2.0 revision 5d4204f0c1e2 (2026-12-01T08:30:00Z) go1.26.8 linux/amd64".
func (b buildInfo) String() string {
	s := "spoaguard " + b.version
	if b.revision != "" {
		s += " revision " + b.revision
		if b.modified {
			s += "+modified"
		}
		if b.time != "" {
			s += " (" + b.time + ")"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", s, b.goVersion, runtime.GOOS, runtime.GOARCH)
}

// register adds spoaguard_build_info{version,revision,goversion} 1 to set.
func (b buildInfo) register(set *metrics.Set) {
	rev := b.revision
	if b.modified {
		rev += "+modified"
	}
	set.NewGauge(fmt.Sprintf(`spoaguard_build_info{version=%s,revision=%s,goversion=%s}`,
		strconv.Quote(b.version), strconv.Quote(rev), strconv.Quote(b.goVersion)), func() float64 { return 1 })
}
