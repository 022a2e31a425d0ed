package planner

import (
	"context"
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/planner/replay"
	"github.com/inferplan/inferplan/planner/trace"
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

// bestSingleBuffer is the BATCH baseline: one buffer for every size, the cheapest (batch, timeout, memory) on a
// grid whose replay meets the SLO. Batches depend only on batch size and timeout, so each (B, T) is formed once
// and costed at every memory size.
func (s *space) bestSingleBuffer(ctx context.Context, reqs []trace.Request) (config, int, bool) {
	need := s.need(len(reqs))
	var (
		best    config
		bestUSD = math.Inf(1)
		evals   int
		batches []replay.Batch
	)
	for b := 1; b <= s.maxBatch; b++ {
		if ctx.Err() != nil {
			break
		}
		timeouts := timeoutGrid(s.slo.LatencyMs, 16)
		if b == 1 {
			timeouts = []float64{0} // a batch of one leaves at once whatever the timeout
		}
		for _, t := range timeouts {
			batches = replay.FormBatches(reqs, b, int64(math.Round(t*1000)), batches[:0])
			for _, c := range s.curves {
				if b > c.MaxBatch() {
					continue
				}
				evals++
				_, cost := replay.Cost(reqs, batches, c, c.Key.MemoryMB, s.gbs, s.req, s.slo.LatencyMs, nil)
				if cost.Met >= need && cost.CostUSD < bestUSD {
					best, bestUSD = config{b, t, c.Key.MemoryMB}, cost.CostUSD
				}
			}
		}
	}
	return best, evals, !math.IsInf(bestUSD, 1)
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

// noBatchingBaseline serves every request alone (batch 1, timeout 0) at the cheapest memory size that meets the
// SLO, or, when none does, at the memory size with the best attainment.
func (s *space) noBatchingBaseline(tr *trace.Trace, replays *int) (plan.Baseline, error) {
	reqs := tr.Requests
	need := s.need(len(reqs))
	batches := replay.FormBatches(reqs, 1, 0, nil)
	var bestMem int
	bestUSD, bestMet := math.Inf(1), -1
	for _, c := range s.curves {
		_, cost := replay.Cost(reqs, batches, c, c.Key.MemoryMB, s.gbs, s.req, s.slo.LatencyMs, nil)
		meets, bestMeets := cost.Met >= need, bestMet >= need
		if meets && (!bestMeets || cost.CostUSD < bestUSD) || !meets && !bestMeets && cost.Met > bestMet {
			bestMem, bestUSD, bestMet = c.Key.MemoryMB, cost.CostUSD, cost.Met
		}
	}
	bufs := s.singleBufferBuffers(reqs, config{1, 0, bestMem})
	res, err := s.replay(bufs, tr)
	if err != nil {
		return plan.Baseline{}, err
	}
	*replays++
	return plan.Baseline{Name: "no-batching", Buffers: bufs, Estimate: res.Estimate}, nil
}
