package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
)

// Target is one client address the load generator sends in a NOTIFY, with the decision the
// agent is expected to answer for it.
type Target struct {
	Addr    netip.Addr
	Blocked bool
}

// ReadTargets reads a targets file: one address per line, optionally followed by "blocked"
// or "allowed" (the default), as WriteTargets writes it. Blank lines and lines starting with
// '#' are skipped. IPv4-mapped IPv6 addresses are kept as IPv4, which is how both HAProxy
// (for an IPv4 client) and the agent see them.
func ReadTargets(r io.Reader) ([]Target, error) {
	var ts []Target
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		fields := strings.Fields(s)
		a, err := netip.ParseAddr(fields[0])
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("targets line %d: %q is not an address", line, fields[0])
		}
		t := Target{Addr: a.Unmap()}
		if len(fields) > 1 {
			switch fields[1] {
			case "blocked":
				t.Blocked = true
			case "allowed":
			default:
				return nil, fmt.Errorf("targets line %d: expected decision %q, want blocked or allowed", line, fields[1])
			}
		}
		ts = append(ts, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, errors.New("targets: no addresses")
	}
	return ts, nil
}

// WriteTargets writes ts in the format ReadTargets reads.
func WriteTargets(w io.Writer, ts []Target) error {
	bw := bufio.NewWriter(w)
	for _, t := range ts {
		decision := "allowed"
		if t.Blocked {
			decision = "blocked"
		}
		if _, err := fmt.Fprintf(bw, "%s %s\n", t.Addr, decision); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// The synthetic address space is split in two by one bit, so that addresses generated as
// "not listed" can never fall into a generated list, whatever its size and seed:
//   - IPv4: bit 8 (the lowest bit of the third octet). List entries are /32 hosts and /24
//     prefixes, both inside the half where the bit is 1.
//   - IPv6: bit 16 of the upper 64 bits (the lowest bit of a /48). Entries are /128 hosts and
//     /48 prefixes in 2000::/3, inside the half where the bit is 1.
//
// Clean addresses are drawn from the other half. IPv4 first octets avoid 0, 127 and
// multicast/reserved space so no agent refuses or special-cases them.
const (
	listedBit4 = 1 << 8
	listedBit6 = 1 << 16
)

func randIPv4(r *rand.Rand, listed bool) uint32 {
	first := 1 + r.Uint32N(223) // 1..223
	if first == 127 {
		first = 128
	}
	a := first<<24 | r.Uint32N(1<<24)
	if listed {
		return a | listedBit4
	}
	return a &^ listedBit4
}

func randIPv6(r *rand.Rand, listed bool) (hi, lo uint64) {
	hi = 0x2000<<48 | r.Uint64()>>3 // 2000::/3
	if listed {
		hi |= listedBit6
	} else {
		hi &^= listedBit6
	}
	return hi, r.Uint64()
}

func addr4(a uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
}

func addr6(hi, lo uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// CleanTargets returns n addresses that no synthetic list contains (so every agent must
// answer blocked=false for them), a share v6Share (0..1) of them IPv6. The same seed gives
// the same addresses.
func CleanTargets(n int, v6Share float64, seed uint64) []Target {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ts := make([]Target, n)
	for i := range ts {
		if r.Float64() < v6Share {
			ts[i].Addr = addr6(randIPv6(r, false))
		} else {
			ts[i].Addr = addr4(randIPv4(r, false))
		}
	}
	return ts
}

// SyntheticList describes a generated blocklist.
type SyntheticList struct {
	Entries     int     // lines to write
	V6Share     float64 // share of IPv6 entries (0..1)
	PrefixShare float64 // share of entries that are prefixes (/24, /48) rather than hosts
	Seed        uint64
}

// WriteFile writes the list to a new file at path; see Write.
func (l SyntheticList) WriteFile(path string, sample int) ([]Target, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	listed, err := l.Write(f, sample)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return listed, err
}

// Write writes the list (plain format: one address or prefix per line, with a comment
// header) and returns sample addresses that it covers, picked evenly along the list, each
// expected Blocked. sample may be 0.
func (l SyntheticList) Write(w io.Writer, sample int) ([]Target, error) {
	r := rand.New(rand.NewPCG(l.Seed, 0x1157))
	bw := bufio.NewWriterSize(w, 1<<16)
	fmt.Fprintf(bw, "# spoaguard-bench synthetic list: %d entries, %.0f%% IPv6, %.0f%% prefixes, seed %d\n",
		l.Entries, 100*l.V6Share, 100*l.PrefixShare, l.Seed)
	var listed []Target
	every := 0
	if sample > 0 {
		every = max(1, l.Entries/sample)
	}
	var buf []byte
	for i := 0; i < l.Entries; i++ {
		prefix := r.Float64() < l.PrefixShare
		var member netip.Addr
		buf = buf[:0]
		if r.Float64() < l.V6Share {
			hi, lo := randIPv6(r, true)
			if prefix {
				hi &^= 0xffff
				buf = netip.PrefixFrom(addr6(hi, 0), 48).AppendTo(buf)
				member = addr6(hi|r.Uint64N(1<<16), r.Uint64())
			} else {
				buf = addr6(hi, lo).AppendTo(buf)
				member = addr6(hi, lo)
			}
		} else {
			a := randIPv4(r, true)
			if prefix {
				a &^= 0xff
				buf = netip.PrefixFrom(addr4(a), 24).AppendTo(buf)
				member = addr4(a | r.Uint32N(256))
			} else {
				buf = addr4(a).AppendTo(buf)
				member = addr4(a)
			}
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return nil, err
		}
		if every > 0 && i%every == 0 && len(listed) < sample {
			listed = append(listed, Target{Addr: member, Blocked: true})
		}
	}
	return listed, bw.Flush()
}

// Mix returns n targets of which a share listedShare comes from listed (cycled) and the rest
// from clean (cycled), interleaved evenly so that every window of the run sees the same mix.
func Mix(listed, clean []Target, n int, listedShare float64) []Target {
	if len(listed) == 0 && len(clean) == 0 {
		return nil
	}
	switch {
	case len(clean) == 0:
		listedShare = 1
	case len(listed) == 0:
		listedShare = 0
	}
	ts := make([]Target, 0, n)
	// Target i is listed when the running count of listed targets, share·(i+1) rounded down,
	// steps up at i (with a little slack for float rounding: 0.1·10 must give 1).
	listedBy := func(i int) int { return int(float64(i)*listedShare + 1e-9) }
	li, ci := 0, 0
	for i := range n {
		if listedBy(i+1) > listedBy(i) {
			ts = append(ts, listed[li%len(listed)])
			li++
		} else {
			ts = append(ts, clean[ci%len(clean)])
			ci++
		}
	}
	return ts
}
