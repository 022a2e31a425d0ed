// Package planner is the parent of inferplan's platform planners — planner/lambda searches Lambda buffers,
// planner/cluster (to come) fleets of CPU and GPU instances — and holds what they share: the options every search
// takes, progress reporting, and the error that says no configuration meets the SLO (exit 4). The plan document
// they all write is package planner/plan.
package planner

import (
	"fmt"
	"math"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
)

// Common are the options every platform's search takes.
type Common struct {
	Catalog *pricing.Catalog // prices; the embedded snapshot when nil
	Seed    uint64           // seeds every random choice the search makes (recorded in the plan)
	// Progress, when set, receives progress of long stages; it may be called from several goroutines.
	Progress Progress
	// Now is the clock; only durations are taken from it (for the search's own timing).
	Now func() time.Time
}

// Defaults fills the zero fields.
func (c *Common) Defaults() {
	if c.Catalog == nil {
		c.Catalog = pricing.Embedded()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Progress receives the progress of a long stage.
type Progress func(stage string, done, total int)

// Stage announces a stage of total steps and returns the function that reports how far it got (nil when nobody
// listens).
func (p Progress) Stage(name string, total int) func(done, total int) {
	if p == nil {
		return nil
	}
	p(name, 0, total)
	return func(done, total int) { p(name, done, total) }
}

// InfeasibleError says no configuration meets the SLO, and what SLO would be met.
type InfeasibleError struct {
	SLO plan.SLO
	// Service names the service whose SLO cannot be met, when the plan serves several.
	Service string
	// SmallestFeasibleMs is the smallest latency bound some configuration meets at the same percentile (0 when
	// none can be given; Reason then says why).
	SmallestFeasibleMs float64
	Reason             string
	// File, Line and Field locate the SLO in an input file, when it came from one.
	File  string
	Line  int
	Field string
}

func (e *InfeasibleError) Error() string {
	where := ""
	if e.File != "" {
		where = e.File
		if e.Line > 0 {
			where += fmt.Sprintf(":%d", e.Line)
		}
		where += ": "
	}
	if e.Field != "" {
		where += e.Field + ": "
	}
	if e.Service != "" {
		where += "service " + e.Service + ": "
	}
	msg := fmt.Sprintf("infeasible: %sno configuration meets p%g ≤ %.0f ms", where, e.SLO.Percentile, e.SLO.LatencyMs)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.SmallestFeasibleMs > 0 {
		msg += fmt.Sprintf("; the smallest SLO some configuration meets is p%g ≤ %.0f ms", e.SLO.Percentile, math.Ceil(e.SmallestFeasibleMs))
	}
	return msg
}
