package lambda

import (
	"context"
	"math"

	"github.com/inferplan/inferplan/planner/lambda/analytic"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/trace"
)

// candidate is a set of buffers with its replay.
type candidate struct {
	bufs   []plan.Buffer
	choice []choice // the analytic segments and options behind the buffers (nil for baselines)
	res    *replay.Result
}

// feasible reports whether the candidate's replay reaches the in-sample percentile (the SLO's plus the margin).
func (c *candidate) feasible(s *space) bool {
	return c.res != nil && c.res.Estimate.SLOAttainment*100 >= s.pct-1e-9
}

func (c *candidate) cost() float64 { return c.res.Estimate.CostUSD }

// searchStats counts the work a search did.
type searchStats struct {
	evals, replays int
	targets        []float64 // analytic attainment targets tried
	refined        string    // what the BO refinement did
}

// buffersOf turns chosen class runs into plan buffers: each covers its classes' sizes; the last is unbounded.
func buffersOf(ch []choice, cl *classes) []plan.Buffer {
	bufs := make([]plan.Buffer, len(ch))
	for k, c := range ch {
		bufs[k] = plan.Buffer{MinSize: cl.lower[c.seg.i], MaxSize: cl.upper[c.seg.j],
			BatchSize: c.opt.cfg.batch, TimeoutMs: c.opt.cfg.timeoutMs, MemoryMB: c.opt.cfg.memoryMB}
	}
	bufs[len(bufs)-1].MaxSize = plan.NoUpperBound
	return bufs
}

// frontiers evaluates, with the analytic model, every candidate buffer — every contiguous run of size classes —
// over every batch size, timeout and memory size, keeping each run's Pareto frontier of cost against requests
// within the latency bound. It is the expensive part of a search and does not depend on the percentile, so
// calibrations at several in-sample targets (robust.go) share it.
func (s *space) frontiers(ctx context.Context, tr *trace.Trace, opt Options, st *searchStats) (*classes, [][]*segment, error) {
	reqs := tr.Requests
	cl := makeClasses(reqs, opt.MaxClasses)
	timeouts := timeoutGrid(s.timeoutCap(tr), 20)
	progress := opt.Progress.Stage("analytic search over buffer boundaries", cl.n()*(cl.n()+1)/2)
	segs, evals := s.evaluateSegments(ctx, reqs, cl, timeouts, progress)
	st.evals += evals
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return cl, segs, nil
}

// timeoutCap is the longest batch timeout worth trying: the SLO, and no more than the trace's span, since a batch
// that waits longer than the whole trace gains nothing by waiting (and the arrival-counting CTMC of a timeout
// grows with the requests expected within it), nor than a plan may hold (plan.MaxTimeoutMs).
func (s *space) timeoutCap(tr *trace.Trace) float64 {
	return math.Min(math.Min(s.slo.LatencyMs, math.Max(float64(tr.Span())/1000, 1)), plan.MaxTimeoutMs)
}

// calibrate combines the segments' frontiers into plans with the Lagrangian DP and calibrates the plan-level
// attainment target against replays of the trace: the analytic model is an estimate, the replay is the truth,
// and the plan returned is the cheapest candidate whose replay reaches the in-sample percentile s.pct (nil when
// none did).
func (s *space) calibrate(ctx context.Context, tr *trace.Trace, cl *classes, segs [][]*segment, opt Options, st *searchStats) (*candidate, error) {
	n := float64(len(tr.Requests))
	p := s.pct / 100
	tried := map[float64]*candidate{}
	var best *candidate
	try := func(target float64) (*candidate, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		target = math.Min(math.Max(target, 0), 1)
		key := math.Round(target * 1e5)
		if c, ok := tried[key]; ok {
			return c, nil
		}
		ch, _ := combine(segs, cl.n(), opt.MaxBuffers, target*n)
		c := &candidate{bufs: buffersOf(ch, cl), choice: ch}
		res, err := s.replay(c.bufs, tr)
		if err != nil {
			return nil, err
		}
		st.replays++
		st.targets = append(st.targets, math.Round(target*1e5)/1e5)
		c.res = res
		tried[key] = c
		if c.feasible(s) && (best == nil || c.cost() < best.cost()) {
			best = c
		}
		return c, nil
	}
	// Calibrate: find the lowest analytic target whose replay still meets the SLO. Start at the SLO itself; step
	// up by the shortfall the replay shows (or down while it holds), then bisect between the last miss and hit.
	lo, hi := math.NaN(), math.NaN() // lo misses, hi meets
	target := p
	for it := 0; it < 6; it++ {
		c, err := try(target)
		if err != nil {
			return nil, err
		}
		got := c.res.Estimate.SLOAttainment
		if c.feasible(s) {
			hi = target
			if !math.IsNaN(lo) {
				break
			}
			target -= math.Max(got-p, 0) + 0.004
		} else {
			lo = target
			if !math.IsNaN(hi) || target >= 1 {
				break
			}
			target += (p - got) + 0.004
		}
	}
	if !math.IsNaN(lo) && !math.IsNaN(hi) {
		for it := 0; it < 6 && hi-lo > 0.0005; it++ {
			mid := (lo + hi) / 2
			c, err := try(mid)
			if err != nil {
				return nil, err
			}
			if c.feasible(s) {
				hi = mid
			} else {
				lo = mid
			}
		}
	}
	return best, nil
}

// analyticEstimate is the analytic model's prediction for a plan built from chosen segments, with the timeouts
// and batch sizes the buffers finally have.
func (s *space) analyticEstimate(bufs []plan.Buffer, ch []choice, requests int) *plan.Estimate {
	var mx analytic.Mixture
	total := 0
	for _, c := range ch {
		total += c.seg.requests
	}
	for k, c := range ch {
		if c.seg.requests == 0 {
			continue
		}
		b := bufs[k]
		mems := s.memories()
		idx := -1
		for i, m := range mems {
			if m.MB == b.MemoryMB {
				idx = i
			}
		}
		if idx < 0 {
			return nil
		}
		prep := analytic.Prepare(c.seg.fit.Process, c.seg.sizes, c.seg.requests, mems[idx:idx+1], b.BatchSize, s.prices())
		e := prep.Evaluate(analytic.Batchings(c.seg.fit.Process, b.BatchSize, b.TimeoutMs)[b.BatchSize], 0)
		mx = append(mx, analytic.Part{Estimate: e, Weight: float64(c.seg.requests) / float64(total)})
	}
	est := mx.PlanEstimate(requests, s.slo.LatencyMs)
	return &est
}
