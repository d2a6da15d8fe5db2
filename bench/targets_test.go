package bench

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// parseList reads a synthetic list back into prefixes (hosts as /32 or /128).
func parseList(t *testing.T, b []byte) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(line, "/") {
			p, err = netip.ParsePrefix(line)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(line)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil || p.Masked() != p {
			t.Fatalf("list line %q: %v (or host bits set)", line, err)
		}
		ps = append(ps, p)
	}
	return ps
}

// covered reports whether a list of hosts, /24s and /48s (the synthetic list's shapes)
// covers a.
func covered(ps []netip.Prefix, a netip.Addr) bool {
	bits := 24
	if a.Is6() {
		bits = 48
	}
	host, net := netip.PrefixFrom(a, a.BitLen()), netip.PrefixFrom(a, bits).Masked()
	for _, p := range ps {
		if p == host || p == net {
			return true
		}
	}
	return false
}

// The whole point of the split address space: listed samples are in the list, clean targets
// never are, so one targets file is right for any agent loading any synthetic list.
func TestSyntheticListCoversListedAndNeverClean(t *testing.T) {
	var buf bytes.Buffer
	l := SyntheticList{Entries: 3000, V6Share: 0.3, PrefixShare: 0.3, Seed: 42}
	listed, err := l.Write(&buf, 100)
	if err != nil {
		t.Fatal(err)
	}
	ps := parseList(t, buf.Bytes())
	if len(ps) != 3000 || len(listed) != 100 {
		t.Fatalf("%d entries, %d samples; want 3000 and 100", len(ps), len(listed))
	}
	var v6, pfx int
	for _, p := range ps {
		if p.Addr().Is6() {
			v6++
		}
		if p.Bits() != p.Addr().BitLen() {
			pfx++
		}
	}
	if v6 < 700 || v6 > 1100 || pfx < 700 || pfx > 1100 {
		t.Errorf("%d IPv6 and %d prefixes of 3000, want about 900 each", v6, pfx)
	}
	for _, tg := range listed {
		if !tg.Blocked || !covered(ps, tg.Addr) {
			t.Errorf("listed sample %s (blocked=%v) not covered by the list", tg.Addr, tg.Blocked)
		}
	}
	for _, tg := range CleanTargets(2000, 0.5, 42) {
		if tg.Blocked || covered(ps, tg.Addr) {
			t.Errorf("clean target %s is covered by the list", tg.Addr)
		}
		if a := tg.Addr; a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a.Is4In6() {
			t.Errorf("clean target %s is a special address", a)
		}
	}
}

func TestSyntheticListIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	l := SyntheticList{Entries: 500, V6Share: 0.5, PrefixShare: 0.5, Seed: 9}
	l.Write(&a, 0)
	l.Write(&b, 0)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed wrote two different lists")
	}
}

func TestTargetsFileRoundTrip(t *testing.T) {
	ts := Mix([]Target{{Addr: netip.MustParseAddr("2001:db8::7"), Blocked: true}},
		CleanTargets(9, 0.5, 1), 10, 0.1)
	var buf bytes.Buffer
	if err := WriteTargets(&buf, ts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTargets(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ts) {
		t.Fatalf("%d targets read back, want %d", len(got), len(ts))
	}
	blocked := 0
	for i := range ts {
		if got[i] != ts[i] {
			t.Errorf("target %d: %+v, want %+v", i, got[i], ts[i])
		}
		if got[i].Blocked {
			blocked++
		}
	}
	if blocked != 1 {
		t.Errorf("%d blocked targets in a 10%% mix of 10, want 1", blocked)
	}
}

func TestReadTargetsRefusesBadLines(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "300.1.1.1\n", "fe80::1%eth0\n", "192.0.2.1 maybe\n"} {
		if _, err := ReadTargets(strings.NewReader(in)); err == nil {
			t.Errorf("ReadTargets(%q) accepted it", in)
		}
	}
	ts, err := ReadTargets(strings.NewReader("# comment\n\n::ffff:192.0.2.1 blocked\n192.0.2.2 allowed\n"))
	if err != nil || len(ts) != 2 || !ts[0].Addr.Is4() || !ts[0].Blocked || ts[1].Blocked {
		t.Errorf("ReadTargets = %+v, %v", ts, err)
	}
}

func TestMixInterleavesTheShare(t *testing.T) {
	listed := []Target{{Addr: netip.MustParseAddr("192.0.2.1"), Blocked: true}}
	ts := Mix(listed, CleanTargets(50, 0, 1), 1000, 0.25)
	n := 0
	for i, tg := range ts {
		if tg.Blocked {
			n++
		}
		if i%100 == 99 && (n < (i+1)/4-1 || n > (i+1)/4+1) {
			t.Fatalf("after %d targets %d are listed, want about a quarter", i+1, n)
		}
	}
	if Mix(nil, nil, 10, 0.5) != nil {
		t.Error("Mix of nothing returned targets")
	}
	if ts := Mix(listed, nil, 3, 0); len(ts) != 3 || !ts[2].Blocked {
		t.Error("Mix with no clean targets must use the listed ones")
	}
}
