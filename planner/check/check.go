// Package check is the CI gate: thresholds on a plan's cost, monthly bill, SLO attainment and tail latency, and on
// its cost change against a baseline plan. A policy file (inferplan.yaml) holds them so the CI line stays short.
package check

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/internal/yamlfile"
	"github.com/inferplan/inferplan/planner/plan"
)

// PolicyFile is the policy file `check` reads from the working directory when no --policy is given.
const PolicyFile = "inferplan.yaml"

// Policy holds the thresholds. A nil field is not checked.
type Policy struct {
	MaxCostPerMillionUSD *float64 `yaml:"max_cost_per_million_usd" json:"max_cost_per_million_usd,omitempty"`
	MaxMonthlyCostUSD    *float64 `yaml:"max_monthly_cost_usd" json:"max_monthly_cost_usd,omitempty"`
	// MonthlyRequests is the volume a monthly bill is computed at (required by max_monthly_cost_usd).
	MonthlyRequests *float64 `yaml:"monthly_requests" json:"monthly_requests,omitempty"`
	FreeTier        bool     `yaml:"free_tier" json:"free_tier,omitempty"`
	// MinSLOAttainment is a share of requests in (0, 1]; the plan's own SLO is always checked as well.
	MinSLOAttainment *float64 `yaml:"min_slo_attainment" json:"min_slo_attainment,omitempty"`
	MaxP95Ms         *float64 `yaml:"max_p95_ms" json:"max_p95_ms,omitempty"`
	MaxP99Ms         *float64 `yaml:"max_p99_ms" json:"max_p99_ms,omitempty"`
	// Baseline is a plan file to compare with; MaxIncreasePct bounds the rise of cost per million over it.
	Baseline       string   `yaml:"baseline" json:"baseline,omitempty"`
	MaxIncreasePct *float64 `yaml:"max_increase_pct" json:"max_increase_pct,omitempty"`
	// MaxCostPerHourUSD bounds what a cluster plan's fleet costs an hour.
	MaxCostPerHourUSD *float64 `yaml:"max_cost_per_hour_usd" json:"max_cost_per_hour_usd,omitempty"`
}

// LoadPolicy reads a policy file; unknown keys and wrong types are errors naming the line.
func LoadPolicy(path string) (Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, &inputerr.Error{File: path, Err: err}
	}
	return ParsePolicy(data, path)
}

// ParsePolicy parses a policy document.
func ParsePolicy(data []byte, name string) (Policy, error) {
	var p Policy
	if _, err := yamlfile.Decode(data, name, "policy", &p); err != nil && !errors.Is(err, yamlfile.ErrEmpty) {
		return Policy{}, err
	}
	if err := p.Validate(); err != nil {
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			ie.File = name
			ie.Line = lineOfKey(data, ie.Field)
		}
		return Policy{}, err
	}
	return p, nil
}

func lineOfKey(data []byte, key string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), key+":") {
			return i + 1
		}
	}
	return 0
}

// Validate checks the thresholds make sense.
func (p Policy) Validate() error {
	// YAML reads .nan and .inf as numbers; neither is a threshold (leave a key out for no limit)
	pos := func(v *float64, key string) error {
		if v != nil && !(*v > 0 && *v <= math.MaxFloat64) {
			return inputerr.New("", 0, key, "%v is not a finite positive number", *v)
		}
		return nil
	}
	for _, c := range []struct {
		v   *float64
		key string
	}{{p.MaxCostPerMillionUSD, "max_cost_per_million_usd"}, {p.MaxMonthlyCostUSD, "max_monthly_cost_usd"},
		{p.MonthlyRequests, "monthly_requests"}, {p.MaxP95Ms, "max_p95_ms"}, {p.MaxP99Ms, "max_p99_ms"},
		{p.MaxCostPerHourUSD, "max_cost_per_hour_usd"}} {
		if err := pos(c.v, c.key); err != nil {
			return err
		}
	}
	if v := p.MinSLOAttainment; v != nil && !(*v > 0 && *v <= 1) {
		return inputerr.New("", 0, "min_slo_attainment", "%v is not a share in (0, 1] (write 0.95 for 95%%)", *v)
	}
	if v := p.MaxIncreasePct; v != nil && !(*v >= 0 && *v <= math.MaxFloat64) {
		return inputerr.New("", 0, "max_increase_pct", "%v is not a finite number ≥ 0", *v)
	}
	if p.MaxMonthlyCostUSD != nil && p.MonthlyRequests == nil {
		return inputerr.New("", 0, "max_monthly_cost_usd", "needs monthly_requests, the volume to cost a month at")
	}
	if p.MaxIncreasePct != nil && p.Baseline == "" {
		return inputerr.New("", 0, "max_increase_pct", "needs a baseline plan (baseline: or --baseline)")
	}
	return nil
}

// Override returns p with every threshold o sets replacing p's (flags over the policy file).
func (p Policy) Override(o Policy) Policy {
	set := func(dst **float64, src *float64) {
		if src != nil {
			*dst = src
		}
	}
	set(&p.MaxCostPerMillionUSD, o.MaxCostPerMillionUSD)
	set(&p.MaxMonthlyCostUSD, o.MaxMonthlyCostUSD)
	set(&p.MonthlyRequests, o.MonthlyRequests)
	set(&p.MinSLOAttainment, o.MinSLOAttainment)
	set(&p.MaxP95Ms, o.MaxP95Ms)
	set(&p.MaxP99Ms, o.MaxP99Ms)
	set(&p.MaxIncreasePct, o.MaxIncreasePct)
	set(&p.MaxCostPerHourUSD, o.MaxCostPerHourUSD)
	if o.Baseline != "" {
		p.Baseline = o.Baseline
	}
	p.FreeTier = p.FreeTier || o.FreeTier
	return p
}

