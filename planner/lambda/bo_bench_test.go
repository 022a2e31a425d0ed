package lambda

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/inferplan/inferplan/optimizer"
	"github.com/inferplan/inferplan/planner/lambda/analytic"
	"github.com/inferplan/inferplan/planner/plan"
)

// bufferProblem is one buffer's configuration search on the analytic model — batch size (integer), timeout (the
// planner's grid) and memory (the profiled sizes) — for the least cost per million requests whose latency
// percentile is within the SLO: exactly the space the planner's grid enumerates for a segment.
func bufferProblem(t *testing.T, classFrom, classTo int) (optimizer.Problem, func() int) {
	t.Helper()
	prof, tr := scenario(t)
	opt := Options{SLO: plan.SLO{Percentile: 95, LatencyMs: 20000}}
	opt.defaults()
	sp, _, err := newSpace(prof, opt)
	if err != nil {
		t.Fatal(err)
	}
	cl := makeClasses(tr.Requests, 32)
	fit, sizes, n := segmentWorkload(tr.Requests, cl, classFrom, classTo)
	prep := analytic.Prepare(fit.Process, sizes, n, sp.memories(), sp.maxBatch, sp.prices())
	timeouts := timeoutGrid(sp.slo.LatencyMs, 20)
	mems := make([]float64, len(sp.curves))
	for k, c := range sp.curves {
		mems[k] = float64(c.Key.MemoryMB)
	}
	batchings := map[float64][]*analytic.Batching{}
	calls := 0
	return optimizer.Problem{
		Dims: []optimizer.Dim{
			{Name: "batch", Min: 1, Max: float64(sp.maxBatch), Integer: true},
			{Name: "timeout_ms", Levels: timeouts},
			{Name: "memory_mb", Levels: mems},
		},
		Func: func(x []float64) (float64, float64) {
			calls++
			b, T, k := int(x[0]), x[1], slices.Index(mems, x[2])
			bs, ok := batchings[T]
			if !ok {
				bs = analytic.Batchings(fit.Process, sp.maxBatch, T)
				batchings[T] = bs
			}
			e := prep.Evaluate(bs[b], k)
			// p95 ≤ SLO ⇔ P(latency ≤ SLO) ≥ 95%; the log-ratio is a smoother surface for a GP than the CDF
			p95 := analytic.Mixture{{Estimate: e, Weight: 1}}.Percentile(95)
			return e.CostPerRequest * 1e6, math.Log(p95 / sp.slo.LatencyMs)
		},
	}, func() int { return calls }
}

// TestBayesianOptimizerVsExhaustive: on the planner's own per-buffer objective, BO reaches within 1% of the
// exhaustive optimum in at most 60 evaluations (median over 10 seeds) and beats random search with the same
// budget. The table is in the test log (go test ./planner -run VsExhaustive -v).
func TestBayesianOptimizerVsExhaustive(t *testing.T) {
	acceptance(t) // 20 searches of 60 evaluations and their exhaustive optima: half a minute
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-34s %9s %9s %12s %12s %9s %9s\n", "buffer (classes)", "grid pts", "optimum", "BO median", "random med.", "BO ≤1%", "BO evals")
	for _, tc := range []struct {
		name     string
		from, to int
	}{
		{"all sizes (the single buffer)", 0, 31},
		{"42–52 KB (the busiest buffer)", 5, 8},
		{"92–116 KB (a large-size buffer)", 18, 23},
	} {
		p, _ := bufferProblem(t, tc.from, tc.to)
		grid := optimizer.GridSearch(p, 0)
		if !grid.Found {
			t.Fatalf("%s: no feasible configuration on the grid", tc.name)
		}
		opt := grid.Best.Objective
		// seeds run in parallel, each on a problem of its own (the problem caches and counts)
		bos := make([]optimizer.Result, 10)
		rss := make([]optimizer.Result, 10)
		var wg sync.WaitGroup
		for i := range bos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pi, _ := bufferProblem(t, tc.from, tc.to)
				bos[i] = optimizer.BO{Seed: uint64(i + 1)}.Minimize(pi, 60)
				rss[i] = optimizer.RandomSearch(pi, 60, uint64(i+1))
			}()
		}
		wg.Wait()
		var boGap, rsGap []float64
		var evalsToHit []float64
		within := 0
		for i, bo := range bos {
			rs := rss[i]
			g := bo.BestAfter(60)/opt - 1
			boGap = append(boGap, g)
			rsGap = append(rsGap, rs.BestAfter(60)/opt-1)
			if g <= 0.01 {
				within++
				for n := 1; n <= 60; n++ {
					if bo.BestAfter(n)/opt-1 <= 0.01 {
						evalsToHit = append(evalsToHit, float64(n))
						break
					}
				}
			}
		}
		bm, rm := median(boGap), median(rsGap)
		fmt.Fprintf(&table, "%-34s %9d %9.2f %+11.2f%% %+11.2f%% %6d/10 %9.0f\n", tc.name, len(grid.Evals), opt, bm*100, rm*100, within, median(evalsToHit))
		if bm > 0.01 {
			t.Errorf("%s: BO's median gap after 60 evaluations is %.2f%% (> 1%%)", tc.name, bm*100)
		}
		if bm >= rm {
			t.Errorf("%s: BO (%.2f%%) does not beat random search (%.2f%%)", tc.name, bm*100, rm*100)
		}
	}
	t.Log(table.String())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
