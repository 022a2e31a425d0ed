package awslambda

import (
	"math"
	"testing"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
)

// lambdaPlan is a Lambda plan costing costPerM per million requests, 250,000 invocations per million.
func lambdaPlan(costPerM float64) *plan.Plan {
	return &plan.Plan{Version: 1, Platform: "lambda", SLO: plan.SLO{Percentile: 95, LatencyMs: 1000},
		Lambda: &plan.Lambda{Arch: "x86_64", Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002, AsOf: "2026-07-20"},
			Buffers: []plan.Buffer{{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 100, MemoryMB: 1024}}},
		Estimate: plan.Estimate{Method: "replay", Requests: 1_000_000, Invocations: 250_000, CostUSD: costPerM, CostPerMillionUSD: costPerM}}
}

func TestMonthlyUSDTiers(t *testing.T) {
	x86, _ := pricing.Embedded().Lambda("x86_64")
	// 10 B GB-s: 6 B at 0.0000166667 + 4 B at 0.000015 = 100,000.2 + 60,000; plus 1 B requests at $0.20/M
	got := MonthlyUSD(x86, 10e9, 1e9, false)
	if want := 100000.2 + 60000 + 200; math.Abs(got-want) > 1e-6 {
		t.Errorf("MonthlyUSD = %v, want %v", got, want)
	}
	// 20 B GB-s reaches the third tier: + 9 B at 0.000015 + 5 B at 0.0000133334
	got = MonthlyUSD(x86, 20e9, 0, false)
	if want := 100000.2 + 135000 + 66667; math.Abs(got-want) > 1e-6 {
		t.Errorf("MonthlyUSD(20 B) = %v, want %v", got, want)
	}
	// the free tier: 400,000 GB-s and 1 M requests
	if got := MonthlyUSD(x86, 400000, 1e6, true); got != 0 {
		t.Errorf("within the free tier: %v", got)
	}
}

func TestInvocationUSD(t *testing.T) {
	// 1117.2 ms at 1024 MB bills 1118 ms: 1.118 s × 1 GB × 0.0000166667 + 0.0000002
	got := InvocationUSD(1117.2, 1024, 0.0000166667, 0.0000002)
	if want := 1.118*0.0000166667 + 0.0000002; math.Abs(got-want) > 1e-15 {
		t.Errorf("InvocationUSD = %v, want %v", got, want)
	}
	for in, want := range map[float64]float64{0.1 + 0.2: 1, 3: 3, 3.0000001: 4, 3 + 1e-12: 3, 0: 0} {
		if got := BilledMs(in); got != want {
			t.Errorf("BilledMs(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestMonthlyWalksTiers(t *testing.T) {
	lp, _ := pricing.Embedded().Lambda("x86_64")
	p := lambdaPlan(60)
	gbs := GBSecondsPerRequest(p.Estimate, p.Lambda.Pricing) // 3.5967 GB-s per request
	// 10 B requests: 35.97 B GB-s spans all three tiers
	m, err := PlanMonthlyUSD(p, lp, 1e10, false)
	if err != nil {
		t.Fatal(err)
	}
	total := gbs * 1e10
	want := 6e9*0.0000166667 + 9e9*0.000015 + (total-15e9)*0.0000133334 + 2.5e9*0.0000002
	if d := m - want; d > 1e-3 || d < -1e-3 {
		t.Fatalf("monthly %v, want %v", m, want)
	}
}

func TestAliasName(t *testing.T) {
	if got := AliasName(0); got != "inferplan-buffer-1" {
		t.Errorf("alias of buffer 0 = %q", got)
	}
}

func TestPlanMonthlyRefusesOtherPlatforms(t *testing.T) {
	lp, _ := pricing.Embedded().Lambda("x86_64")
	p := lambdaPlan(60)
	p.Lambda = nil
	if _, err := PlanMonthlyUSD(p, lp, 1e6, false); err == nil {
		t.Error("a plan without a Lambda body was billed by Lambda")
	}
}
