package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/pricing"
)

func f(v float64) *float64 { return &v }

func testPlan(costPerM, att, p95 float64) *plan.Plan {
	return &plan.Plan{Version: 1, Platform: "lambda", SLO: plan.SLO{Percentile: 95, LatencyMs: 1000},
		Lambda: &plan.Lambda{Arch: "x86_64", Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002, AsOf: "2026-07-20"},
			Buffers: []plan.Buffer{{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 100, MemoryMB: 1024}}},
		Estimate: plan.Estimate{Method: "replay", Requests: 1_000_000, Invocations: 250_000, CostUSD: costPerM, CostPerMillionUSD: costPerM,
			SLOAttainment: att, LatencyP95Ms: p95, LatencyP99Ms: 2 * p95}}
}

func TestEvaluateThresholds(t *testing.T) {
	lp, _ := pricing.Embedded().Lambda("x86_64")
	bill := func(p *plan.Plan, requests float64, freeTier bool) (float64, error) {
		return awslambda.PlanMonthlyUSD(p, lp, requests, freeTier)
	}
	p := testPlan(60, 0.97, 900)
	base := testPlan(50, 0.99, 800)
	pol := Policy{MaxCostPerMillionUSD: f(55), MinSLOAttainment: f(0.95), MaxP95Ms: f(1000), MaxP99Ms: f(1500),
		MonthlyRequests: f(1e9), MaxMonthlyCostUSD: f(100000), Baseline: "main.json", MaxIncreasePct: f(10)}
	r, err := Evaluate("p.json", p, base, pol, bill)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range r.Checks {
		got[c.Name] = c.Pass
	}
	want := map[string]bool{
		"SLO p95 ≤ 1000 ms met": true, "cost per million requests": false, "monthly cost at 1B requests": true,
		"requests within 1000 ms": true, "p95 latency": true, "p99 latency": false, "cost per million vs the baseline": false,
	}
	for k, v := range want {
		if pass, ok := got[k]; !ok || pass != v {
			t.Errorf("%s: pass %v (present %v), want %v", k, pass, ok, v)
		}
	}
	if r.Pass || r.Broken != 3 {
		t.Fatalf("pass %v broken %d", r.Pass, r.Broken)
	}
	// monthly: 1e9 requests at $60 per million, all of it compute but the 250k invocations' request charges:
	// GB-s per request = (60 − 250,000 × 2e-7)/1e6/0.0000166667; a month walks the tiers from 0, so below 6 B GB-s
	// it is exactly 1e9 × 60e-6 = $60,000
	if r.Summary.MonthlyUSD == nil || *r.Summary.MonthlyUSD != 60000 {
		t.Fatalf("monthly %v", r.Summary.MonthlyUSD)
	}
	// the plan's own SLO is always checked
	r, _ = Evaluate("p.json", testPlan(10, 0.94, 900), nil, Policy{}, bill)
	if r.Pass || len(r.Checks) != 1 {
		t.Fatalf("missed SLO: %+v", r)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte("max_cost_per_million_usd: 70\nmin_slo_attainment: 0.95\nbaseline: plans/main.json\nmax_increase_pct: 10\n"), "inferplan.yaml")
	if err != nil || *p.MaxCostPerMillionUSD != 70 || *p.MaxIncreasePct != 10 || p.Baseline != "plans/main.json" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, tc := range []struct {
		doc   string
		line  int
		words string
	}{
		{"max_cost_per_million_usd: 70\nmax_cost: 3\n", 2, "max_cost"},
		{"min_slo_attainment: 95\n", 1, "share in (0, 1]"},
		{"max_monthly_cost_usd: 10\n", 1, "monthly_requests"},
		{"max_increase_pct: 10\n", 1, "baseline"},
		{"max_p95_ms: fast\n", 1, "cannot unmarshal"},
		{"max_p95_ms: [\n", 1, "invalid YAML"},
		// YAML's special floats are numbers to the decoder, never thresholds
		{"baseline: main.json\nmax_increase_pct: .nan\n", 2, "not a finite number"},
		{"baseline: main.json\nmax_increase_pct: .inf\n", 2, "not a finite number"},
		{"max_cost_per_million_usd: .inf\n", 1, "not a finite positive number"},
		{"max_p99_ms: .nan\n", 1, "not a finite positive number"},
		{"monthly_requests: -.inf\n", 1, "not a finite positive number"},
	} {
		_, err := ParsePolicy([]byte(tc.doc), "inferplan.yaml")
		var ie *inputerr.Error
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%q: %v", tc.doc, err)
			continue
		}
		if ie.File != "inferplan.yaml" || ie.Line != tc.line {
			t.Errorf("%q: %v names line %d, want %d", tc.doc, err, ie.Line, tc.line)
		}
	}
	if p, err := ParsePolicy(nil, "empty.yaml"); err != nil || p.MaxCostPerMillionUSD != nil {
		t.Fatalf("empty policy: %+v %v", p, err)
	}
}
