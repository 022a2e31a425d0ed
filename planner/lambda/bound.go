package lambda

import (
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/trace"
)

// lowerBound is the ideal cost: every request in a full batch of requests of its own exact size (no padding),
// dispatched without waiting, at the batch size and memory with the least cost per request whose service time is
// within the SLO. No plan that meets the SLO for every request costs less; a size no configuration serves within
// the SLO is counted at its cheapest batch of one.
func (s *space) lowerBound(reqs []trace.Request) *plan.Bound {
	perSize := map[float64]float64{}
	total := 0.0
	for _, q := range reqs {
		c, ok := perSize[q.Size]
		if !ok {
			c = math.Inf(1)
			fallback := math.Inf(1)
			for _, cv := range s.curves {
				for b := 1; b <= cv.MaxBatch(); b++ {
					svc := cv.At(b, q.Size)
					per := awslambda.InvocationUSD(svc, cv.Key.MemoryMB, s.gbs, s.req) / float64(b)
					if svc <= s.slo.LatencyMs {
						c = math.Min(c, per)
					}
					if b == 1 {
						fallback = math.Min(fallback, per)
					}
				}
			}
			if math.IsInf(c, 1) {
				c = fallback
			}
			perSize[q.Size] = c
		}
		total += c
	}
	b := &plan.Bound{CostUSD: total}
	if len(reqs) > 0 {
		b.CostPerMillionUSD = total / float64(len(reqs)) * 1e6
	}
	return b
}
