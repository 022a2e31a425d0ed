package latency

import (
	"math"

	"github.com/inferplan/inferplan/profiler/profile"
)

// Summary describes a profile: its configurations and how well the analytical model fits each.
type Summary struct {
	Model        string          `json:"model"`
	SizeUnit     string          `json:"size_unit"`
	Source       string          `json:"source"`
	Measurements int             `json:"measurements"`
	Configs      []ConfigSummary `json:"configs"`
	// LambdaFit is one memory-scaled model across all Lambda configurations, when there are any.
	LambdaFit *FitSummary `json:"lambda_fit,omitempty"`
}

// ConfigSummary is one measured configuration.
type ConfigSummary struct {
	Config   string      `json:"config"`
	Key      profile.Key `json:"-"`
	Points   int         `json:"points"`
	MinBatch int         `json:"min_batch"`
	MaxBatch int         `json:"max_batch"`
	MinSize  float64     `json:"min_size"`
	MaxSize  float64     `json:"max_size"`
	MinMs    float64     `json:"min_latency_ms"`
	MaxMs    float64     `json:"max_latency_ms"`
	Fit      *FitSummary `json:"fit,omitempty"`
}

// FitSummary is a fit's form and errors, in percent. NaN errors (too few points to hold any out) are omitted.
type FitSummary struct {
	Form          string   `json:"form"`
	Points        int      `json:"points"`
	MAPE          float64  `json:"mape_pct"`
	HeldOutMAPE   *float64 `json:"held_out_mape_pct,omitempty"`
	HeldOutMaxAPE *float64 `json:"held_out_max_ape_pct,omitempty"`
}

func summariseFit(f *Fit) *FitSummary {
	s := &FitSummary{Form: f.Form.String(), Points: f.Points, MAPE: f.MAPE}
	if !math.IsNaN(f.HeldOutMAPE) {
		a, b := f.HeldOutMAPE, f.HeldOutMaxAPE
		s.HeldOutMAPE, s.HeldOutMaxAPE = &a, &b
	}
	return s
}

// Summarise lists a profile's configurations with their ranges and model fits.
func Summarise(p *profile.Profile) Summary {
	tab := NewTable(p)
	s := Summary{Model: p.Model, SizeUnit: p.SizeUnit, Source: p.Source, Measurements: len(p.Measurements)}
	var lambdaPts []Point
	for _, k := range tab.Keys() {
		c, _ := tab.Curve(k)
		pts := CurvePoints(c)
		cs := ConfigSummary{Config: k.String(), Key: k, Points: len(pts), MinBatch: c.rows[0].batch, MaxBatch: c.MaxBatch(),
			MinSize: math.Inf(1), MinMs: math.Inf(1)}
		for _, p := range pts {
			cs.MinSize, cs.MaxSize = math.Min(cs.MinSize, p.Size), math.Max(cs.MaxSize, p.Size)
			cs.MinMs, cs.MaxMs = math.Min(cs.MinMs, p.LatencyMs), math.Max(cs.MaxMs, p.LatencyMs)
		}
		if f, err := FitPoints(pts, Shape); err == nil {
			cs.Fit = summariseFit(f)
		}
		if k.Platform == profile.Lambda {
			lambdaPts = append(lambdaPts, pts...)
		}
		s.Configs = append(s.Configs, cs)
	}
	if len(lambdaPts) > 0 {
		if f, err := FitPoints(lambdaPts, LambdaMemory); err == nil {
			s.LambdaFit = summariseFit(f)
		}
	}
	return s
}
