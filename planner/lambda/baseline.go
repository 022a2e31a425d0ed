package lambda

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/lambda/analytic"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/trace"
)

// config is one buffer's batch size, timeout and memory.
type config struct {
	batch     int
	timeoutMs float64
	memoryMB  int
}

// timeoutGrid is the batch timeouts a grid search tries: 0 and n points spaced geometrically from 10 ms (BATCH's
// smallest) up to the SLO itself (BATCH and MBS stop at 0.5 s, which is far too short for a 20 s SLO).
func timeoutGrid(sloMs float64, n int) []float64 {
	const lo = 10.0
	out := []float64{0}
	if sloMs <= lo {
		return append(out, sloMs)
	}
	r := math.Pow(sloMs/lo, 1/float64(n-1))
	for i := 0; i < n; i++ {
		t := lo * math.Pow(r, float64(i))
		out = append(out, math.Round(t)) // whole milliseconds read better and change nothing that matters
	}
	return out
}

// singleBufferReplayBudget bounds the work of the single-buffer baseline, in requests replayed (configurations ×
// requests). Within it every configuration of the grid is replayed, as BATCH's grid search does; a longer trace
// has its grid pre-screened by the analytic model first, and only the most promising configurations replayed, so
// the baseline scales like the main search (a 2M-request trace replays ~150 configurations, not 9,600).
const singleBufferReplayBudget = 300_000_000

// bestSingleBuffer is the BATCH baseline: one buffer for every size, the cheapest (batch, timeout, memory) on a
// grid whose replay meets the in-sample percentile — or, when none does, the one that meets it for the most
// requests. Batches depend only on batch size and timeout, so each (B, T) is formed once and costed at every
// memory size it is replayed at. all is the analytic segment of every size class (nil: no pre-screening).
func (s *space) bestSingleBuffer(ctx context.Context, tr *trace.Trace, all *segment, progress func(done, total int)) (config, int, error) {
	reqs := tr.Requests
	need := s.need(len(reqs))
	grid := s.singleBufferGrid(tr)
	replay := grid
	budget := s.replayBudget
	if budget == 0 {
		budget = singleBufferReplayBudget
	}
	if all != nil && len(grid)*len(reqs) > budget {
		replay = s.prescreen(grid, all, max(budget/len(reqs), 32))
	}
	var (
		best    config
		bestUSD = math.Inf(1)
		bestMet = -1
		evals   int
		batches []batching.Batch
		formed  = config{batch: -1}
	)
	for i, g := range replay {
		if err := ctx.Err(); err != nil {
			return config{}, evals, err
		}
		if progress != nil {
			progress(i, len(replay))
		}
		if g.batch != formed.batch || g.timeoutMs != formed.timeoutMs {
			batches = batching.Form(reqs, g.batch, batching.TimeoutMicros(g.timeoutMs), batches[:0])
			formed = g
		}
		c := s.curve(g.memoryMB)
		evals++
		_, cost := replayCost(reqs, batches, c, s)
		if better(cost.Met, cost.CostUSD, bestMet, bestUSD, need) {
			best, bestUSD, bestMet = g, cost.CostUSD, cost.Met
		}
	}
	if progress != nil {
		progress(len(replay), len(replay))
	}
	return best, evals, nil
}

func replayCost(reqs []trace.Request, batches []batching.Batch, c *latency.Curve, s *space) ([]float64, replay.Costed) {
	return replay.Cost(reqs, batches, c, c.Key.MemoryMB, s.gbs, s.req, s.slo.LatencyMs, nil)
}

// singleBufferGrid is the baseline's grid in the order it is searched (ties go to the first): batch sizes
// ascending; for each, 0 and 16 timeouts up to the SLO (only 0 for a batch of one, which leaves at once whatever
// the timeout); for each, every memory size that profiled the batch size.
func (s *space) singleBufferGrid(tr *trace.Trace) []config {
	var grid []config
	timeouts := timeoutGrid(s.timeoutCap(tr), 16)
	for b := 1; b <= s.maxBatch; b++ {
		ts := timeouts
		if b == 1 {
			ts = []float64{0}
		}
		for _, t := range ts {
			for _, c := range s.curves {
				if b <= c.MaxBatch() {
					grid = append(grid, config{b, t, c.Key.MemoryMB})
				}
			}
		}
	}
	return grid
}

