package plan

import (
	"math"
	"slices"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/internal/inputerr"
)

// NoUpperBound is the max_size of a last buffer that takes every larger size (contract §3.3).
const NoUpperBound = batching.NoUpperBound

// MaxTimeoutMs bounds a buffer's timeout_ms: a day. The planner never waits longer than the trace's span or the
// SLO, and a day is beyond both for any trace worth serving; much larger values overflow time arithmetic.
const MaxTimeoutMs = 24 * 3600 * 1000

// Lambda is the body of a Lambda plan: buffers over the request-size axis, each batching its requests into
// invocations of one memory size (contract §3.3), and the prices they were costed at.
type Lambda struct {
	Arch     string
	Pricing  Pricing
	Buffers  []Buffer
	Analytic *Estimate // the analytic model's own prediction of the estimate
	// LowerBound is the ideal lower bound on cost.
	LowerBound *Bound
	// Schedule is the per-window plan (`plan --window`), and ScheduleEstimate the replay of running it.
	Schedule         []Window
	ScheduleEstimate *Estimate
}

// Pricing is the price a plan was costed at.
type Pricing struct {
	GBSecondUSD float64 `json:"gb_second_usd"`
	RequestUSD  float64 `json:"request_usd"`
	AsOf        string  `json:"as_of"`
	Source      string  `json:"source,omitempty"`
}

// Buffer batches the requests whose size is in [MinSize, MaxSize].
type Buffer struct {
	MinSize   float64 `json:"min_size"`
	MaxSize   float64 `json:"max_size"`
	BatchSize int     `json:"batch_size"`
	TimeoutMs float64 `json:"timeout_ms"`
	MemoryMB  int     `json:"memory_mb"`
	// Stats is this buffer's part of the plan's estimate (beyond the contract).
	Stats *BufferStats `json:"stats,omitempty"`
}

// BufferStats is one buffer's share of a replay.
type BufferStats struct {
	Requests     int     `json:"requests"`
	Invocations  int     `json:"invocations"`
	MeanBatch    float64 `json:"mean_batch"`
	CostUSD      float64 `json:"cost_usd"`
	PaddingRatio float64 `json:"padding_ratio"`
	LatencyP95Ms float64 `json:"latency_p95_ms"`
	TimeoutShare float64 `json:"timeout_share"` // share of batches dispatched by the timeout rather than full
}

// Bound is the ideal lower bound on cost: every request in a full batch of its own exact size, no waiting, at the
// cheapest memory within the SLO.
type Bound struct {
	CostUSD           float64 `json:"cost_usd"`
	CostPerMillionUSD float64 `json:"cost_per_million_usd"`
}

// Window is one entry of a per-window schedule (`plan --window`): the plan for the requests arriving in
// [StartS, EndS) seconds of the trace, and how the whole-trace plan does on the same requests.
type Window struct {
	StartS   float64  `json:"start_s"`
	EndS     float64  `json:"end_s"`
	Buffers  []Buffer `json:"buffers"`
	Estimate Estimate `json:"estimate"`
	// WholeTrace is the replay of the plan's top-level buffers over this window alone.
	WholeTrace Estimate `json:"whole_trace_plan"`
}

// lambdaJSON is contract v1's layout of a Lambda plan, field for field in the order v1 files have them.
type lambdaJSON struct {
	Version          int                  `json:"version"`
	Platform         string               `json:"platform"`
	Arch             string               `json:"arch,omitempty"`
	SLO              SLO                  `json:"slo"`
	Pricing          Pricing              `json:"pricing"`
	Buffers          []Buffer             `json:"buffers"`
	Estimate         Estimate             `json:"estimate"`
	Analytic         *Estimate            `json:"analytic,omitempty"`
	Baselines        []lambdaBaselineJSON `json:"baselines,omitempty"`
	Model            string               `json:"model,omitempty"`
	SizeUnit         string               `json:"size_unit,omitempty"`
	Inputs           *Inputs              `json:"inputs,omitempty"`
	Search           *Search              `json:"search,omitempty"`
	LowerBound       *Bound               `json:"lower_bound,omitempty"`
	Schedule         []Window             `json:"schedule,omitempty"`
	ScheduleEstimate *Estimate            `json:"schedule_estimate,omitempty"`
	Warnings         []string             `json:"warnings,omitempty"`
	Validation       *Validation          `json:"validation,omitempty"`
}

type lambdaBaselineJSON struct {
	Name     string   `json:"name"` // no-batching, single-buffer
	Buffers  []Buffer `json:"buffers"`
	Estimate Estimate `json:"estimate"`
}

