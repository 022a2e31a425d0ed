package analytic

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
	"github.com/inferplan/inferplan/workload"
)

func TestBatchSizesPoissonClosedForm(t *testing.T) {
	// Poisson(2/s), T = 1.5 s: N(T) ~ Poisson(3); P(size = m) = P(N = m−1) for m < B, the rest at B
	bs := Batchings(workload.Poisson(2), 4, 1500)
	b := bs[4]
	pois := func(k int) float64 {
		lg, _ := math.Lgamma(float64(k + 1))
		return math.Exp(-3 + float64(k)*math.Log(3) - lg)
	}
	want := []float64{0, pois(0), pois(1), pois(2), 1 - pois(0) - pois(1) - pois(2)}
	for m := 1; m <= 4; m++ {
		if math.Abs(b.Q[m]-want[m]) > 1e-12 {
			t.Errorf("P(size=%d) = %v, want %v", m, b.Q[m], want[m])
		}
	}
	mass := 0.0
	for _, x := range b.Mass {
		mass += x
	}
	if math.Abs(mass-b.Q[4]) > 1e-12 {
		t.Errorf("full-batch dispatch masses sum to %v, want P(size=4) = %v", mass, b.Q[4])
	}
	// with T = 0 every batch is a single request
	if z := Batchings(workload.Poisson(2), 4, 0)[4]; z.Q[1] != 1 || z.MeanSize() != 1 {
		t.Errorf("T=0: Q = %v", z.Q)
	}
	// B = 1: one request, no wait
	one := Batchings(workload.Poisson(2), 1, 500)[1]
	if one.Q[1] != 1 || one.WaitCount(1, 0) != 1 || one.WaitCount(1, -1) != 0 {
		t.Errorf("B=1: %v", one.Q)
	}
}

func TestWaitCountTimeoutBatchByHand(t *testing.T) {
	// a timed-out batch of 3 under T = 100 ms: the first waits 100, the others uniformly 0…100
	b := &Batching{B: 5, TimeoutMs: 100, Q: []float64{0, 0, 0, 1, 0, 0}}
	for _, tc := range []struct{ w, want float64 }{{-1, 0}, {0, 0}, {50, 1}, {99.999, 2 * 0.99999}, {100, 3}, {500, 3}} {
		if got := b.WaitCount(3, tc.w); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("WaitCount(3, %v) = %v, want %v", tc.w, got, tc.want)
		}
	}
}

// linear is a profile whose latency is 200 + 10·n·size ms at 1024 MB, for batches 1–8 and sizes 10–100.
func linear() *latency.Curve {
	p := &profile.Profile{Version: 1}
	for n := 1; n <= 8; n++ {
		for _, s := range []float64{10, 100} {
			p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.Lambda, Hardware: "lambda-x86_64",
				MemoryMB: 1024, Batch: n, Size: s, LatencyMs: 200 + 10*float64(n)*s})
		}
	}
	c, _ := latency.NewTable(p).Lambda("x86_64")
	return c[0]
}

