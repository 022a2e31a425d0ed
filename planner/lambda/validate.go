package lambda

import (
	"context"
	"fmt"
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/trace"
)

// dayMs is a day in milliseconds.
const dayMs = 24 * 3600 * 1000

// MaxSLOMs is the longest latency bound worth planning for over tr: ten times its span, or a day for a short
// trace. A longer bound is no bound at all — every batch could wait out the whole trace — and an infinite or
// astronomically large one would only overflow the arithmetic of timeouts.
func MaxSLOMs(tr *trace.Trace) float64 {
	if tr == nil {
		return dayMs
	}
	return math.Max(10*float64(tr.Span())/1000, dayMs)
}

// SplitHoldOut cuts a trace at (1 − heldOut) of its span: the earlier part to plan on and the later part, held
// out, to replay the plan over as traffic it was not fitted to (`plan --validate`). Both must hold requests.
func SplitHoldOut(tr *trace.Trace, heldOut float64) (fit, held *trace.Trace, err error) {
	if !(heldOut > 0 && heldOut < 1) {
		return nil, nil, fmt.Errorf("the held-out share %v is not in (0, 1)", heldOut)
	}
	if tr.Len() == 0 {
		return nil, nil, fmt.Errorf("the trace has no requests")
	}
	first, last := tr.Requests[0].At, tr.Requests[tr.Len()-1].At
	cut := first + int64(math.Round(float64(last-first)*(1-heldOut)))
	fit, held = tr.Slice(first, cut), tr.Slice(cut, last+1)
	if fit.Len() == 0 || held.Len() == 0 {
		return nil, nil, fmt.Errorf("holding out the last %g%% of the trace's span leaves %d requests to plan on and %d to validate on; both parts need requests",
			heldOut*100, fit.Len(), held.Len())
	}
	return fit, held, nil
}

// planTraceValidated plans in.Trace, validating the plan on held-out traffic when asked: with opt.HoldOut the
// plan is fitted to the earlier part of the trace and replayed over the later part; with in.Validation it is
// fitted to the whole trace and replayed over the second trace. Either way the plan's estimate, baselines and
// bound are the replay over the whole planning trace, as for any plan (contract §3.3), and the held-out figures
// go into its validation object beside the in-sample ones.
func (s *space) planTraceValidated(ctx context.Context, in Input, opt Options) (*plan.Plan, error) {
	tr := in.Trace
	switch {
	case opt.HoldOut > 0:
		fit, held, err := SplitHoldOut(tr, opt.HoldOut)
		if err != nil {
			return nil, fmt.Errorf("planner: %w", err)
		}
		p, err := s.planTrace(ctx, fit, opt)
		if err != nil {
			return nil, err
		}
		val := &plan.Validation{Method: plan.ValidationHoldout, HeldOutFraction: opt.HoldOut, InSample: p.Estimate}
		if err := s.reestimate(p, tr, fit.Len()); err != nil {
			return nil, err
		}
		if err := s.validateOn(ctx, p, held, opt, val); err != nil {
			return nil, err
		}
		return p, nil
	case in.Validation != nil:
		p, err := s.planTrace(ctx, tr, opt)
		if err != nil {
			return nil, err
		}
		val := &plan.Validation{Method: plan.ValidationTrace, Trace: in.ValidationName, TraceSHA256: in.ValidationSHA256,
			InSample: p.Estimate}
		if err := s.validateOn(ctx, p, in.Validation, opt, val); err != nil {
			return nil, err
		}
		return p, nil
	}
	return s.planTrace(ctx, tr, opt)
}

// validateOn replays the plan over held-out requests, and finds the best single buffer for them in hindsight
// (the BATCH grid at the SLO itself, no margin): what a plan fitted without seeing them should still beat.
func (s *space) validateOn(ctx context.Context, p *plan.Plan, held *trace.Trace, opt Options, val *plan.Validation) error {
	if held.Len() == 0 {
		return fmt.Errorf("planner: the validation trace has no requests")
	}
	res, err := s.replay(plan.Strip(p.Lambda.Buffers), held)
	if err != nil {
		return err
	}
	val.HeldOut = res.Estimate
	hind := *s
	hind.pct = s.slo.Percentile
	cl := makeClasses(held.Requests, opt.MaxClasses)
	all := &segment{i: 0, j: cl.n() - 1}
	all.fit, all.sizes, all.requests = segmentWorkload(held.Requests, cl, 0, cl.n()-1)
	c, _, err := hind.bestSingleBuffer(ctx, held, all, opt.Progress.Stage("single buffer in hindsight on the held-out traffic", 1))
	if err != nil {
		return err
	}
	sb, err := hind.replay(hind.singleBufferBuffers(held.Requests, c), held)
	if err != nil {
		return err
	}
	val.HeldOutSingleBuffer = &sb.Estimate
	p.Validation = val
	return nil
}

// reestimate replaces the estimates of a plan fitted to the first fitN requests of tr by replays over the whole
// of tr: the plan's own (with its buffers' statistics), its baselines', and the bound; the analytic prediction,
// a per-request model, is scaled to the whole trace's requests.
func (s *space) reestimate(p *plan.Plan, tr *trace.Trace, fitN int) error {
	bufs := plan.Strip(p.Lambda.Buffers)
	res, err := s.replay(bufs, tr)
	if err != nil {
		return err
	}
	p.Estimate = res.Estimate
	p.Lambda.Buffers = withStats(&candidate{bufs: bufs, res: res})
	for i, b := range p.Baselines {
		r, err := s.replay(b.Buffers, tr)
		if err != nil {
			return err
		}
		p.Baselines[i].Estimate = r.Estimate
	}
	p.Lambda.LowerBound = s.lowerBound(tr.Requests)
	if a := p.Lambda.Analytic; a != nil && fitN > 0 {
		f := float64(tr.Len()) / float64(fitN)
		a.Requests = tr.Len()
		a.Invocations *= f
		a.CostUSD *= f
	}
	return nil
}
