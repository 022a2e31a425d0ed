package lambda

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// schedule plans every window of opt.Window seconds of the trace on its own, as MBS and BATCH re-fit their models
// every hour, and records the schedule with the replayed estimate of running it (each window served by its own
// plan). The plan's top-level buffers stay the whole-trace plan, which is what `simulate` and `serve` apply.
func (s *space) schedule(ctx context.Context, p *plan.Plan, tr *trace.Trace, opt Options) error {
	w := int64(math.Round(opt.Window * 1e6))
	if w <= 0 {
		return nil
	}
	first := tr.Requests[0].At
	last := tr.Requests[len(tr.Requests)-1].At
	wopt := opt
	wopt.Window, wopt.Progress = 0, nil
	wopt.RefineBudget = min(opt.RefineBudget, 20)
	var (
		all                  []float64
		cost, inv, pad, size float64
		met                  int
	)
	for start := first; start <= last; start += w {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub := tr.Slice(start, start+w)
		if sub.Len() == 0 {
			continue
		}
		win := plan.Window{StartS: float64(start-first) / 1e6, EndS: float64(min(start+w, last+1)-first) / 1e6}
		wp, err := s.planTrace(ctx, sub, wopt)
		var inf *planner.InfeasibleError
		switch {
		case errors.As(err, &inf):
			p.Warnings = append(p.Warnings, fmt.Sprintf("window %.0f–%.0f s: %v; it keeps the whole-trace plan", win.StartS, win.EndS, err))
			win.Buffers = plan.Strip(p.Lambda.Buffers)
		case err != nil:
			return err
		default:
			win.Buffers = plan.Strip(wp.Lambda.Buffers)
		}
		tg, err := s.target(win.Buffers)
		if err != nil {
			return err
		}
		res, err := replay.Run(tg, sub, replay.Options{KeepLatencies: true})
		if err != nil {
			return err
		}
		win.Estimate = res.Estimate
		static, err := s.replay(plan.Strip(p.Lambda.Buffers), sub)
		if err != nil {
			return err
		}
		win.WholeTrace = static.Estimate
		p.Lambda.Schedule = append(p.Lambda.Schedule, win)
		all = append(all, res.Latencies...)
		e := res.Estimate
		cost += e.CostUSD
		inv += e.Invocations
		met += int(math.Round(e.SLOAttainment * float64(e.Requests)))
		pad += e.PaddingRatio * sizeSum(sub)
		size += sizeSum(sub)
	}
	n := len(all)
	e := plan.Estimate{Method: "replay", Requests: n, Invocations: inv, CostUSD: cost}
	if n > 0 {
		e.CostPerMillionUSD = cost / float64(n) * 1e6
		e.SLOAttainment = float64(met) / float64(n)
		e.PaddingRatio = pad / size
		slices.Sort(all)
		e.LatencyP50Ms = quantile.NearestRank(all, 50)
		e.LatencyP95Ms = quantile.NearestRank(all, 95)
		e.LatencyP99Ms = quantile.NearestRank(all, 99)
	}
	p.Lambda.ScheduleEstimate = &e
	return nil
}

func sizeSum(tr *trace.Trace) float64 {
	s := 0.0
	for _, q := range tr.Requests {
		s += q.Size
	}
	return s
}
