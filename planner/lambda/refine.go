package lambda

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/optimizer"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/trace"
)

// refine polishes a replay-verified plan with Bayesian optimisation against the replay itself: the timeouts of its
// batching buffers are scaled by factors in [¼, 4] (capped at the SLO), the objective is the replayed cost and the
// constraint is the replayed SLO attainment — the plan-level percentile, modelled by a GP of its own rather than a
// penalty. The analytic model chose boundaries, batch sizes and memory; the replay decides the slack each buffer
// may take. The starting plan is the first point evaluated, so the result is never worse.
// refineDims is how many buffers' timeouts the refinement tunes.
const refineDims = 4

func (s *space) refine(ctx context.Context, tr *trace.Trace, c *candidate, budget int, seed uint64, st *searchStats, prog planner.Progress) *candidate {
	// The buffers that carry the most cost are where slack buys the most, and a GP learns a handful of dimensions
	// from a few dozen replays where it could not learn one per buffer.
	var idx []int
	for k, b := range c.bufs {
		if b.BatchSize > 1 && b.TimeoutMs > 0 {
			idx = append(idx, k)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(c.res.Buffers[b].CostUSD, c.res.Buffers[a].CostUSD) })
	idx = idx[:min(len(idx), refineDims)]
	slices.Sort(idx)
	if len(idx) == 0 || budget <= 1 {
		return c
	}
	base := c.cost()
	best := c
	improved := 0
	dims := make([]optimizer.Dim, len(idx))
	start := make([]float64, len(idx))
	for i, k := range idx {
		dims[i] = optimizer.Dim{Name: fmt.Sprintf("timeout scale of buffer %d", k+1), Min: 0.25, Max: 4, Log: true}
		start[i] = 1
	}
	report := prog.Stage("refining timeouts (BO on replays)", budget)
	done := 0
	prob := optimizer.Problem{Dims: dims, Func: func(x []float64) (float64, float64) {
		done++
		if report != nil {
			report(done, budget)
		}
		if ctx.Err() != nil {
			return math.Inf(1), math.Inf(1)
		}
		bufs := slices.Clone(c.bufs)
		for i, k := range idx {
			bufs[k].TimeoutMs = math.Min(math.Round(c.bufs[k].TimeoutMs*x[i]), s.timeoutCap(tr))
			bufs[k].Stats = nil
		}
		res, err := s.replay(bufs, tr)
		if err != nil {
			return math.Inf(1), math.Inf(1)
		}
		st.replays++
		cand := &candidate{bufs: bufs, choice: c.choice, res: res}
		if cand.feasible(s) && cand.cost() < best.cost()-1e-12 {
			best = cand
			improved++
		}
		// the constraint as log(latency at the SLO percentile / SLO): the same feasible set as the attainment, and a
		// far smoother surface for the constraint GP than the attainment itself
		return res.Estimate.CostUSD / base, math.Log(math.Max(res.PercentileMs, 1e-3) / s.slo.LatencyMs)
	}}
	optimizer.BO{Seed: seed, Initial: [][]float64{start}, Restarts: 1, Stop: func() bool { return ctx.Err() != nil }}.Minimize(prob, budget)
	st.refined = fmt.Sprintf("BO on the replayed cost over the timeouts of the %d costliest buffers, %d replays: %.2f%% cheaper",
		len(idx), budget, (1-best.cost()/base)*100)
	return best
}
