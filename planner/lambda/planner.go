// Package lambda searches Lambda deployment plans: buffers over the request-size axis and, per buffer, a batch
// size, a batch timeout and a memory size, for the least cost that meets a latency SLO percentile over a trace.
// Every plan it returns has been verified by replaying the trace (package replay); the baselines it reports
// (no batching; one buffer, as BATCH does) are searched and replayed the same way.
package lambda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// Input is what a plan is computed from.
type Input struct {
	Profile *profile.Profile
	Trace   *trace.Trace
	// Inputs is recorded in the plan as given (file names and digests).
	Inputs *plan.Inputs
	// Validation, when set, is a second trace to replay the plan over as traffic it was not fitted to, and
	// ValidationName and ValidationSHA256 name it in the plan.
	Validation       *trace.Trace
	ValidationName   string
	ValidationSHA256 string
}

// Options steer the search.
type Options struct {
	planner.Common
	SLO  plan.SLO
	Arch string // x86_64 (default) or arm64: which Lambda price applies
	// MaxBuffers bounds the number of buffers (default 16).
	MaxBuffers int
	// MaxClasses bounds the size classes buffer boundaries fall between (default 32): every distinct size when
	// there are no more, quantile bins otherwise.
	MaxClasses int
	// RefineBudget is the number of replays Bayesian optimisation may spend polishing the plan's timeouts
	// (default 30; negative disables).
	RefineBudget int
	// Window, when positive, also plans every window of this many seconds separately (MBS and BATCH re-fit per
	// hour) and reports the schedule.
	Window float64
	// Margin is how many percentage points of SLO attainment beyond the SLO percentile the plan must reach on the
	// planning trace, so that it still meets the percentile on the next window of the same traffic (robust.go).
	// Zero fits the trace exactly, as plans were made before margins existed.
	Margin float64
	// AutoMargin calibrates the margin from the trace itself (the spread of the plan's attainment across time
	// folds, robust.go) instead of taking Margin.
	AutoMargin bool
	// HoldOut, in (0, 1), plans on the earlier part of the trace and holds out this share of its span, the later
	// part, to replay the plan over as traffic it was not fitted to (validate.go).
	HoldOut float64
}

// Planner errors.
var (
	ErrNoLambda = errors.New("the profile has no Lambda measurements, nor CPU measurements with a vCPU count to emulate Lambda from")
)

// space is the Lambda search space of one profile and one price.
type space struct {
	curves   []*latency.Curve // one per profiled memory size, ascending
	gbs, req float64
	slo      plan.SLO
	// pct is the percentile the replay of a plan must reach on the planning trace: the SLO's, plus the margin.
	pct      float64
	maxBatch int
	// replayBudget overrides singleBufferReplayBudget (tests).
	replayBudget int
}

func (o *Options) defaults() {
	if o.Arch == "" {
		o.Arch = "x86_64"
	}
	o.Common.Defaults()
	if o.MaxBuffers <= 0 {
		o.MaxBuffers = 16
	}
	if o.MaxClasses <= 0 {
		o.MaxClasses = 32
	}
	if o.RefineBudget == 0 {
		o.RefineBudget = 30
	}
}

func newSpace(prof *profile.Profile, opt Options) (*space, []string, error) {
	var warnings []string
	curves, src := latency.NewTable(prof).Lambda(opt.Arch)
	switch src {
	case latency.NoLambda:
		return nil, nil, ErrNoLambda
	case latency.OtherArch:
		warnings = append(warnings, fmt.Sprintf("the profile has no measurements on lambda-%s hardware; using its Lambda measurements as they are, priced as %s", opt.Arch, opt.Arch))
	case latency.EmulatedFromCPU:
		var sizes []string
		for _, c := range curves {
			sizes = append(sizes, fmt.Sprintf("%d MB", c.Key.MemoryMB))
		}
		warnings = append(warnings, fmt.Sprintf("the profile has no Lambda measurements: Lambda is emulated from its CPU measurements by CPU share (k vCPUs = k × 1,769 MB: %s); measure on Lambda (profile --target lambda:FUNCTION) before trusting the costs", strings.Join(sizes, ", ")))
	}
	// contract §4 interpolates between measured sizes and extrapolates from the last two: with one size there is
	// neither, and every request, whatever its size, is given that size's latency
	var single []string
	for _, c := range curves {
		if sz := c.Sizes(); len(sz) == 1 {
			single = append(single, fmt.Sprintf("%d MB (size %g)", c.Key.MemoryMB, sz[0]))
		}
	}
	if len(single) > 0 {
		warnings = append(warnings, fmt.Sprintf("the profile measured one request size at %s: every request is given that size's latency whatever its own size; measure two sizes or more to plan over sizes",
			strings.Join(single, ", ")))
	}
	lp, ok := opt.Catalog.Lambda(opt.Arch)
	if !ok {
		return nil, nil, fmt.Errorf("no Lambda price for architecture %q (want x86_64 or arm64)", opt.Arch)
	}
	s := &space{curves: curves, gbs: lp.GBSecondUSD(), req: lp.RequestUSD, slo: opt.SLO, pct: opt.SLO.Percentile}
	for _, c := range curves {
		s.maxBatch = max(s.maxBatch, c.MaxBatch())
	}
	return s, warnings, nil
}

