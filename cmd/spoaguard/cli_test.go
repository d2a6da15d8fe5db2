package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/config"
	"github.com/spoaguard/spoaguard/internal/testutil"
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
		{"check's help", []string{"check", "-h"}, 0, "spoaguard check IP [-json]", ""},
		{"a command without its argument: one line, named once", []string{"ban"}, 1, "", "spoaguard: ban: want ADDR"},
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

// TestEveryFlagHasAKeyAndItsREADMELine: the README's flags block is -h's, flag for flag, and
// every flag but the command-line-only ones is a key of the config file.
func TestEveryFlagHasAKeyAndItsREADMELine(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	_, flags, _ := strings.Cut(help.String(), "\nFlags:\n")
	flags, _, _ = strings.Cut(flags, "\n\nCommands")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(readme), "\n## Flags\n\n```\n")
	block, _, _ = strings.Cut(block, "```\n")
	if strings.TrimSpace(block) != strings.TrimSpace(flags) {
		t.Errorf("README.md's flags block is not spoaguard -h's flags; -h says:\n%s", flags)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	n := 0
	for _, line := range strings.Split(flags, "\n") {
		name, ok := strings.CutPrefix(line, "  -")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		n++
		testutil.WriteFile(t, cfg, name+": \"x\"\n")
		_, err := parseFlags([]string{"-config", cfg}, io.Discard)
		if slices.Contains(commandLineOnly, name) {
			if err == nil || !strings.Contains(err.Error(), "only on the command line") {
				t.Errorf("key %s: %v, want it refused as command-line only", name, err)
			}
		} else if err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("flag -%s has no config key: %v", name, err)
		}
	}
	if n < 40 {
		t.Errorf("found %d flags in -h", n)
	}
}
