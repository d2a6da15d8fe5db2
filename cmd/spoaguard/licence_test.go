package main

import (
	"runtime/debug"
	"testing"
)

// linkedLicences are the licences of the modules linked into spoaguard, each checked to be
// compatible with the project's Apache-2.0 (README: Licence). Test-only modules are listed
// too: the test binary cannot tell them apart.
var linkedLicences = map[string]string{
	"github.com/VictoriaMetrics/metrics":      "MIT",
	"github.com/bits-and-blooms/bitset":       "BSD-3-Clause",
	"github.com/bits-and-blooms/bloom/v3":     "BSD-2-Clause",
	"github.com/cespare/xxhash/v2":            "MIT",
	"github.com/oschwald/maxminddb-golang/v2": "ISC",
	"github.com/panjf2000/ants/v2":            "MIT",
	"github.com/panjf2000/gnet/v2":            "Apache-2.0",
	"github.com/redis/go-redis/v9":            "BSD-2-Clause",
	"github.com/valyala/fastrand":             "MIT",
	"github.com/valyala/histogram":            "MIT",
	"go.etcd.io/bbolt":                        "MIT",
	"go.uber.org/atomic":                      "MIT",
	"go.uber.org/multierr":                    "MIT",
	"go.uber.org/zap":                         "MIT",
	"go.yaml.in/yaml/v3":                      "MIT and Apache-2.0",
	"golang.org/x/net":                        "BSD-3-Clause",
	"golang.org/x/sync":                       "BSD-3-Clause",
	"golang.org/x/sys":                        "BSD-3-Clause",
	"gopkg.in/natefinch/lumberjack.v2":        "MIT",
}

func TestLinkedModulesHaveAKnownLicence(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information")
	}
	for _, m := range bi.Deps {
		if _, ok := linkedLicences[m.Path]; !ok {
			t.Errorf("%s %s is linked in, and its licence is not recorded: check that it is compatible with Apache-2.0, then add it here and to the README's Licence table", m.Path, m.Version)
		}
	}
}
