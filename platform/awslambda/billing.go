// Package awslambda holds AWS Lambda's own rules, which every part of inferplan that meets Lambda must agree on:
// how an invocation is billed (per millisecond of service time, by memory; contract §4.6), how a month walks the
// volume tiers, and how a plan's buffers are named as function aliases. Prices themselves are data, in package
// pricing.
package awslambda

import (
	"fmt"
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
)

// BilledMs rounds a service time up to a whole millisecond. Interpolated times carry float noise (3 × 0.1 is
// 0.30000000000000004), so a value within 1e-9 ms of a whole number counts as that number.
func BilledMs(serviceMs float64) float64 {
	return math.Ceil(serviceMs - 1e-9)
}

// InvocationUSD is the price of one invocation (contract §4.6): the service time rounded up to a whole millisecond,
// times the memory in GB (MB / 1024), at the first-tier GB-second price, plus the request price.
func InvocationUSD(serviceMs float64, memoryMB int, gbSecondUSD, requestUSD float64) float64 {
	return BilledMs(serviceMs)*PerMsUSD(memoryMB, gbSecondUSD) + requestUSD
}

// PerMsUSD is what one billed millisecond costs at a memory size.
func PerMsUSD(memoryMB int, gbSecondUSD float64) float64 {
	return float64(memoryMB) / 1024 * gbSecondUSD / 1000
}

// MonthlyUSD is the bill for a month with the given GB-seconds and requests, walking the volume tiers; with
// freeTier the monthly free allowance is deducted first.
func MonthlyUSD(l pricing.LambdaPrice, gbSeconds, requests float64, freeTier bool) float64 {
	if freeTier {
		gbSeconds = math.Max(gbSeconds-l.FreeGBSeconds, 0)
		requests = math.Max(requests-l.FreeRequests, 0)
	}
	cost := requests * l.RequestUSD
	for _, t := range l.Tiers {
		hi := t.ToGBSeconds
		if hi == 0 {
			hi = math.Inf(1)
		}
		if gbSeconds <= t.FromGBSeconds {
			break
		}
		cost += (math.Min(gbSeconds, hi) - t.FromGBSeconds) * t.USDPerGBSec
	}
	return cost
}

// GBSecondsPerRequest is the billed compute of an estimate per request: its cost without the request charges,
// at the GB-second price it was costed at.
func GBSecondsPerRequest(e plan.Estimate, pr plan.Pricing) float64 {
	if e.Requests == 0 || pr.GBSecondUSD <= 0 {
		return 0
	}
	compute := e.CostUSD - e.Invocations*pr.RequestUSD
	return math.Max(compute, 0) / pr.GBSecondUSD / float64(e.Requests)
}

// PlanMonthlyUSD is what a month of requests costs at a Lambda plan's rate, walking the monthly volume tiers (and
// the free tier when freeTier) rather than at the first-tier price the plan was costed at.
func PlanMonthlyUSD(p *plan.Plan, l pricing.LambdaPrice, requests float64, freeTier bool) (float64, error) {
	if p.Lambda == nil {
		return 0, fmt.Errorf("a %s plan is not billed by Lambda", p.Platform)
	}
	e := p.Estimate
	if e.Requests == 0 {
		return 0, fmt.Errorf("the estimate has no requests")
	}
	invocations := requests * e.Invocations / float64(e.Requests)
	return MonthlyUSD(l, requests*GBSecondsPerRequest(e, p.Lambda.Pricing), invocations, freeTier), nil
}

// AliasName is the Lambda alias that runs buffer i (0-based) of a plan at its memory size: `apply` points it at
// a version published with that memory, and the Lambda backend invokes it.
func AliasName(i int) string { return fmt.Sprintf("inferplan-buffer-%d", i+1) }

// AliasBuffer is the 0-based buffer an alias name of AliasName's form stands for.
func AliasBuffer(name string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(name, "inferplan-buffer-%d", &n); err != nil || n < 1 || AliasName(n-1) != name {
		return 0, false
	}
	return n - 1, true
}