// need is the number of requests out of n that must meet the latency bound in sample (the margin included).
func (s *space) need(n int) int {
	return int(math.Ceil(s.pct/100*float64(n) - 1e-9))
}

// Plan searches a plan for in under opt.
func Plan(ctx context.Context, in Input, opt Options) (*plan.Plan, error) {
	opt.defaults()
	start := opt.Now()
	if in.Trace == nil || in.Trace.Len() == 0 {
		return nil, errors.New("planner: the trace has no requests")
	}
	if !(opt.SLO.LatencyMs > 0 && opt.SLO.LatencyMs <= MaxSLOMs(in.Trace)) || !(opt.SLO.Percentile > 0 && opt.SLO.Percentile <= 100) {
		return nil, fmt.Errorf("planner: SLO p%g ≤ %g ms is not a valid target", opt.SLO.Percentile, opt.SLO.LatencyMs)
	}
	sp, warnings, err := newSpace(in.Profile, opt)
	if err != nil {
		return nil, fmt.Errorf("planner: %w", err)
	}
	p, err := sp.planTraceValidated(ctx, in, opt)
	if err != nil {
		return nil, err
	}
	p.Lambda.Arch = opt.Arch
	p.Lambda.Pricing = plan.Pricing{GBSecondUSD: sp.gbs, RequestUSD: sp.req, AsOf: opt.Catalog.AsOf(), Source: opt.Catalog.Source()}
	p.Model, p.SizeUnit, p.Inputs = in.Profile.Model, in.Profile.SizeUnit, in.Inputs
	p.Warnings = append(warnings, p.Warnings...)
	if opt.Window > 0 {
		if err := sp.schedule(ctx, p, in.Trace, opt); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.Search.Seconds = math.Round(opt.Now().Sub(start).Seconds()*100) / 100
	return p, nil
}

func (s *space) replay(bufs []plan.Buffer, tr *trace.Trace) (*replay.Result, error) {
	tg, err := s.target(bufs)
	if err != nil {
		return nil, err
	}
	return replay.Run(tg, tr, replay.Options{Percentile: s.pct})
}

func (s *space) target(bufs []plan.Buffer) (*replay.Target, error) {
	tg := &replay.Target{Buffers: bufs, GBSecondUSD: s.gbs, RequestUSD: s.req, SLOMs: s.slo.LatencyMs}
	for i, b := range bufs {
		c := s.curve(b.MemoryMB)
		if c == nil {
			return nil, fmt.Errorf("planner: buffer %d: memory %d MB not profiled", i, b.MemoryMB)
		}
		tg.Curves = append(tg.Curves, c)
	}
	return tg, nil
}

func (s *space) curve(memoryMB int) *latency.Curve {
	i := slices.IndexFunc(s.curves, func(c *latency.Curve) bool { return c.Key.MemoryMB == memoryMB })
	if i < 0 {
		return nil
	}
	return s.curves[i]
}

// smallestFeasible is the smallest latency bound met at the SLO percentile by some plan: each request alone,
// without waiting, at the fastest memory for its size. No plan does better, since waiting and batching only add
// latency, and one buffer per distinct size achieves it.
func (s *space) smallestFeasible(reqs []trace.Request) float64 {
	fastest := map[float64]float64{}
	lat := make([]float64, len(reqs))
	for i, q := range reqs {
		l, ok := fastest[q.Size]
		if !ok {
			l = math.Inf(1)
			for _, c := range s.curves {
				l = math.Min(l, c.At(1, q.Size))
			}
			fastest[q.Size] = l
		}
		lat[i] = l
	}
	slices.Sort(lat)
	return quantile.NearestRank(lat, s.slo.Percentile)
}