func lambdaWire(p *Plan) lambdaJSON {
	l := p.Lambda
	w := lambdaJSON{Version: p.Version, Platform: p.Platform, Arch: l.Arch, SLO: p.SLO, Pricing: l.Pricing,
		Buffers: l.Buffers, Estimate: p.Estimate, Analytic: l.Analytic, Model: p.Model, SizeUnit: p.SizeUnit,
		Inputs: p.Inputs, Search: p.Search, LowerBound: l.LowerBound, Schedule: l.Schedule,
		ScheduleEstimate: l.ScheduleEstimate, Warnings: p.Warnings, Validation: p.Validation}
	for _, b := range p.Baselines {
		w.Baselines = append(w.Baselines, lambdaBaselineJSON{Name: b.Name, Buffers: b.Buffers, Estimate: b.Estimate})
	}
	return w
}

func (w *lambdaJSON) plan() *Plan {
	p := &Plan{Version: w.Version, Platform: w.Platform, Model: w.Model, SizeUnit: w.SizeUnit, SLO: w.SLO,
		Estimate: w.Estimate, Inputs: w.Inputs, Search: w.Search, Warnings: w.Warnings, Validation: w.Validation,
		Lambda: &Lambda{Arch: w.Arch, Pricing: w.Pricing, Buffers: w.Buffers, Analytic: w.Analytic,
			LowerBound: w.LowerBound, Schedule: w.Schedule, ScheduleEstimate: w.ScheduleEstimate}}
	for _, b := range w.Baselines {
		p.Baselines = append(p.Baselines, Baseline{Name: b.Name, Buffers: b.Buffers, Estimate: b.Estimate})
	}
	return p
}

// validate checks the contract's rules on a Lambda body: prices, and buffers that are sorted and do not overlap,
// each with a positive batch size, a non-negative timeout and a memory size.
func (l *Lambda) validate() error {
	if !(l.Pricing.GBSecondUSD > 0) || l.Pricing.RequestUSD < 0 {
		return inputerr.New("", 0, "pricing", "gb_second_usd must be positive and request_usd non-negative")
	}
	return ValidateBuffers(l.Buffers)
}

// ValidateBuffers checks a buffer list by the contract's rules.
func ValidateBuffers(bufs []Buffer) error {
	if len(bufs) == 0 {
		return inputerr.New("", 0, "buffers", "no buffers")
	}
	for i, b := range bufs {
		f := func(k string) string { return fieldf("buffers", i, k) }
		if math.IsNaN(b.MinSize) || math.IsNaN(b.MaxSize) || b.MinSize > b.MaxSize {
			return inputerr.New("", 0, f("max_size"), "min_size %v is above max_size %v", b.MinSize, b.MaxSize)
		}
		if i > 0 && b.MinSize <= bufs[i-1].MaxSize {
			return inputerr.New("", 0, f("min_size"), "%v overlaps the previous buffer, which ends at %v", b.MinSize, bufs[i-1].MaxSize)
		}
		if b.BatchSize < 1 {
			return inputerr.New("", 0, f("batch_size"), "%d is below 1", b.BatchSize)
		}
		if !(b.TimeoutMs >= 0) || math.IsInf(b.TimeoutMs, 0) {
			return inputerr.New("", 0, f("timeout_ms"), "%v is not a non-negative number", b.TimeoutMs)
		}
		if b.TimeoutMs > MaxTimeoutMs { // beyond it, nanosecond timers overflow (serve would dispatch at once)
			return inputerr.New("", 0, f("timeout_ms"), "%v ms is longer than a day (%d ms); no batch usefully waits longer", b.TimeoutMs, MaxTimeoutMs)
		}
		if b.MemoryMB < 1 {
			return inputerr.New("", 0, f("memory_mb"), "missing or below 1")
		}
	}
	return nil
}

// Ranges are the buffers' upper sizes, for routing requests to them (batching.Ranges.Index is contract §3.3's
// rule: the first buffer whose max_size is at least the size, or the last).
func Ranges(bufs []Buffer) batching.Ranges {
	r := make(batching.Ranges, len(bufs))
	for i, b := range bufs {
		r[i] = b.MaxSize
	}
	return r
}

// TimeoutMicros is a buffer's timeout in integer microseconds: round(timeout_ms × 1000) (contract §4).
func (b Buffer) TimeoutMicros() int64 { return batching.TimeoutMicros(b.TimeoutMs) }

// Strip returns the buffers without their stats (what a baseline or a diff compares).
func Strip(bufs []Buffer) []Buffer {
	out := slices.Clone(bufs)
	for i := range out {
		out[i].Stats = nil
	}
	return out
}
