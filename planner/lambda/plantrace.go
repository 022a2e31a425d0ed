package lambda

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// planTrace plans one trace: the analytic multi-buffer search calibrated by replay and the two baselines are all
// candidates; the plan is the cheapest whose replay meets the SLO, polished by BO when it came from the search,
// with the analytic estimate and the ideal lower bound beside it.
func (s *space) planTrace(ctx context.Context, tr *trace.Trace, opt Options) (*plan.Plan, error) {
	reqs := tr.Requests
	st := &searchStats{}

	cl, segs, err := s.frontiers(ctx, tr, opt, st)
	if err != nil {
		return nil, err
	}
	// the margin: given, or calibrated from the plan fitted with none (robust.go)
	s.pct = s.slo.Percentile
	var fitted *candidate
	if opt.AutoMargin {
		if fitted, err = s.calibrate(ctx, tr, cl, segs, opt, st); err != nil {
			return nil, err
		}
	}
	margin, note, err := s.marginFor(opt, fitted, tr)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if note != "" {
		warnings = append(warnings, note)
	}
	multi := fitted
	if margin != nil {
		s.pct = s.slo.Percentile + margin.Points
		multi = nil
	}
	if multi == nil {
		if multi, err = s.calibrate(ctx, tr, cl, segs, opt, st); err != nil {
			return nil, err
		}
	}
	single, evals, err := s.bestSingleBuffer(ctx, tr, segs[0][cl.n()-1], opt.Progress.Stage("single-buffer baseline", 1))
	st.evals += evals
	if err != nil {
		return nil, err
	}
	baseline := func(c config) (*candidate, error) {
		cand := &candidate{bufs: s.singleBufferBuffers(reqs, c)}
		var err error
		cand.res, err = s.replay(cand.bufs, tr)
		st.replays++
		return cand, err
	}
	singleCand, err := baseline(single)
	if err != nil {
		return nil, err
	}
	noBatchCand, err := baseline(s.noBatching(reqs))
	if err != nil {
		return nil, err
	}

	var best *candidate
	for _, c := range []*candidate{multi, singleCand, noBatchCand} {
		if c != nil && c.feasible(s) && (best == nil || c.cost() < best.cost()) {
			best = c
		}
	}
	if best == nil && margin != nil {
		// nothing reaches the margin: plan to the SLO itself, and say so
		exact := opt
		exact.AutoMargin, exact.Margin = false, 0
		p, err := s.planTrace(ctx, tr, exact)
		if err != nil {
			return nil, err
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("no plan reaches the SLO with a margin of %.2f points (p%g in sample); the plan fits the trace exactly and may miss the SLO on the next window",
			margin.Points, s.slo.Percentile+margin.Points))
		return p, nil
	}
	method := ""
	switch {
	case best == nil:
		// the last resort: one buffer per size class, every request alone at its fastest memory
		fast := &candidate{bufs: s.fastestPerClass(cl)}
		lat, err := s.latencies(fast.bufs, tr)
		if err != nil {
			return nil, err
		}
		st.replays++
		slices.Sort(lat)
		reach := quantile.NearestRank(lat, s.slo.Percentile)
		if reach > s.slo.LatencyMs {
			return nil, &planner.InfeasibleError{SLO: s.slo, SmallestFeasibleMs: math.Max(s.smallestFeasible(reqs), reach)}
		}
		if fast.res, err = s.replay(fast.bufs, tr); err != nil {
			return nil, err
		}
		best, method = fast, "every request alone at the fastest memory for its size (nothing cheaper meets the SLO on replay)"
	case best == multi:
		method = "analytic multi-buffer search (size classes × batch × timeout × memory; Lagrangian DP over boundaries for the plan-level percentile), calibrated by replay"
		if opt.RefineBudget > 0 {
			best = s.refine(ctx, tr, best, opt.RefineBudget, opt.Seed, st, opt.Progress)
			if err := ctx.Err(); err != nil { // a refinement cut short is not the plan asked for
				return nil, err
			}
		}
	case best == singleCand:
		method = "single-buffer grid (the multi-buffer search found nothing cheaper that meets the SLO on replay)"
	default:
		method = "no batching (nothing cheaper meets the SLO on replay)"
	}

	bufs := withStats(best)
	p := &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, SLO: s.slo, Lambda: &plan.Lambda{Buffers: bufs}}
	p.Estimate = best.res.Estimate
	p.Lambda.Analytic = s.analyticEstimate(bufs, choicesFor(bufs, cl, segs), len(reqs))
	p.Baselines = []plan.Baseline{
		{Name: "no-batching", Buffers: plan.Strip(noBatchCand.bufs), Estimate: noBatchCand.res.Estimate},
		{Name: "single-buffer", Buffers: plan.Strip(singleCand.bufs), Estimate: singleCand.res.Estimate},
	}
	p.Lambda.LowerBound = s.lowerBound(reqs)
	p.Search = &plan.Search{Method: method, Refinement: st.refined, Seed: opt.Seed, Evaluations: st.evals,
		Replays: st.replays, SizeClasses: cl.n(), Targets: st.targets, Margin: margin}
	p.Warnings = append(p.Warnings, warnings...)
	return p, nil
}

// withStats returns a candidate's buffers carrying their replay statistics.
func withStats(c *candidate) []plan.Buffer {
	bufs := plan.Strip(c.bufs)
	for i := range bufs {
		st := c.res.Buffers[i]
		bufs[i].Stats = &st
	}
	return bufs
}

// latencies replays bufs and returns every request's latency.
func (s *space) latencies(bufs []plan.Buffer, tr *trace.Trace) ([]float64, error) {
	tg, err := s.target(bufs)
	if err != nil {
		return nil, err
	}
	res, err := replay.Run(tg, tr, replay.Options{KeepLatencies: true})
	if err != nil {
		return nil, err
	}
	return res.Latencies, nil
}

// choicesFor maps buffers back to the runs of size classes they cover, for the analytic estimate of any plan.
func choicesFor(bufs []plan.Buffer, cl *classes, segs [][]*segment) []choice {
	var out []choice
	ranges := plan.Ranges(bufs)
	start := 0
	for k := range bufs {
		end := start
		for end < cl.n() && ranges.Index(cl.upper[end]) == k {
			end++
		}
		if end == start {
			continue // a buffer no class falls in
		}
		out = append(out, choice{seg: segs[start][end-1]})
		start = end
	}
	return out
}
