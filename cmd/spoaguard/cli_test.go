package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/config"
)

func TestCommandLineOutput(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		status         int
		stdout, stderr string // substrings; "" = must be empty
	}{
		{"help goes to stdout", []string{"-h"}, 0, "Usage:\n  spoaguard -listen", ""},
		{"help lists the flags", []string{"-help"}, 0, "  -config file\n", ""},
		{"unknown flag: one line and a hint", []string{"-nope"}, 2, "",
			"spoaguard: flag provided but not defined: -nope\nRun 'spoaguard -h' for the flags.\n"},
		{"bad value: one line and a hint", []string{"-loops", "x"}, 2, "", "invalid value \"x\" for flag -loops"},
		{"version", []string{"-version"}, 0, "spoaguard ", ""},
		{"a command's help", []string{"ban", "-h"}, 0, "spoaguard ban ADDR [-ttl D]", ""},
		{"version needs no lists", []string{"-version", "-deny", "broken"}, 0, runtime.Version(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := exitStatus(run(t.Context(), tc.args, &stdout, &stderr, nil), &stderr)
			if status != tc.status {
				t.Errorf("exit status %d, want %d", status, tc.status)
			}
			for _, c := range []struct {
				name      string
				got, want string
			}{{"stdout", stdout.String(), tc.stdout}, {"stderr", stderr.String(), tc.stderr}} {
				if c.want == "" && c.got != "" || !strings.Contains(c.got, c.want) {
					t.Errorf("%s = %q, want it to hold %q", c.name, c.got, c.want)
				}
			}
			if n := strings.Count(stderr.String(), "\n"); tc.status == 2 && n != 2 {
				t.Errorf("stderr has %d lines, want the error and the hint:\n%s", n, &stderr)
			}
		})
	}
}

// The usage documents every list option SetListOption applies.
func TestUsageNamesEveryListOption(t *testing.T) {
	for _, name := range strings.Split(config.ListOptions(), ", ") {
		if !strings.Contains(usageHead, "\n  "+name+" ") && !strings.Contains(usageHead, "\n  "+name+"=") {
			t.Errorf("the usage's list options do not name %s", name)
		}
	}
}