// Check is one threshold and how the plan stands against it.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Unit  string  `json:"unit"` // usd, usd_per_million, share, ms, pct
	Op    string  `json:"op"`   // "<=" or ">="
	Pass  bool    `json:"pass"`
}

// Result is a check's outcome.
type Result struct {
	Plan     string       `json:"plan"`
	Baseline string       `json:"baseline,omitempty"`
	Summary  plan.Summary `json:"summary"`
	Checks   []Check      `json:"checks"`
	Pass     bool         `json:"pass"`
	Broken   int          `json:"broken"`
}

// MonthlyBill is what a month of requests served by a plan costs, by its platform's billing rules (Lambda's
// volume tiers, say): check knows only the neutral estimate, so the platform supplies the bill.
type MonthlyBill func(p *plan.Plan, requests float64, freeTier bool) (float64, error)

// Evaluate checks plan p (named name) against the policy; baseline is the plan of pol.Baseline (nil when none);
// bill prices monthly bills.
func Evaluate(name string, p, baseline *plan.Plan, pol Policy, bill MonthlyBill) (Result, error) {
	r := Result{Plan: name, Baseline: pol.Baseline, Summary: plan.Summarize(p)}
	e := p.Estimate
	add := func(n string, v, limit float64, unit, op string) {
		pass := v <= limit+1e-12
		if op == ">=" {
			pass = v >= limit-1e-12
		}
		r.Checks = append(r.Checks, Check{Name: n, Value: v, Limit: limit, Unit: unit, Op: op, Pass: pass})
	}
	// the plan's own promise comes first: its estimate must meet its SLO (every service's, on a cluster)
	if p.Cluster != nil {
		for _, s := range e.Services {
			add(fmt.Sprintf("%s: SLO p%g ≤ %g ms met", s.Name, s.SLO.Percentile, s.SLO.LatencyMs), s.SLOAttainment, s.SLO.Percentile/100, "share", ">=")
		}
	} else {
		add(fmt.Sprintf("SLO p%g ≤ %g ms met", p.SLO.Percentile, p.SLO.LatencyMs), e.SLOAttainment, p.SLO.Percentile/100, "share", ">=")
	}
	if v := pol.MaxCostPerMillionUSD; v != nil {
		add("cost per million requests", e.CostPerMillionUSD, *v, "usd_per_million", "<=")
	}
	if v := pol.MaxCostPerHourUSD; v != nil {
		add("cost per hour", e.CostPerHourUSD, *v, "usd", "<=")
	}
	if pol.MonthlyRequests != nil {
		m, err := bill(p, *pol.MonthlyRequests, pol.FreeTier)
		if err != nil {
			return r, err
		}
		m = math.Round(m*100) / 100
		r.Summary.MonthlyUSD = &m
		if v := pol.MaxMonthlyCostUSD; v != nil {
			name := fmt.Sprintf("monthly cost at %s requests", compact(*pol.MonthlyRequests))
			if p.Cluster != nil {
				name = "monthly cost of the fleet (730 h)"
			}
			add(name, m, *v, "usd", "<=")
		}
	}
	if p.Cluster != nil {
		// per service: a fleet's mixed percentiles would hide one service's tail behind another's
		for _, s := range e.Services {
			if v := pol.MinSLOAttainment; v != nil {
				add(fmt.Sprintf("%s: requests within %g ms", s.Name, s.SLO.LatencyMs), s.SLOAttainment, *v, "share", ">=")
			}
			if v := pol.MaxP95Ms; v != nil {
				add(s.Name+": p95 latency", s.LatencyP95Ms, *v, "ms", "<=")
			}
			if v := pol.MaxP99Ms; v != nil {
				add(s.Name+": p99 latency", s.LatencyP99Ms, *v, "ms", "<=")
			}
		}
	} else {
		if v := pol.MinSLOAttainment; v != nil {
			add(fmt.Sprintf("requests within %g ms", p.SLO.LatencyMs), e.SLOAttainment, *v, "share", ">=")
		}
		if v := pol.MaxP95Ms; v != nil {
			add("p95 latency", e.LatencyP95Ms, *v, "ms", "<=")
		}
		if v := pol.MaxP99Ms; v != nil {
			add("p99 latency", e.LatencyP99Ms, *v, "ms", "<=")
		}
	}
	if v := pol.MaxIncreasePct; v != nil && baseline != nil {
		old := baseline.Estimate.CostPerMillionUSD
		inc := 0.0
		if old > 0 {
			inc = (e.CostPerMillionUSD/old - 1) * 100
		}
		add("cost per million vs the baseline", math.Round(inc*100)/100, *v, "pct", "<=")
	}
	r.Pass = true
	for _, c := range r.Checks {
		if !c.Pass {
			r.Pass = false
			r.Broken++
		}
	}
	return r, nil
}

func compact(v float64) string {
	switch {
	case v >= 1e9 && math.Mod(v, 1e9) == 0:
		return fmt.Sprintf("%gB", v/1e9)
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
