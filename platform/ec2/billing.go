// Package ec2 holds Amazon EC2's own billing rule, which every part of inferplan that prices a fleet must agree on:
// Linux on-demand instances are billed per second of running time, with a minimum of 60 seconds each time one is
// launched. Prices themselves are data, in package pricing.
package ec2

import "math"

// MinimumSeconds is the least time a launched Linux on-demand instance is billed for.
const MinimumSeconds = 60

// BilledSeconds is what a run of s seconds is billed as: whole seconds, at least the minimum.
func BilledSeconds(s float64) float64 {
	return math.Max(math.Ceil(s-1e-9), MinimumSeconds)
}

// RunUSD is the price of one instance running s seconds (one launch) at usdPerHour.
func RunUSD(s, usdPerHour float64) float64 {
	return BilledSeconds(s) * usdPerHour / 3600
}

// FleetUSD is the price of count instances running s seconds each (one launch each).
func FleetUSD(count int, s, usdPerHour float64) float64 {
	return float64(count) * RunUSD(s, usdPerHour)
}
