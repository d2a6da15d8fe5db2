package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is what is sampled at both ends of the measured window.
type usage struct {
	agentCPU    time.Duration
	agentOK     bool
	agentMalloc uint64
	mallocOK    bool
	scrapeCost  uint64 // allocations one scrape costs the agent (measured at the end only)
	selfMalloc  uint64
	selfCPU     time.Duration
	loadAvg     float64
	when        time.Time
}

// readUsage samples the agent and this process. With scrapeCost, the agent's metrics are
// scraped a second time right away: the difference is what one scrape itself allocates in
// the agent (a few hundred allocations, which would otherwise be charged to the ACKs).
func readUsage(cfg *Config, scrapeCost bool) usage {
	u := usage{when: time.Now()}
	if cfg.AgentPID != 0 {
		if d, err := processCPU(cfg.AgentPID); err == nil {
			u.agentCPU, u.agentOK = d, true
		}
	}
	if cfg.AgentMetrics != "" {
		if m, err := scrapeMallocs(cfg.AgentMetrics); err == nil {
			u.agentMalloc, u.mallocOK = m, true
			if m2, err := scrapeMallocs(cfg.AgentMetrics); err == nil && scrapeCost && m2 >= m {
				u.scrapeCost = m2 - m
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.selfMalloc = ms.Mallocs
	u.selfCPU = selfCPU()
	u.loadAvg = loadAverage()
	return u
}

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux fixes it at 100 for user space
// (USER_HZ), whatever the kernel's internal tick rate.
const userHZ = 100

// processCPU returns the CPU time (user + system) process pid has used, from /proc/PID/stat.
// Its resolution is 10 ms: over a 10 s window at full load that is 0.1%.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat reads utime and stime (fields 14 and 15) from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field k is fields[k-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name", len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: bad utime/stime %q %q", fields[11], fields[12])
	}
	return time.Duration(utime+stime) * (time.Second / userHZ), nil
}

// selfCPU returns this process's CPU time from getrusage, at microsecond resolution.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scrapeMallocs reads go_memstats_mallocs_total (the runtime's cumulative count of heap
// allocations, as VictoriaMetrics/metrics and the Prometheus client expose it) from a
// Prometheus text endpoint. The scrape itself costs the agent a few hundred allocations,
// which is noise over a load run of millions of ACKs.
func scrapeMallocs(url string) (uint64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseMallocs(resp.Body)
}

func parseMallocs(r interface{ Read([]byte) (int, error) }) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == "go_memstats_mallocs_total" {
			f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return 0, fmt.Errorf("go_memstats_mallocs_total: %w", err)
			}
			return uint64(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no go_memstats_mallocs_total in the metrics")
}

// loadAverage returns the 1-minute load average from /proc/loadavg, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return -1
	}
	return v
}
