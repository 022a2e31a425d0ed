package plan

import (
	"fmt"
	"math"

	"github.com/inferplan/inferplan/pricing"
)

// GBSecondsPerRequest is the billed compute of the estimate per request: its cost without the request charges,
// at the plan's GB-second price.
func (e Estimate) GBSecondsPerRequest(pr Pricing) float64 {
	if e.Requests == 0 || pr.GBSecondUSD <= 0 {
		return 0
	}
	compute := e.CostUSD - e.Invocations*pr.RequestUSD
	return math.Max(compute, 0) / pr.GBSecondUSD / float64(e.Requests)
}

// MonthlyUSD is what a month of requests requests costs at the estimate's rate, walking Lambda's monthly volume
// tiers (and the free tier when freeTier), rather than at the first-tier price the plan was costed at.
func (e Estimate) MonthlyUSD(pr Pricing, lp pricing.LambdaPrice, requests float64, freeTier bool) (float64, error) {
	if e.Requests == 0 {
		return 0, fmt.Errorf("the estimate has no requests")
	}
	invocations := requests * e.Invocations / float64(e.Requests)
	return lp.MonthlyUSD(requests*e.GBSecondsPerRequest(pr), invocations, freeTier), nil
}
