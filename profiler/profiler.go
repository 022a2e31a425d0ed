// Package profiler measures a model's latency over batch sizes × request sizes on a target — the built-in Go
// encoder, a harness in the user's framework (exec), a served model (Open Inference Protocol v2 over HTTP) or an
// AWS Lambda function — and writes a profile (contract §3.2) that the planner reads directly.
//
// Every target gets the same discipline: warm-up runs, repeated runs until the median is stable (or a cap), and a
// record of the median, p95, min, max and counts of every point; nothing is dropped silently. Adaptive sampling
// measures a coarse grid first and then the points where the fitted latency model is least trustworthy.
package profiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/inferplan/inferplan/profiler/profile"
)

// Info describes what a target measures; it becomes the configuration of every measurement.
type Info struct {
	Platform  profile.Platform
	Hardware  string
	MemoryMB  int
	VCPUs     float64
	DType     string
	Sharing   string
	Colocated int
	MPSPct    float64
	Model     string
	SizeUnit  string
	Source    string // how it was measured, for the profile's source field
}

// Sample is one timed invocation.
type Sample struct {
	LatencyMs float64
	// Lambda reports: billed duration, peak memory and, on a cold start, the init duration.
	BilledMs        float64
	MaxMemoryUsedMB float64
	InitMs          float64
	Cold            bool
}

// Target runs one batch of batch requests padded to size and times it.
type Target interface {
	Info() Info
	Run(ctx context.Context, batch, size int) (Sample, error)
	Close() error
}

// Point is one grid point.
type Point struct{ Batch, Size int }

// Options are the measurement discipline.
type Options struct {
	Warmup    int           // runs discarded before timing each point (default 1)
	MinRuns   int           // timed runs at least (default 3)
	MaxRuns   int           // timed runs at most (default 15)
	Tolerance float64       // stop once one more run moves the median by less than this fraction (default 0.02)
	PointTime time.Duration // stop adding runs to a point after this long (default 20 s; MinRuns still apply)
	Progress  func(done, total int)
	Now       func() time.Time
}

func (o *Options) defaults() {
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 1
	}
	if o.MinRuns <= 0 {
		o.MinRuns = 3
	}
	if o.MaxRuns < o.MinRuns {
		o.MaxRuns = max(15, o.MinRuns)
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.02
	}
	if o.PointTime <= 0 {
		o.PointTime = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// PointError is a failure to measure one point, after the points before it were measured.
type PointError struct {
	Point Point
	Err   error
}

func (e *PointError) Error() string {
	return fmt.Sprintf("batch %d, size %d: %v", e.Point.Batch, e.Point.Size, e.Err)
}

func (e *PointError) Unwrap() error { return e.Err }

// Measure measures every point in order. On failure it returns the measurements taken so far and a *PointError.
func Measure(ctx context.Context, t Target, points []Point, opt Options) ([]profile.Measurement, error) {
	opt.defaults()
	var out []profile.Measurement
	for i, p := range points {
		if opt.Progress != nil {
			opt.Progress(i, len(points))
		}
		m, err := measurePoint(ctx, t, p, opt)
		if err != nil {
			return out, &PointError{p, err}
		}
		out = append(out, m)
	}
	if opt.Progress != nil {
		opt.Progress(len(points), len(points))
	}
	return out, nil
}

func measurePoint(ctx context.Context, t Target, p Point, opt Options) (profile.Measurement, error) {
	var (
		warm  []float64
		cold  []Sample
		billd []float64
		maxMB float64
	)
	run := func() (Sample, error) {
		if err := ctx.Err(); err != nil {
			return Sample{}, err
		}
		return t.Run(ctx, p.Batch, p.Size)
	}
	for w := 0; w < opt.Warmup; w++ {
		s, err := run()
		if err != nil {
			return profile.Measurement{}, fmt.Errorf("warm-up: %w", err)
		}
		if s.Cold {
			cold = append(cold, s)
		}
	}
	start := opt.Now()
	for len(warm) < opt.MaxRuns {
		s, err := run()
		if err != nil {
			return profile.Measurement{}, err
		}
		if s.Cold {
			cold = append(cold, s) // a cold start is a different thing to measure: kept apart, not mixed in
			if len(cold) > 3*opt.MaxRuns {
				return profile.Measurement{}, errors.New("every run is a cold start")
			}
			continue
		}
		warm = append(warm, s.LatencyMs)
		if s.BilledMs > 0 {
			billd = append(billd, s.BilledMs)
		}
		maxMB = math.Max(maxMB, s.MaxMemoryUsedMB)
		if len(warm) >= max(opt.MinRuns, 2) {
			med := median(warm)
			prev := median(warm[:len(warm)-1])
			if math.Abs(med-prev) <= opt.Tolerance*med || opt.Now().Sub(start) > opt.PointTime {
				break
			}
		}
	}
	info := t.Info()
	m := profile.Measurement{
		Platform: info.Platform, Hardware: info.Hardware, MemoryMB: info.MemoryMB, VCPUs: info.VCPUs, DType: info.DType,
		Sharing: info.Sharing, Colocated: info.Colocated, MPSPct: info.MPSPct,
		Batch: p.Batch, Size: float64(p.Size), LatencyMs: round3(median(warm)),
		Optional: map[string]float64{
			"latency_min_ms": round3(slices.Min(warm)),
			"latency_max_ms": round3(slices.Max(warm)),
			"latency_p95_ms": round3(nearestRank(warm, 95)),
		},
	}
	if len(billd) > 0 {
		m.Optional["billed_ms"] = median(billd)
	}
	if maxMB > 0 {
		m.Optional["max_memory_used_mb"] = maxMB
	}
	if len(cold) > 0 {
		var init []float64
		for _, c := range cold {
			init = append(init, c.InitMs)
		}
		m.Optional["cold_start_ms"] = round3(median(init))
	}
	// the counts behind the numbers: nothing measured is dropped without a trace
	setExtra(&m, "runs", len(warm))
	if opt.Warmup > 0 {
		setExtra(&m, "warmup_runs", opt.Warmup)
	}
	if len(cold) > 0 {
		setExtra(&m, "cold_runs", len(cold))
	}
	return m, nil
}

// setExtra records a field beyond the contract's on a measurement.
func setExtra(m *profile.Measurement, key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	if m.Extra == nil {
		m.Extra = map[string]json.RawMessage{}
	}
	m.Extra[key] = data
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func nearestRank(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p*float64(len(s))/100 - 1e-9))
	return s[min(max(k, 1), len(s))-1]
}

// Grid is every combination of batches and sizes, in batch-major order.
func Grid(batches, sizes []int) []Point {
	var out []Point
	for _, b := range batches {
		for _, s := range sizes {
			out = append(out, Point{b, s})
		}
	}
	return out
}

// NewProfile wraps measurements of one target into a profile document.
func NewProfile(info Info, ms []profile.Measurement, note string) *profile.Profile {
	src := info.Source
	if note != "" {
		src += " " + note
	}
	return &profile.Profile{Version: profile.Version, Model: info.Model, SizeUnit: info.SizeUnit, Source: src, Measurements: ms}
}
