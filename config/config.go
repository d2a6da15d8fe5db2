// Package config reads spoaguard's configuration file and the list specifications of its
// command line.
//
// The file is YAML. Its keys are the agent's flag names without the dash, and their values
// are applied through the same flag.FlagSet that parses the command line, so every flag has a
// key, parsed and validated by the flag's own code, and a flag given on the command line
// overrides the file's key. Lists are structured entries under the one key that is not a
// flag, "lists":
//
//	listen: [127.0.0.1:12345]
//	metrics: 127.0.0.1:12346
//	lists:
//	  - name: firehol
//	    kind: deny
//	    path: /var/lib/spoaguard/feeds/firehol_level1.netset
//	  - name: ipsum
//	    kind: deny
//	    path: /var/lib/spoaguard/feeds/ipsum.txt
//	    format: ipsum
//	    options: {min-count: 3}
//
// Every error names the file and line: an unknown key, a value the flag refuses, a list entry
// with an unknown field or option, or with options that do not go together (blocklist's
// Source.Check, such as min-count on a list not in ipsum format).
package config

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spoaguard/spoaguard/blocklist"
)

// MaxFileSize bounds the configuration file read: a configuration is a few kilobytes, and a
// wrong path (a feed, a device) must be an error, not a memory spike.
const MaxFileSize = 1 << 20

// ListsKey is the file's key for the structured list entries.
const ListsKey = "lists"

// Repeatable is implemented by flag values that may be given several times (such as -listen):
// their key takes a YAML sequence, each element applied with Set in order.
type Repeatable interface {
	flag.Value
	Repeatable() bool
}

// File is a configuration file applied to a flag set.
type File struct {
	Path string
	// Lists are the file's list entries, in file order, with relative paths resolved against
	// the file's directory.
	Lists []List
	// lines maps each flag the file set to the line of its key.
	lines map[string]int
}

// List is one entry of the file's lists.
type List struct {
	Source blocklist.Source
	Line   int
}

// Line returns the line of the file's key for flag name, or 0 when the file did not set it
// (absent, or overridden by the command line).
func (f *File) Line(name string) int {
	if f == nil {
		return 0
	}
	return f.lines[name]
}

// Annotate adds the file and line to a validation error about a flag the file set. Flag
// validation errors start with the flag ("-max-shrink 2: ..."); others are returned as they are.
func (f *File) Annotate(err error) error {
	if f == nil || err == nil {
		return err
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "-") {
		return err
	}
	name := msg[1:]
	if i := strings.IndexAny(name, " :\"="); i >= 0 {
		name = name[:i]
	}
	if line := f.lines[name]; line > 0 {
		return fmt.Errorf("%s:%d: %w", f.Path, line, err)
	}
	return err
}

// Load reads the file at path and applies it to fs, which must already hold the parsed command
// line: the flags set there keep their value and the file's keys for them are ignored. Keys for
// the flags named in notInFile (such as -config itself) are errors.
func Load(path string, fs *flag.FlagSet, notInFile ...string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: %s: larger than %d bytes: not a configuration file?", path, MaxFileSize)
	}
	f, err := parse(path, data, fs, notInFile)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return f, nil
}

func parse(path string, data []byte, fs *flag.FlagSet, notInFile []string) (*File, error) {
	f := &File{Path: path, lines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF { // io.EOF: empty, or comments only
		// yaml's messages already say "yaml: line N: ...".
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// yaml.Unmarshal reads the first document alone: the keys of a second one would be
	// dropped without a word.
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, f.errorf(&next, "a second YAML document (after ---): the file holds one")
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file, or comments only
		return f, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, f.errorf(root, "the file must be a mapping of keys (flag names and %q) to values", ListsKey)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCommandLine[fl.Name] = true })
	excluded := map[string]bool{}
	for _, n := range notInFile {
		excluded[n] = true
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, f.errorf(k, "a key must be a plain name")
		}
		key := k.Value
		name := strings.TrimPrefix(key, "-") // "-loops" and "loops" are one key: the flag's name
		if prev, dup := seen[name]; dup {
			return nil, f.errorf(k, "%s: given twice (first at line %d)", key, prev)
		}
		seen[name] = k.Line
		if key == ListsKey {
			if err := f.lists(v); err != nil {
				return nil, err
			}
			continue
		}
		fl := fs.Lookup(strings.TrimPrefix(key, "-"))
		if fl == nil || excluded[fl.Name] {
			if fl != nil {
				return nil, f.errorf(k, "%s: only on the command line", key)
			}
			return nil, f.errorf(k, "unknown key %q (keys are the flags' names, see spoaguard -h, and %q)", key, ListsKey)
		}
		if onCommandLine[fl.Name] {
			continue
		}
		if err := f.setFlag(fs, fl, v); err != nil {
			return nil, err
		}
		f.lines[fl.Name] = k.Line
	}
	return f, nil
}

// setFlag applies one key's value: a scalar with Set, a sequence element by element for a
// repeatable flag.
func (f *File) setFlag(fs *flag.FlagSet, fl *flag.Flag, v *yaml.Node) error {
	values := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		if r, ok := fl.Value.(Repeatable); !ok || !r.Repeatable() {
			return f.errorf(v, "%s: takes one value, not a list", fl.Name)
		}
		values = v.Content
		if len(values) == 0 { // it would set nothing, and the flag's default would serve
			return f.errorf(v, "%s: an empty sequence (leave the key out for the default)", fl.Name)
		}
	}
	for _, n := range values {
		s, err := f.scalar(fl.Name, n)
		if err != nil {
			return err
		}
		if err := fs.Set(fl.Name, s); err != nil {
			return f.errorf(n, "%s: %q: %v", fl.Name, s, valueError(fl, err))
		}
	}
	return nil
}

