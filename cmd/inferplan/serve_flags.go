package main

import (
	"fmt"
	"math"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/dispatch"
)

// validate checks every serve flag before the plan is read or the backend opened. A zero or negative queue,
// in-flight limit, body limit, worker count, attempt count or timeout would not fail loudly: it would refuse
// every request, or never time out, once serving.
func (o *serveOptions) validate() error {
	if o.planPath == "" {
		return flagErrorf("--plan is required")
	}
	for _, c := range []struct {
		flag string
		v    int64
	}{{"--max-queue", int64(o.maxQueue)}, {"--max-inflight", int64(o.maxFlight)}, {"--max-body", o.maxBody},
		{"--builtin-workers", int64(o.workers)}, {"--attempts", int64(o.attempts)}} {
		if c.v < 1 {
			return flagErrorf("%s %d: want at least 1", c.flag, c.v)
		}
	}
	if o.maxInput < 0 {
		return flagErrorf("--max-input %d: want a number of tokens (0: the backend's own limit)", o.maxInput)
	}
	for _, c := range []struct {
		flag string
		d    interface{ Seconds() float64 }
	}{{"--backend-timeout", o.backendTO}, {"--request-timeout", o.requestTO}} {
		if c.d.Seconds() <= 0 {
			return flagErrorf("%s %v: want a positive duration", c.flag, c.d)
		}
	}
	if o.grace < 0 {
		return flagErrorf("--grace %v: want a duration of 0 or more (0: do not wait for the backend)", o.grace)
	}
	if _, port, err := net.SplitHostPort(o.listen); err != nil {
		return flagErrorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)", o.listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return flagErrorf("--listen %q: port %q is not a number in 0–65535", o.listen, port)
	}
	if _, _, err := parseMemoryLimit(o.memoryLimit); err != nil {
		return flagErrorf("--memory-limit %q: %v", o.memoryLimit, err)
	}
	return nil
}

// memoryLimitHeadroom is what the automatic memory limit allows above the live heap at start: four times the
// heap growth serve lets the collector allow between collections (dispatch.GCHeadroom), so bursts of thousands
// of requests fit, and the heap cannot grow to GOGC × a burst's peak (GOGC is near 1,000 for a small live heap).
const memoryLimitHeadroom = 4 * dispatch.GCHeadroom

// parseMemoryLimit reads --memory-limit: "auto", "off" (or 0), or a size such as 512MiB, 1GB or bytes. auto is
// reported as (0, true).
func parseMemoryLimit(s string) (limit int64, auto bool, err error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto", "":
		return 0, true, nil
	case "off", "0":
		return math.MaxInt64, false, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"k", 1 << 10},
		{"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}}
	num, mult := strings.ToLower(s), 1.0
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, perr := strconv.ParseFloat(num, 64)
	if perr != nil || !(v*mult >= 16<<20 && v*mult < math.MaxInt64) {
		return 0, false, fmt.Errorf("want auto, off, or a size of at least 16MiB such as 512MiB or 2GB")
	}
	return int64(v * mult), false, nil
}

// applyMemoryLimit sets the Go runtime's soft memory limit (debug.SetMemoryLimit) for serve: the given one, or
// with auto the live heap plus memoryLimitHeadroom — unless $GOMEMLIMIT was set, which the runtime has applied
// already and auto keeps. It returns the limit in force (math.MaxInt64: none).
func applyMemoryLimit(flag string, live uint64) int64 {
	limit, auto, _ := parseMemoryLimit(flag) // validated before
	if auto {
		if _, set := os.LookupEnv("GOMEMLIMIT"); set {
			return debug.SetMemoryLimit(-1)
		}
		limit = int64(live) + memoryLimitHeadroom
	}
	debug.SetMemoryLimit(limit)
	return limit
}

// memoryLimitText is a limit for the log: "off" or MiB.
func memoryLimitText(limit int64) string {
	if limit == math.MaxInt64 {
		return "off"
	}
	return fmt.Sprintf("%dMiB", limit>>20)
}
