package profiler

import (
	"context"
	"math"
	"slices"

	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

// AdaptiveOptions steer adaptive sampling.
type AdaptiveOptions struct {
	// TargetMAPE (percent): stop once the model's held-out error and its largest disagreement with interpolation
	// on the points not yet measured are both below it (default 5).
	TargetMAPE float64
	// Budget is the largest share of the grid to measure (default 0.25).
	Budget float64
}

// AdaptiveReport says how adaptive sampling went.
type AdaptiveReport struct {
	Grid, Measured  int
	HeldOutMAPE     float64 // percent, 5-fold cross-validation of the fitted model on the measured points
	MaxDisagreement float64 // percent, largest |model − interpolation| / interpolation over unmeasured points
	Reached         bool    // both below the target within the budget
}

// MeasureAdaptive measures a coarse grid (the smallest, middle and largest batch × size), fits the latency model
// (latency.Shape), and then measures, one at a time, the unmeasured point where the model and the contract's
// interpolation of the measured points disagree most — where the data says least about the curve — until the
// model's held-out error and the largest disagreement are both below the target, or the budget is spent.
func MeasureAdaptive(ctx context.Context, t Target, batches, sizes []int, opt Options, aopt AdaptiveOptions) ([]profile.Measurement, AdaptiveReport, error) {
	opt.defaults()
	if aopt.TargetMAPE <= 0 {
		aopt.TargetMAPE = 5
	}
	if aopt.Budget <= 0 || aopt.Budget > 1 {
		aopt.Budget = 0.25
	}
	batches, sizes = sortedUnique(batches), sortedUnique(sizes)
	grid := Grid(batches, sizes)
	rep := AdaptiveReport{Grid: len(grid)}
	budget := max(int(math.Floor(aopt.Budget*float64(len(grid)))), min(len(grid), 12))
	measured := map[Point]bool{}
	var ms []profile.Measurement
	progress := opt.Progress
	inner := opt
	inner.Progress = nil
	take := func(p Point) error {
		m, err := Measure(ctx, t, []Point{p}, inner)
		if err != nil {
			return err
		}
		ms = append(ms, m...)
		measured[p] = true
		if progress != nil {
			progress(len(ms), budget)
		}
		return nil
	}
	pick := func(xs []int) []int { return sortedUnique([]int{xs[0], xs[len(xs)/2], xs[len(xs)-1]}) }
	for _, b := range pick(batches) {
		for _, s := range pick(sizes) {
			if err := take(Point{b, s}); err != nil {
				return ms, rep, err
			}
		}
	}
	for {
		pts := make([]latency.Point, len(ms))
		for i, m := range ms {
			pts[i] = latency.Point{N: m.Batch, Size: m.Size, LatencyMs: m.LatencyMs}
		}
		fit, err := latency.FitPoints(pts, latency.Shape)
		var next Point
		worst := -1.0
		if err == nil {
			c := curveOf(ms)
			for _, p := range grid {
				if measured[p] {
					continue
				}
				in, _ := c.Latency(p.Batch, float64(p.Size))
				model := fit.Predict(latency.Point{N: p.Batch, Size: float64(p.Size)})
				if d := math.Abs(model-in) / math.Max(in, 1e-9) * 100; d > worst {
					worst, next = d, p
				}
			}
			rep.HeldOutMAPE, rep.MaxDisagreement = fit.HeldOutMAPE, math.Max(worst, 0)
			if !math.IsNaN(fit.HeldOutMAPE) && fit.HeldOutMAPE <= aopt.TargetMAPE && worst <= aopt.TargetMAPE {
				rep.Reached = true
				break
			}
		} else {
			// too few points for a fit: fill in the grid where it is emptiest
			for _, p := range grid {
				if !measured[p] {
					next = p
					break
				}
			}
		}
		if len(ms) >= budget || len(ms) == len(grid) || (worst < 0 && err == nil) {
			break
		}
		if err := take(next); err != nil {
			return ms, rep, err
		}
	}
	rep.Measured = len(ms)
	return ms, rep, nil
}

func curveOf(ms []profile.Measurement) *latency.Curve {
	p := &profile.Profile{Version: profile.Version}
	for _, m := range ms {
		p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.CPU, Batch: m.Batch, Size: m.Size, LatencyMs: m.LatencyMs})
	}
	tab := latency.NewTable(p)
	c, _ := tab.Curve(tab.Keys()[0])
	return c
}

func sortedUnique(xs []int) []int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}
