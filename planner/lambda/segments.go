package lambda

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/inferplan/inferplan/planner/lambda/analytic"
	"github.com/inferplan/inferplan/trace"
	"github.com/inferplan/inferplan/workload"
)

// segment is a candidate buffer: the requests of classes i…j, their fitted workload, and the Pareto frontier of
// its configurations by analytic cost and expected number of requests meeting the SLO.
type segment struct {
	i, j     int
	requests int
	fit      workload.Fit
	sizes    workload.Sizes
	frontier []option // ascending cost and ascending met
}

// option is one buffer configuration with its analytic cost (USD over the segment's requests) and the expected
// number of its requests within the latency bound.
type option struct {
	cfg  config
	cost float64
	met  float64
}

// segmentWorkload fits the arrival process of the requests of classes i…j, and gives their size distribution by
// class: each class at its largest size, weighted by its count. That is exact when every class is one distinct
// size and errs towards more padding when classes are quantile bins; the replay has the last word either way.
func segmentWorkload(reqs []trace.Request, cl *classes, i, j int) (workload.Fit, workload.Sizes, int) {
	var gaps []float64
	last := int64(math.MinInt64)
	n := 0
	for k, q := range reqs {
		if c := cl.of[k]; c < i || c > j {
			continue
		}
		if last != math.MinInt64 {
			gaps = append(gaps, float64(q.At-last)/1e6)
		}
		last = q.At
		n++
	}
	var sizes workload.Sizes
	for c := i; c <= j; c++ {
		sizes.Values = append(sizes.Values, cl.upper[c])
		sizes.Probs = append(sizes.Probs, float64(cl.count[c])/float64(n))
	}
	return workload.FitArrivals(gaps), sizes, n
}

// memories lists the profiled memory sizes for the analytic model.
func (s *space) memories() []analytic.Memory {
	out := make([]analytic.Memory, len(s.curves))
	for k, c := range s.curves {
		out[k] = analytic.Memory{MB: c.Key.MemoryMB, Curve: c, MaxBatch: c.MaxBatch()}
	}
	return out
}

func (s *space) prices() analytic.Prices {
	return analytic.Prices{GBSecondUSD: s.gbs, RequestUSD: s.req}
}

// evaluate builds the frontier of one segment: every batch size, timeout of the grid and memory size.
func (s *space) evaluate(seg *segment, timeouts []float64) int {
	if seg.requests == 0 {
		return 0
	}
	prep := analytic.Prepare(seg.fit.Process, seg.sizes, seg.requests, s.memories(), s.maxBatch, s.prices())
	n := float64(seg.requests)
	all := make([]option, 0, len(timeouts)*len(s.curves)*s.maxBatch)
	evals := 0
	for _, t := range timeouts {
		bs := analytic.Batchings(seg.fit.Process, s.maxBatch, t)
		cost, cdf := prep.Sweep(bs, s.slo.LatencyMs)
		for k, mem := range prep.Memories() {
			for b := 1; b < len(cost[k]); b++ {
				if b == 1 && t > 0 {
					continue // a batch of one leaves at once: every timeout is the same configuration
				}
				all = append(all, option{cfg: config{b, t, mem.MB}, cost: cost[k][b] * n, met: cdf[k][b] * n})
				evals++
			}
		}
	}
	seg.frontier = pareto(all)
	return evals
}

// pareto keeps the options no other beats on both cost and met: sorted by cost, each with more met than all
// cheaper ones. Options are generated in a fixed order, and ties in cost keep it, so the result is deterministic.
func pareto(all []option) []option {
	// Sorting packed keys is several times faster than sorting the options through a comparison closure, and a
	// segment has ~10⁴ of them. Costs are positive, so their IEEE bits order as unsigned integers.
	type keyed struct {
		cost uint64
		idx  int32
	}
	keys := make([]keyed, len(all))
	for i, o := range all {
		keys[i] = keyed{math.Float64bits(o.cost), int32(i)}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		switch {
		case a.cost < b.cost:
			return -1
		case a.cost > b.cost:
			return 1
		}
		return int(a.idx - b.idx)
	})
	var out []option
	best := math.Inf(-1)
	for i := 0; i < len(keys); {
		// among equal costs take the one that meets the most (the first such in generation order)
		j, pick := i, keys[i].idx
		for ; j < len(keys) && keys[j].cost == keys[i].cost; j++ {
			if all[keys[j].idx].met > all[pick].met {
				pick = keys[j].idx
			}
		}
		if o := all[pick]; o.met > best+1e-9 {
			out = append(out, o)
			best = o.met
		}
		i = j
	}
	return out
}

// evaluateSegments evaluates every contiguous run of classes in parallel. Results do not depend on scheduling.
func (s *space) evaluateSegments(ctx context.Context, reqs []trace.Request, cl *classes, timeouts []float64, progress func(done, total int)) ([][]*segment, int) {
	c := cl.n()
	segs := make([][]*segment, c)
	type job struct{ i, j int }
	var jobs []job
	for i := 0; i < c; i++ {
		segs[i] = make([]*segment, c)
		for j := i; j < c; j++ {
			jobs = append(jobs, job{i, j})
		}
	}
	var (
		next, done atomic.Int64
		evals      atomic.Int64
		wg         sync.WaitGroup
	)
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) || ctx.Err() != nil {
					return
				}
				jb := jobs[k]
				seg := &segment{i: jb.i, j: jb.j}
				seg.fit, seg.sizes, seg.requests = segmentWorkload(reqs, cl, jb.i, jb.j)
				evals.Add(int64(s.evaluate(seg, timeouts)))
				segs[jb.i][jb.j] = seg
				if progress != nil {
					progress(int(done.Add(1)), len(jobs))
				}
			}
		}()
	}
	wg.Wait()
	return segs, int(evals.Load())
}
