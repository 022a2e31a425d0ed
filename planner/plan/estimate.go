package plan

import (
	"math"
	"reflect"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// Estimate methods.
const (
	MethodReplay   = "replay"
	MethodAnalytic = "analytic"
)

// validate checks an estimate read from a file before anything trusts it: `check` gates CI on these numbers, so
// an attainment of 7 or a negative cost must be an input error naming the field (exit 2), not a pass. A missing
// estimate decodes as the zero value, which has no method.
func (e Estimate) validate(field string) error {
	sub := func(k string) string { return field + "." + k }
	if e.isZero() {
		return inputerr.New("", 0, field, "missing: a plan carries the replay of its trace (contract §3.3)")
	}
	if e.Method != MethodReplay && e.Method != MethodAnalytic {
		return inputerr.New("", 0, sub("method"), "%q: want %q or %q", e.Method, MethodReplay, MethodAnalytic)
	}
	if e.Requests < 1 {
		return inputerr.New("", 0, sub("requests"), "%d: an estimate covers at least one request", e.Requests)
	}
	n := float64(e.Requests)
	for _, c := range []struct {
		k      string
		v, max float64
	}{
		{"invocations", e.Invocations, n}, // every invocation carries at least one request
		{"cost_usd", e.CostUSD, math.MaxFloat64},
		{"cost_per_million_usd", e.CostPerMillionUSD, math.MaxFloat64},
		{"slo_attainment", e.SLOAttainment, 1}, // a share of requests
		{"latency_p50_ms", e.LatencyP50Ms, math.MaxFloat64},
		{"latency_p95_ms", e.LatencyP95Ms, math.MaxFloat64},
		{"latency_p99_ms", e.LatencyP99Ms, math.MaxFloat64},
		{"padding_ratio", e.PaddingRatio, math.MaxFloat64},
	} {
		if !(c.v >= 0 && c.v <= c.max) { // NaN fails both
			if c.max == math.MaxFloat64 {
				return inputerr.New("", 0, sub(c.k), "%v is not a finite number ≥ 0", c.v)
			}
			return inputerr.New("", 0, sub(c.k), "%v is not in [0, %v]", c.v, c.max)
		}
	}
	if e.LatencyP50Ms > e.LatencyP95Ms || e.LatencyP95Ms > e.LatencyP99Ms {
		return inputerr.New("", 0, sub("latency_p95_ms"), "percentiles out of order: p50 %v, p95 %v, p99 %v ms",
			e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms)
	}
	return nil
}

// isZero: the estimate was not in the file.
func (e Estimate) isZero() bool { return reflect.DeepEqual(e, Estimate{}) }

// validateEstimates checks every estimate a plan carries — its own, each baseline's, the analytic prediction and
// the held-out validation — when it carries them: a plan written by hand to be served needs only its buffers,
// and the commands that read estimates (check, diff) ask for them with RequireEstimate.
func (p *Plan) validateEstimates() error {
	if !p.Estimate.isZero() {
		if err := p.Estimate.validate("estimate"); err != nil {
			return err
		}
	}
	for i, b := range p.Baselines {
		if err := b.Estimate.validate(fieldf("baselines", i, "estimate")); err != nil {
			return err
		}
	}
	if l := p.Lambda; l != nil && l.Analytic != nil {
		if err := l.Analytic.validate("analytic"); err != nil {
			return err
		}
	}
	if p.Search != nil {
		if err := p.Search.Margin.validate("search.margin"); err != nil {
			return err
		}
	}
	return p.Validation.validate("validation")
}

// RequireEstimate is the error for a plan without the estimate a command needs (check gates on it, diff
// compares it); the caller names the file.
func (p *Plan) RequireEstimate() error {
	if p.Estimate.isZero() {
		return p.Estimate.validate("estimate")
	}
	return nil
}
