package lambda

import (
	"math"
)

// choice is a plan in the making: a run of classes and the option chosen for it.
type choice struct {
	seg *segment
	opt option
}

// combine picks boundaries and one option per buffer for the least total analytic cost whose expected number of
// requests within the latency bound reaches target, with at most maxBuffers buffers.
//
// The SLO is a percentile over the whole plan, not per buffer, so buffers trade slack: a cheap buffer may miss
// more often if another meets more. Minimising Σ cost − μ·Σ met separates by buffer, and for a given μ a dynamic
// program over class boundaries solves it exactly; μ is then raised by bisection until the plan meets the target
// (Lagrangian relaxation of the knapsack-like constraint). When even μ → ∞ cannot reach the target, the plan that
// meets the most is returned and ok is false.
func combine(segs [][]*segment, c, maxBuffers int, target float64) ([]choice, bool) {
	solve := func(mu float64) ([]choice, float64, float64) {
		return dp(segs, c, maxBuffers, mu)
	}
	lo, hi := 0.0, 1e-9
	plan, _, met := solve(hi)
	for met < target && hi < 1e15 {
		lo, hi = hi, hi*4
		plan, _, met = solve(hi)
	}
	if met < target {
		return plan, false
	}
	best := plan
	for it := 0; it < 60 && hi-lo > 1e-12*hi; it++ {
		mid := (lo + hi) / 2
		p, _, m := solve(mid)
		if m >= target {
			hi, best = mid, p
		} else {
			lo = mid
		}
	}
	return best, true
}

// dp minimises Σ (cost − μ·met) over partitions of classes 0…c−1 into at most maxBuffers runs, each with its best
// option for μ; it returns the plan with its total cost and met.
func dp(segs [][]*segment, c, maxBuffers int, mu float64) ([]choice, float64, float64) {
	// best option of each segment for this μ
	val := make([][]float64, c)
	pick := make([][]int, c)
	for i := 0; i < c; i++ {
		val[i] = make([]float64, c)
		pick[i] = make([]int, c)
		for j := i; j < c; j++ {
			seg := segs[i][j]
			v, p := math.Inf(1), -1
			if seg.requests == 0 {
				v, p = 0, -1 // an empty run costs nothing and meets nothing
			}
			for k, o := range seg.frontier {
				if x := o.cost - mu*o.met; x < v {
					v, p = x, k
				}
			}
			val[i][j], pick[i][j] = v, p
		}
	}
	kmax := min(maxBuffers, c)
	// V[k][j]: best value covering classes 0…j−1 with exactly k runs
	V := make([][]float64, kmax+1)
	from := make([][]int, kmax+1)
	for k := range V {
		V[k] = make([]float64, c+1)
		from[k] = make([]int, c+1)
		for j := range V[k] {
			V[k][j] = math.Inf(1)
		}
	}
	V[0][0] = 0
	for k := 1; k <= kmax; k++ {
		for j := 1; j <= c; j++ {
			for i := k - 1; i < j; i++ {
				if v := V[k-1][i] + val[i][j-1]; v < V[k][j] {
					V[k][j], from[k][j] = v, i
				}
			}
		}
	}
	bestK := 1
	for k := 2; k <= kmax; k++ {
		if V[k][c] < V[bestK][c] {
			bestK = k
		}
	}
	var out []choice
	var cost, met float64
	for k, j := bestK, c; k > 0; k-- {
		i := from[k][j]
		seg := segs[i][j-1]
		ch := choice{seg: seg}
		if p := pick[i][j-1]; p >= 0 {
			ch.opt = seg.frontier[p]
		}
		cost += ch.opt.cost
		met += ch.opt.met
		out = append([]choice{ch}, out...)
		j = i
	}
	return out, cost, met
}
