package blocklist

import (
	"path/filepath"
	"strings"
	"testing"
)

// min-count filters ipsum's counts: on a list of another format it would be ignored, so it is
// refused, with the list named, whether the format is given or detected at load.
func TestMinCountAppliesToIpsumOnly(t *testing.T) {
	dir := t.TempDir()
	plain, ipsum := filepath.Join(dir, "plain.txt"), filepath.Join(dir, "ipsum.txt")
	writeFile(t, plain, "192.0.2.1\n192.0.2.2\n")
	writeFile(t, ipsum, "# IPsum\n192.0.2.1\t3\n192.0.2.2\t1\n")
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"format given", Source{Path: plain, Format: FormatNetset, MinCount: 3}, "min-count applies to format ipsum only, not netset"},
		{"format detected", Source{Path: plain, MinCount: 3}, "min-count applies to format ipsum only, and the file's format is plain (detected)"},
		{"with a selection", Source{Path: plain, Countries: []string{"CN"}, MinCount: 3}, "min-count applies to format ipsum only, not mmdb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.Name = "feed"
			_, err := NewManager([]Source{tc.src}, Options{Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "feed") {
				t.Errorf("NewManager: err %v, want %q naming the list", err, tc.want)
			}
			if _, err := ParseFile(tc.src); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "feed: ") {
				t.Errorf("ParseFile: err %v, want %q naming the list", err, tc.want)
			}
		})
	}
	if err := (Source{Name: "feed", Path: plain, Format: FormatPlain, MinCount: 3}).Check(); err == nil {
		t.Error("Check accepts min-count on a plain list")
	}

	for _, f := range []Format{FormatAuto, FormatIpsum} {
		m, err := NewManager([]Source{{Name: "ipsum", Path: ipsum, Format: f, MinCount: 3}}, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("format %s: %v", f, err)
		}
		if !blocked(m, "192.0.2.1") || blocked(m, "192.0.2.2") {
			t.Errorf("format %s: min-count not applied", f)
		}
		m.Close()
	}
}

// Check leaves the source as it is: the defaults it fills in are NewManager's business, and a
// configuration compares its sources as written.
func TestCheckDoesNotChangeTheSource(t *testing.T) {
	src := Source{Name: "x", Path: "https://example.com/x.txt", Countries: []string{"CN"}}
	if err := src.Check(); err != nil {
		t.Fatal(err)
	}
	if src.Refresh != 0 || src.StaleAfter != 0 || src.Format != FormatAuto {
		t.Errorf("Check changed the source: %+v", src)
	}
}