// prescreen picks the keep configurations of the grid most worth replaying, by the analytic model of the whole
// trace as one buffer: the cheapest among those the model puts within two points of the in-sample percentile
// (the model errs by about that much on a single buffer, whose padding it approximates by size class), and a
// quarter of them from those it expects to meet the most, so that a trace where no configuration meets the SLO
// still gets its best effort. They are returned in grid order, so ties break as in the full grid.
func (s *space) prescreen(grid []config, all *segment, keep int) []config {
	type scored struct {
		idx       int
		cost, met float64
	}
	mems := s.memories()
	prep := analytic.Prepare(all.fit.Process, all.sizes, all.requests, mems, s.maxBatch, s.prices())
	byTimeout := map[float64][][]float64{} // timeout → [memory][batch] cost, and cdf
	cdfs := map[float64][][]float64{}
	memIdx := map[int]int{}
	for k, m := range prep.Memories() {
		memIdx[m.MB] = k
	}
	sc := make([]scored, len(grid))
	for i, g := range grid {
		if _, ok := byTimeout[g.timeoutMs]; !ok {
			byTimeout[g.timeoutMs], cdfs[g.timeoutMs] = prep.Sweep(analytic.Batchings(all.fit.Process, s.maxBatch, g.timeoutMs), s.slo.LatencyMs)
		}
		k := memIdx[g.memoryMB]
		sc[i] = scored{i, byTimeout[g.timeoutMs][k][g.batch], cdfs[g.timeoutMs][k][g.batch]}
	}
	target := s.pct/100 - 0.02
	picked := map[int]bool{}
	var ok []scored
	for _, c := range sc {
		if c.met >= target {
			ok = append(ok, c)
		}
	}
	slices.SortStableFunc(ok, func(a, b scored) int { return cmp.Compare(a.cost, b.cost) })
	for _, c := range ok[:min(len(ok), keep-keep/4)] {
		picked[c.idx] = true
	}
	slices.SortStableFunc(sc, func(a, b scored) int { return cmp.Compare(b.met, a.met) })
	for _, c := range sc {
		if len(picked) >= keep {
			break
		}
		picked[c.idx] = true
	}
	var out []config
	for i, g := range grid {
		if picked[i] {
			out = append(out, g)
		}
	}
	return out
}

// better orders configurations: those meeting the SLO (met ≥ need) by cost, before those missing it by met.
func better(met int, usd float64, bestMet int, bestUSD float64, need int) bool {
	meets, bestMeets := met >= need, bestMet >= need
	switch {
	case meets && !bestMeets:
		return true
	case meets && bestMeets:
		return usd < bestUSD
	case !meets && !bestMeets:
		return met > bestMet || met == bestMet && usd < bestUSD
	}
	return false
}

// singleBufferBuffers is the buffer list of a single-buffer configuration.
func (s *space) singleBufferBuffers(reqs []trace.Request, c config) []plan.Buffer {
	return []plan.Buffer{{MinSize: minSize(reqs), MaxSize: plan.NoUpperBound, BatchSize: c.batch, TimeoutMs: c.timeoutMs, MemoryMB: c.memoryMB}}
}

func minSize(reqs []trace.Request) float64 {
	m := math.Inf(1)
	for _, q := range reqs {
		m = math.Min(m, q.Size)
	}
	return m
}

// noBatching serves every request alone (batch 1, timeout 0) at the cheapest memory size that meets the SLO, or,
// when none does, at the memory size that meets it for the most requests.
func (s *space) noBatching(reqs []trace.Request) config {
	need := s.need(len(reqs))
	batches := batching.Form(reqs, 1, 0, nil)
	var best config
	bestUSD, bestMet := math.Inf(1), -1
	for _, c := range s.curves {
		_, cost := replay.Cost(reqs, batches, c, c.Key.MemoryMB, s.gbs, s.req, s.slo.LatencyMs, nil)
		if better(cost.Met, cost.CostUSD, bestMet, bestUSD, need) {
			best, bestUSD, bestMet = config{1, 0, c.Key.MemoryMB}, cost.CostUSD, cost.Met
		}
	}
	return best
}

// fastestPerClass is the fastest plan there is: one buffer per size class, every request alone at the memory
// that serves the class's largest size soonest.
func (s *space) fastestPerClass(cl *classes) []plan.Buffer {
	bufs := make([]plan.Buffer, cl.n())
	for k := range bufs {
		best, bestMs := 0, math.Inf(1)
		for _, c := range s.curves {
			if l := c.At(1, cl.upper[k]); l < bestMs {
				best, bestMs = c.Key.MemoryMB, l
			}
		}
		bufs[k] = plan.Buffer{MinSize: cl.lower[k], MaxSize: cl.upper[k], BatchSize: 1, TimeoutMs: 0, MemoryMB: best}
	}
	bufs[len(bufs)-1].MaxSize = plan.NoUpperBound
	return bufs
}