// TestMatchesReplayOnPoissonTraffic: for Poisson arrivals the wait model is exact, so the estimate must agree
// with a replay of a long synthetic trace up to sampling noise.
func TestMatchesReplayOnPoissonTraffic(t *testing.T) {
	curve := linear()
	rng := rand.New(rand.NewPCG(11, 12))
	const rate = 0.8 // per second
	values := []float64{10, 40, 70, 100}
	probs := []float64{0.4, 0.3, 0.2, 0.1}
	var reqs []trace.Request
	at := 0.0
	for range 200000 {
		at += rng.ExpFloat64() / rate
		u, s := rng.Float64(), values[3]
		for i, p := range probs {
			if u < p {
				s = values[i]
				break
			}
			u -= p
		}
		reqs = append(reqs, trace.Request{At: int64(at * 1e6), Size: s})
	}
	tr := &trace.Trace{Requests: reqs}
	pr := Prices{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}
	prep := Prepare(workload.Poisson(rate), workload.Sizes{Values: values, Probs: probs}, len(reqs),
		[]Memory{{MB: 1024, Curve: curve, MaxBatch: 8}}, 8, pr)
	for _, cfg := range []struct {
		b int
		t float64
	}{{1, 0}, {4, 3000}, {6, 2000}, {8, 15000}, {3, 500}} {
		e := prep.Evaluate(Batchings(workload.Poisson(rate), cfg.b, cfg.t)[cfg.b], 0)
		bufs := []plan.Buffer{{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: cfg.b, TimeoutMs: cfg.t, MemoryMB: 1024}}
		tg := &replay.Target{Buffers: bufs, Curves: []*latency.Curve{curve}, GBSecondUSD: pr.GBSecondUSD, RequestUSD: pr.RequestUSD, SLOMs: 3000}
		res, err := replay.Run(tg, tr, replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Estimate
		if rel := e.CostPerRequest*float64(len(reqs))/r.CostUSD - 1; math.Abs(rel) > 0.01 {
			t.Errorf("B=%d T=%v: cost off by %.2f%%", cfg.b, cfg.t, rel*100)
		}
		if d := e.CDF(3000) - r.SLOAttainment; math.Abs(d) > 0.01 {
			t.Errorf("B=%d T=%v: P(latency ≤ 3 s) = %.4f, replay %.4f", cfg.b, cfg.t, e.CDF(3000), r.SLOAttainment)
		}
		mx := Mixture{{Estimate: e, Weight: 1}}
		if p95 := mx.Percentile(95); math.Abs(p95/r.LatencyP95Ms-1) > 0.02 {
			t.Errorf("B=%d T=%v: p95 %.0f ms, replay %.0f ms", cfg.b, cfg.t, p95, r.LatencyP95Ms)
		}
		if rel := e.PaddingRatio/r.PaddingRatio - 1; r.PaddingRatio > 0 && math.Abs(rel) > 0.02 {
			t.Errorf("B=%d T=%v: padding %.4f, replay %.4f", cfg.b, cfg.t, e.PaddingRatio, r.PaddingRatio)
		}
	}
}

func BenchmarkEvaluateConfig(b *testing.B) {
	curve := linear()
	arr := workload.MMPP2(3, 0.2, 0.05, 0.1)
	sizes := workload.Sizes{Values: []float64{10, 40, 70, 100}, Probs: []float64{0.4, 0.3, 0.2, 0.1}}
	pr := Prices{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}
	for b.Loop() {
		// everything from scratch: counting chain, order statistics, service table, cost and latency at the SLO
		prep := Prepare(arr, sizes, 1000, []Memory{{MB: 1024, Curve: curve, MaxBatch: 8}}, 8, pr)
		e := prep.Evaluate(Batchings(arr, 8, 2500)[8], 0)
		_ = e.CDF(3000)
		_ = Mixture{{Estimate: e, Weight: 1}}.Percentile(95)
	}
}

// TestSweepMatchesEvaluate: the shared-work sweep gives the numbers of one-at-a-time evaluation.
func TestSweepMatchesEvaluate(t *testing.T) {
	curve := linear()
	arr := workload.MMPP2(3, 0.2, 0.05, 0.1)
	sizes := workload.Sizes{Values: []float64{10, 40, 70, 100}, Probs: []float64{0.4, 0.3, 0.2, 0.1}}
	pr := Prices{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}
	prep := Prepare(arr, sizes, 1000, []Memory{{MB: 1024, Curve: curve, MaxBatch: 8}, {MB: 2048, Curve: curve, MaxBatch: 5}}, 8, pr)
	for _, T := range []float64{0, 120, 2500, 40000} {
		bs := Batchings(arr, 8, T)
		for _, y := range []float64{500, 3000, 9000} {
			cost, cdf := prep.Sweep(bs, y)
			for k := range prep.Memories() {
				for b := 1; b < len(cost[k]); b++ {
					e := prep.Evaluate(bs[b], k)
					if math.Abs(cost[k][b]-e.CostPerRequest) > 1e-12*e.CostPerRequest || math.Abs(cdf[k][b]-e.CDF(y)) > 1e-12 {
						t.Errorf("T=%v y=%v mem %d B=%d: sweep %v/%v, evaluate %v/%v", T, y, k, b, cost[k][b], cdf[k][b], e.CostPerRequest, e.CDF(y))
					}
				}
			}
		}
	}
}