// scalar returns a scalar node's text as written, so that the flag parses it exactly as it
// would on the command line: yes stays "yes" (not a bool), 010 stays "010" (octal to -flag).
func (f *File) scalar(key string, n *yaml.Node) (string, error) {
	switch {
	case n.Kind == yaml.AliasNode:
		return "", f.errorf(n, "%s: aliases are not supported", key)
	case n.Kind != yaml.ScalarNode:
		return "", f.errorf(n, "%s: want a single value", key)
	case n.Tag == "!!null" && n.Style == 0:
		return "", f.errorf(n, "%s: no value (write \"\" for an empty one)", key)
	}
	return n.Value, nil
}

// valueError makes the flag package's terse "parse error" of its built-in types say what
// the key wants; other values' errors already do.
func valueError(fl *flag.Flag, err error) error {
	if err.Error() != "parse error" && err.Error() != "value out of range" {
		return err
	}
	want := map[string]string{
		"*flag.boolValue":     "true or false",
		"*flag.durationValue": "a duration such as 5s or 1m30s",
		"*flag.intValue":      "an integer",
		"*flag.int64Value":    "an integer",
		"*flag.uintValue":     "a non-negative integer",
		"*flag.uint64Value":   "a non-negative integer",
		"*flag.float64Value":  "a number",
	}[fmt.Sprintf("%T", fl.Value)]
	if want == "" {
		return err
	}
	return fmt.Errorf("%v: want %s", err, want)
}

func (f *File) lists(v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return f.errorf(v, "%s: want a sequence of entries (- name: ...)", ListsKey)
	}
	for _, e := range v.Content {
		l, err := f.list(e)
		if err != nil {
			return err
		}
		f.Lists = append(f.Lists, l)
	}
	return nil
}

// list parses one entry: name, kind and path are required; format and options are optional.
func (f *File) list(e *yaml.Node) (List, error) {
	l := List{Line: e.Line}
	if e.Kind != yaml.MappingNode {
		return l, f.errorf(e, "list entry: want a mapping with name, kind, path or url, format, options")
	}
	src := &l.Source
	have := map[string]bool{}
	var options *yaml.Node
	for i := 0; i+1 < len(e.Content); i += 2 {
		k, v := e.Content[i], e.Content[i+1]
		key := k.Value
		if have[key] {
			return l, f.errorf(k, "list entry: %s given twice", key)
		}
		have[key] = true
		if key == "options" { // applied last: an option may depend on the kind
			options = v
			continue
		}
		s, err := f.scalar(key, v)
		if err != nil {
			return l, err
		}
		switch key {
		case "name":
			if err := CheckListName(s); err != nil {
				return l, f.errorf(v, "%v", err)
			}
			src.Name = s
		case "kind":
			switch s {
			case "deny":
				src.Kind = blocklist.Deny
			case "allow":
				src.Kind = blocklist.Allow
			default:
				return l, f.errorf(v, "kind %q: want deny or allow", s)
			}
		case "path":
			if s == "" {
				return l, f.errorf(v, "path: empty")
			}
			src.Path = s
			if !src.IsURL() && !filepath.IsAbs(s) {
				src.Path = filepath.Join(filepath.Dir(f.Path), s)
			}
		case "url":
			src.Path = s
			if !src.IsURL() {
				return l, f.errorf(v, "url %q: want an http:// or https:// URL", s)
			}
			if have["path"] {
				return l, f.errorf(k, "list entry: give path or url, not both")
			}
			have["path"] = true
		case "format":
			if src.Format, err = blocklist.ParseFormat(s); err != nil {
				return l, f.errorf(v, "format %q: want %s", s, formats())
			}
		default:
			return l, f.errorf(k, "list entry: unknown field %q (want name, kind, path or url, format, options)", key)
		}
	}
	for _, req := range []string{"name", "kind", "path"} {
		if !have[req] {
			return l, f.errorf(e, "list entry %q: %s is required", src.Name, req)
		}
	}
	if options != nil {
		if err := f.listOptions(src, options); err != nil {
			return l, err
		}
	}
	if err := src.Check(); err != nil {
		return l, f.errorf(e, "list entry %q: %v", src.Name, err)
	}
	return l, nil
}

func (f *File) listOptions(src *blocklist.Source, v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return f.errorf(v, "options: want a mapping such as {min-count: 3}")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if seen[k.Value] {
			return f.errorf(k, "option %s given twice", k.Value)
		}
		seen[k.Value] = true
		s, err := f.scalar(k.Value, val)
		if val.Kind == yaml.SequenceNode && (k.Value == "countries" || k.Value == "asns") {
			s, err = f.plusJoined(k.Value, val) // {countries: [CN, RU]}
		}
		if err != nil {
			return err
		}
		if err := SetListOption(src, k.Value, s); err != nil {
			return f.errorf(k, "option %s: %v", k.Value, err)
		}
	}
	return nil
}

// plusJoined joins a sequence of scalars with '+', the separator the -deny flag's options use.
func (f *File) plusJoined(key string, n *yaml.Node) (string, error) {
	parts := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		s, err := f.scalar(key, e)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "+"), nil
}

func (f *File) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", f.Path, n.Line, fmt.Sprintf(format, args...))
}
