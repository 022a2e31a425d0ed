package lambda

import (
	"context"
	"math"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
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

// bestSingleBuffer is the BATCH baseline: one buffer for every size, the cheapest (batch, timeout, memory) on a
// grid whose replay meets the SLO — or, when none does, the one that meets it for the most requests. Batches
// depend only on batch size and timeout, so each (B, T) is formed once and costed at every memory size.
func (s *space) bestSingleBuffer(ctx context.Context, reqs []trace.Request, progress func(done, total int)) (config, int) {
	need := s.need(len(reqs))
	var (
		best    config
		bestUSD = math.Inf(1)
		bestMet = -1
		evals   int
		batches []batching.Batch
	)
	for b := 1; b <= s.maxBatch; b++ {
		if ctx.Err() != nil {
			break
		}
		if progress != nil {
			progress(b-1, s.maxBatch)
		}
		timeouts := timeoutGrid(s.slo.LatencyMs, 16)
		if b == 1 {
			timeouts = []float64{0} // a batch of one leaves at once whatever the timeout
		}
		for _, t := range timeouts {
			batches = batching.Form(reqs, b, int64(math.Round(t*1000)), batches[:0])
			for _, c := range s.curves {
				if b > c.MaxBatch() {
					continue
				}
				evals++
				_, cost := replay.Cost(reqs, batches, c, c.Key.MemoryMB, s.gbs, s.req, s.slo.LatencyMs, nil)
				if better(cost.Met, cost.CostUSD, bestMet, bestUSD, need) {
					best, bestUSD, bestMet = config{b, t, c.Key.MemoryMB}, cost.CostUSD, cost.Met
				}
			}
		}
	}
	return best, evals
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
