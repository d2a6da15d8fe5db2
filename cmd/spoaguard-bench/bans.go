package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/spoaguard/spoaguard/admin"
	"github.com/spoaguard/spoaguard/bench"
)

// bansResult is what the bans command reports.
type bansResult struct {
	Bans        int           `json:"bans"`
	Posts       int           `json:"posts"`
	Failed      int           `json:"posts_failed"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	BansPerSec  float64       `json:"bans_per_sec"`
	PostP50     time.Duration `json:"post_p50_ns"`
	PostP99     time.Duration `json:"post_p99_ns"`
	PostMax     time.Duration `json:"post_max_ns"`
	FirstError  string        `json:"first_error,omitempty"`
	Description string        `json:"description"`
}

func bansCmd(args []string) error {
	fs := newFlagSet("bans", `Posts bans to a running agent's admin API at a steady rate, as an operator's tooling
or a fleet's writer would during an attack: -per-post single addresses in each POST, one
POST every -per-post/-rate seconds for -duration, one at a time, sending the next at once
when it falls behind. The addresses count up from -from (240.16.0.0 by default, in
240.0.0.0/4 where no target of gen-list is), each with -ttl, so the live set churns
through its expiries too. The bodies are written before the first POST. It prints the
bans per second applied and the POSTs' latency, and exits 1 if a POST failed.`)
	api := fs.String("api", "", "the agent's admin API: IP:port or unix:/path (required)")
	tokenFile := fs.String("api-token-file", "", "`file` holding the API's bearer token (TCP APIs)")
	rate := fs.Int("rate", 10000, "bans per second")
	per := fs.Int("per-post", 100, "bans in each POST")
	ttl := fs.String("ttl", "1s", `each ban's ttl ("0": none)`)
	duration := fs.Duration("duration", 5*time.Second, "how long to post for")
	from := fs.String("from", "240.16.0.0", "the first ban's IPv4 address")
	jsonOut := fs.String("json", "", "write the result as JSON to this `file`")
	fs.Parse(args)
	if *api == "" {
		return errors.New("bans: -api is required")
	}
	if *rate <= 0 || *per <= 0 || *duration <= 0 {
		return errors.New("bans: -rate, -per-post and -duration must be positive")
	}
	first, err := netip.ParseAddr(*from)
	if err != nil || !first.Is4() {
		return fmt.Errorf("bans: -from %q: not an IPv4 address", *from)
	}
	token := ""
	if *tokenFile != "" {
		if token, err = admin.ReadTokenFile(*tokenFile); err != nil {
			return fmt.Errorf("bans: %w", err)
		}
	}
	every := time.Duration(float64(time.Second) * float64(*per) / float64(*rate))
	if every <= 0 {
		return fmt.Errorf("bans: -rate %d with -per-post %d leaves no time between POSTs", *rate, *per)
	}
	n := int(*duration / every)
	if n == 0 {
		return fmt.Errorf("bans: one POST every %v does not fit in -duration %v", every, *duration)
	}
	const maxBans = 10_000_000                // the bodies are written first: about 37 bytes a ban
	if *per > maxBans || n > maxBans/(*per) { // tested so, n*per cannot wrap
		return fmt.Errorf("bans: %d POSTs of %d bans, more than %d in all", n, *per, maxBans)
	}
	a4 := first.As4()
	if uint64(binary.BigEndian.Uint32(a4[:]))+uint64(n*(*per))-1 > 0xffffffff {
		return fmt.Errorf("bans: %d addresses from %s run past 255.255.255.255", n*(*per), first)
	}
	bodies := banBodies(first, n, *per, *ttl)
	c := admin.NewClient(*api, token)
	res := bansResult{Description: fmt.Sprintf("%d bans per POST, one POST every %v, ttl %s", *per, every, *ttl)}
	var lat []time.Duration
	start := time.Now()
	stop := start.Add(*duration + time.Second) // a slow API ends the run, not the count
	for i, body := range bodies {
		if time.Now().After(stop) {
			break
		}
		if wait := time.Until(start.Add(time.Duration(i) * every)); wait > 0 {
			time.Sleep(wait)
		}
		t := time.Now()
		_, err := c.Post(body)
		lat = append(lat, time.Since(t))
		res.Posts++
		if err != nil {
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		res.Bans += *per
	}
	res.Elapsed = time.Since(start)
	res.BansPerSec = float64(res.Bans) / res.Elapsed.Seconds()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.PostP50, res.PostP99, res.PostMax = lat[n/2], lat[n*99/100], lat[n-1]
	}
	fmt.Printf("%d bans in %d POSTs in %v: %.0f bans/s; POST p50 %v, p99 %v, max %v; %d failed\n",
		res.Bans, res.Posts, res.Elapsed.Round(time.Millisecond), res.BansPerSec,
		res.PostP50.Round(time.Microsecond), res.PostP99.Round(time.Microsecond), res.PostMax.Round(time.Microsecond), res.Failed)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bans: %w", err)
		}
	}
	if res.Failed > 0 {
		return fmt.Errorf("bans: %d of %d POSTs failed, the first: %s", res.Failed, res.Posts, res.FirstError)
	}
	if res.Posts < len(bodies) {
		return fmt.Errorf("bans: the API kept %d of %d POSTs from being sent in -duration %v (%.0f bans/s of %d)",
			len(bodies)-res.Posts, len(bodies), *duration, res.BansPerSec, *rate)
	}
	return nil
}

// banBodies returns n POST /v1/bans bodies of per single addresses each, counting up from
// first, each with ttl.
func banBodies(first netip.Addr, n, per int, ttl string) [][]byte {
	a4 := first.As4()
	next := binary.BigEndian.Uint32(a4[:])
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = bench.BanBody(next+uint32(i*per), per, ttl, "")
	}
	return bodies
}
