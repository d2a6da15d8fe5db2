package blocklist

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spoaguard/spoaguard/internal/geoiptest"
)

var geoNets = []geoiptest.Network{
	{CIDR: "192.0.2.0/24", Country: "CN"},
	{CIDR: "198.51.100.0/24", Country: "RU"},
	{CIDR: "203.0.113.0/24", Country: "US"},
	{CIDR: "2001:db8:1::/48", Country: "CN"},
	{CIDR: "2001:db8:2::/48", Country: "US"},
}

func newGeoManager(t *testing.T, src Source) (*Manager, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, path, geoNets, geoiptest.Options{})
	src.Name, src.Path = "geo", path
	m, err := NewManager([]Source{src}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

func TestMMDBListCoversExactlyTheSelectedNetworks(t *testing.T) {
	inCN := []string{"192.0.2.0", "192.0.2.255", "::ffff:192.0.2.9", "2001:db8:1::1", "2001:db8:1:ffff::1"}
	inRU := []string{"198.51.100.1"}
	other := []string{"203.0.113.1", "2001:db8:2::1", "192.0.3.0", "10.0.0.1", "2001:db8:3::1", "2002:c000:0201::1"}
	cases := []struct {
		name         string
		src          Source
		blocked, not []string
		entries      int // networks selected
	}{
		{"countries", Source{Format: FormatMMDB, Countries: []string{"CN", "RU"}},
			append(inCN, inRU...), other, 3},
		{"a selection implies the format", Source{Countries: []string{"RU"}}, inRU, append(inCN, other...), 1},
		{"invert: every address but the selected countries", Source{Format: FormatMMDB, Countries: []string{"CN", "RU"}, Invert: true},
			other, append(inCN, inRU...), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newGeoManager(t, tc.src)
			for _, a := range tc.blocked {
				if !blocked(m, a) {
					t.Errorf("%s not blocked", a)
				}
			}
			for _, a := range tc.not {
				if blocked(m, a) {
					t.Errorf("%s blocked", a)
				}
			}
			if st := m.Status()[0]; st.Format != FormatMMDB || st.Entries != tc.entries {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestMMDBReloadsWhenTheDatabaseChanges(t *testing.T) {
	m, path := newGeoManager(t, Source{Format: FormatMMDB, Countries: []string{"CN"}})
	if st := m.Status()[0]; st.Entries != 2 {
		t.Fatalf("entries %d, want 2", st.Entries)
	}
	changed := append([]geoiptest.Network{}, geoNets...)
	changed[0].Country = "US" // 192.0.2.0/24 moves out of CN
	changed[2].Country = "CN" // 203.0.113.0/24 moves in
	geoiptest.Write(t, path, changed, geoiptest.Options{})
	m.poll()
	if blocked(m, "192.0.2.1") || !blocked(m, "203.0.113.1") || !blocked(m, "2001:db8:1::1") {
		t.Error("the changed countries are not applied")
	}

	// A damaged database is refused and the last good list kept.
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	for i := range 32 {
		corrupt[i] = 0xff
	}
	for _, bad := range []struct {
		name string
		b    []byte
	}{
		{"truncated", good[:len(good)*2/3]},
		{"search tree overwritten", corrupt},
		{"a text list", []byte("192.0.2.1\n")},
	} {
		geoiptest.WriteBytes(t, path, bad.b)
		before := m.Status()[0].Failures
		m.poll()
		st := m.Status()[0]
		if st.Failures != before+1 || !strings.Contains(st.LastError, "geoip") {
			t.Errorf("%s: failures %d (was %d), last error %q", bad.name, st.Failures, before, st.LastError)
		}
		if !blocked(m, "203.0.113.1") || blocked(m, "192.0.2.1") {
			t.Errorf("%s: the last good list is not served", bad.name)
		}
	}
}

func TestMMDBOptionsAreChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.mmdb")
	geoiptest.Write(t, path, geoNets, geoiptest.Options{})
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"no selection", Source{Format: FormatMMDB}, "needs countries or asns"},
		{"selection on a text format", Source{Format: FormatPlain, Countries: []string{"CN"}}, "format mmdb only"},
		{"invert on a text format", Source{Format: FormatNetset, Invert: true}, "format mmdb only"},
		{"asns of a Country database", Source{ASNs: []uint32{64496}}, "no record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.src.Name, tc.src.Path = "geo", path
			_, err := NewManager([]Source{tc.src}, Options{Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	_, err := NewManager([]Source{{Name: "geo", Path: path + ".missing", Countries: []string{"CN"}}}, Options{Logger: quiet})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing database: err %v", err)
	}
}

// TestMMDBAllowListExemptsItsCountries: a country list as an allow list exempts its networks
// from every deny list, as any allow list does.
func TestMMDBAllowListExemptsItsCountries(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "GeoLite2-Country.mmdb")
	geoiptest.Write(t, db, geoNets, geoiptest.Options{})
	deny := filepath.Join(dir, "deny.txt")
	writeFile(t, deny, "192.0.2.1\n203.0.113.1\n2001:db8:1::1\n")
	m, err := NewManager([]Source{
		{Name: "deny", Path: deny},
		{Name: "home", Path: db, Kind: Allow, Countries: []string{"CN"}},
	}, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"192.0.2.1": false, "2001:db8:1::1": false, "203.0.113.1": true} {
		if got := blocked(m, a); got != want {
			t.Errorf("%s blocked=%v, want %v", a, got, want)
		}
	}
}

// A country or ASN of the selection that matches no network of the database selects nothing:
// each load of the list says so, naming them, and the status holds them.
func TestMMDBLoadWarnsOfUnmatchedSelectors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geoiptest.Write(t, path, geoNets, geoiptest.Options{})
	m, err := NewManager([]Source{{Name: "geo", Path: path, Countries: []string{"CN", "XX", "DE"}}}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const warning = "the geoip selection has countries or ASNs that match no network of the database"
	out := logs.String()
	if !strings.Contains(out, warning) || !strings.Contains(out, "list=geo") || !strings.Contains(out, `unmatched="countries=XX+DE"`) {
		t.Errorf("start-up log:\n%s\nwant a warning naming list geo and countries XX+DE", out)
	}
	if u := m.Status()[0].Unmatched; !slices.Equal(u.Countries, []string{"XX", "DE"}) || len(u.ASNs) != 0 {
		t.Errorf("status unmatched %+v", u)
	}

	// A reload of the database warns again of what still matches nothing.
	changed := append([]geoiptest.Network{}, geoNets...)
	changed[2].Country = "DE"
	geoiptest.Write(t, path, changed, geoiptest.Options{})
	logs.Reset()
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, warning) || !strings.Contains(out, `unmatched="countries=XX"`) {
		t.Errorf("reload log:\n%s\nwant a warning naming country XX only", out)
	}
	if u := m.Status()[0].Unmatched; !slices.Equal(u.Countries, []string{"XX"}) {
		t.Errorf("status unmatched after the reload %+v", u)
	}

	// A selection that all matches loads without the warning.
	logs.Reset()
	m2, err := NewManager([]Source{{Name: "geo", Path: path, Countries: []string{"CN", "DE"}}}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if out := logs.String(); strings.Contains(out, warning) || !m2.Status()[0].Unmatched.Empty() {
		t.Errorf("a selection that all matches: log\n%s\nstatus %+v", out, m2.Status()[0].Unmatched)
	}
}
