package replay

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// handProfile is a Lambda profile at 1024 MB (1 GB, so a billed second costs gb_second_usd exactly) with
// latency(n, 10) = 100·n ms and latency(n, 20) = 100·n + 100.5 ms for batches 1…4.
func handProfile() *latency.Table {
	p := &profile.Profile{Version: 1}
	for n := 1; n <= 4; n++ {
		for _, s := range []float64{10, 20} {
			l := 100 * float64(n)
			if s == 20 {
				l += 100.5
			}
			p.Measurements = append(p.Measurements, profile.Measurement{
				Platform: profile.Lambda, Hardware: "lambda-x86_64", MemoryMB: 1024, Batch: n, Size: s, LatencyMs: l})
		}
	}
	return latency.NewTable(p)
}

func ms(x float64) int64 { return int64(math.Round(x * 1000)) }

func target(t *testing.T, bufs ...plan.Buffer) *Target {
	t.Helper()
	// $1 per GB-second and $0.5 per request: an invocation costs billed seconds + 0.5
	tg, err := ResolveBuffers(bufs, handProfile(), "x86_64", 1, 0.5, 250)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func one(batch int, timeoutMs float64) plan.Buffer {
	return plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: batch, TimeoutMs: timeoutMs, MemoryMB: 1024}
}

func reqs(pairs ...float64) *trace.Trace {
	tr := &trace.Trace{}
	for i := 0; i < len(pairs); i += 2 {
		tr.Requests = append(tr.Requests, trace.Request{At: ms(pairs[i]), Size: pairs[i+1]})
	}
	return tr
}

func check(t *testing.T, res *Result, wantLat []float64, wantInv int, wantCost, wantPad float64) {
	t.Helper()
	got := slices.Clone(res.Latencies)
	slices.Sort(got)
	want := slices.Clone(wantLat)
	slices.Sort(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latencies = %v, want %v", got, want)
	}
	e := res.Estimate
	if int(e.Invocations) != wantInv {
		t.Errorf("invocations = %v, want %d", e.Invocations, wantInv)
	}
	if math.Abs(e.CostUSD-wantCost) > 1e-12 {
		t.Errorf("cost = %v, want %v", e.CostUSD, wantCost)
	}
	if math.Abs(e.PaddingRatio-wantPad) > 1e-12 {
		t.Errorf("padding ratio = %v, want %v", e.PaddingRatio, wantPad)
	}
}

func TestTimeoutEdgeAndExactBoundaryArrival(t *testing.T) {
	// B=3, T=100 ms. The request at exactly t0+T joins; the batch leaves at t0+T = 100 ms with 2 requests.
	// The one at 100.001 ms opens a new batch, alone, dispatched at 200.001 ms.
	res, err := Run(target(t, one(3, 100)), reqs(0, 10, 100, 10, 100.001, 10), Options{KeepLatencies: true})
	if err != nil {
		t.Fatal(err)
	}
	// batch 1: service(2, 10) = 200; latencies 100−0+200 and 100−100+200. batch 2: 100 + service(1,10) = 200
	// cost: (0.2 + 0.5) + (0.1 + 0.5)
	check(t, res, []float64{300, 200, 200}, 2, 1.3, 0)
	if s := res.Buffers[0]; s.TimeoutShare != 1 || s.MeanBatch != 1.5 {
		t.Errorf("buffer stats = %+v", s)
	}
}

func TestBatchFullDispatch(t *testing.T) {
	// B=2, T=1 s: the 2nd request fills the batch at 10 ms; the 3rd waits alone until its timeout (1,020 ms).
	res, _ := Run(target(t, one(2, 1000)), reqs(0, 10, 10, 10, 20, 10), Options{KeepLatencies: true})
	check(t, res, []float64{210, 200, 1100}, 2, (0.2+0.5)+(0.1+0.5), 0)
	if s := res.Buffers[0]; s.TimeoutShare != 0.5 {
		t.Errorf("timeout share = %v, want 0.5", s.TimeoutShare)
	}
}

func TestPaddingAndPerMillisecondRounding(t *testing.T) {
	// B=2: sizes 10 and 20 run together padded to 20: service(2, 20) = 300.5 ms, billed 301 ms.
	// Padding = 2·20 − 30 = 10 over 30 of real size. Then one size-15 request alone: service(1, 15) is halfway
	// between 100 and 200.5 = 150.25 ms, billed 151 ms.
	res, _ := Run(target(t, one(2, 50)), reqs(0, 10, 1, 20, 500, 15), Options{KeepLatencies: true})
	check(t, res, []float64{301.5, 300.5, 200.25}, 2, (0.301+0.5)+(0.151+0.5), 10.0/45)
}

func TestZeroTimeoutDispatchesAtOnce(t *testing.T) {
	// T=0: a batch leaves at its first arrival; a request in the same microsecond is "exactly at t0 + 0" and joins,
	// one a microsecond later does not.
	res, _ := Run(target(t, one(4, 0)), reqs(0, 10, 0, 10, 0.001, 10), Options{KeepLatencies: true})
	check(t, res, []float64{200, 200, 100}, 2, (0.2+0.5)+(0.1+0.5), 0)
	// and a timeout below half a microsecond rounds to 0
	if b := (plan.Buffer{TimeoutMs: 0.0004}); b.TimeoutMicros() != 0 {
		t.Errorf("round(0.4 µs) = %d", b.TimeoutMicros())
	}
}

func TestRoutingAcrossBuffersAndGaps(t *testing.T) {
	// [1, 10] and [12, ∞): size 11 falls in the gap and joins the upper buffer; size 0.5 joins the first.
	bufs := []plan.Buffer{
		{MinSize: 1, MaxSize: 10, BatchSize: 2, TimeoutMs: 100, MemoryMB: 1024},
		{MinSize: 12, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 100, MemoryMB: 1024},
	}
	// interleaved: buffer 0 gets sizes 10 (t=0) and 0.5 (t=5); buffer 1 gets 11 (t=1) and 20 (t=2)
	res, _ := Run(target(t, bufs...), reqs(0, 10, 1, 11, 2, 20, 5, 0.5), Options{KeepLatencies: true})
	// buffer 0: full at 5 ms, service(2, 10) = 200 → 205, 200. Buffer 1: full at 2 ms, padded to 20:
	// service(2, 20) = 300.5 → 301.5, 300.5; billed 0.2 and 0.301
	check(t, res, []float64{205, 200, 301.5, 300.5}, 2, (0.2+0.5)+(0.301+0.5), (2*10-10.5+2*20-31)/41.5)
	if res.Buffers[0].Requests != 2 || res.Buffers[1].Requests != 2 {
		t.Errorf("per-buffer requests = %d, %d", res.Buffers[0].Requests, res.Buffers[1].Requests)
	}
	for i, k := range res.LatencyBuffer {
		if (res.Latencies[i] > 250) != (k == 1) {
			t.Errorf("latency %v attributed to buffer %d", res.Latencies[i], k)
		}
	}
}

func TestEstimatePercentilesAndSLO(t *testing.T) {
	// 20 lone requests (B=1): latencies 100 (size 10) ×15 and 200.5 (size 20) ×5; SLO 250 ms met by all but none
	pairs := []float64{}
	for i := 0; i < 20; i++ {
		size := 10.0
		if i%4 == 3 {
			size = 20
		}
		pairs = append(pairs, float64(i)*1000, size)
	}
	tg := target(t, one(1, 0))
	tg.SLOMs = 150
	res, _ := Run(tg, reqs(pairs...), Options{})
	e := res.Estimate
	// nearest rank: p50 = 10th of 20 → 100; p95 = 19th → 200.5; p99 = 20th → 200.5
	if e.LatencyP50Ms != 100 || e.LatencyP95Ms != 200.5 || e.LatencyP99Ms != 200.5 {
		t.Errorf("p50/p95/p99 = %v/%v/%v", e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms)
	}
	if e.SLOAttainment != 0.75 || e.Requests != 20 || e.Method != "replay" {
		t.Errorf("estimate = %+v", e)
	}
	// cost: 15 × (0.1 + 0.5) + 5 × (0.201 + 0.5); per million = cost / 20 × 1e6
	if want := 15*0.6 + 5*0.701; math.Abs(e.CostUSD-want) > 1e-12 || math.Abs(e.CostPerMillionUSD-want/20*1e6) > 1e-6 {
		t.Errorf("cost = %v (%v per million), want %v", e.CostUSD, e.CostPerMillionUSD, want)
	}
}

func TestResolveErrors(t *testing.T) {
	tab := handProfile()
	if _, err := ResolveBuffers([]plan.Buffer{{MaxSize: 1, BatchSize: 1, MemoryMB: 2048}}, tab, "x86_64", 1, 0, 1); err == nil {
		t.Error("unprofiled memory accepted")
	}
	if _, err := ResolveBuffers([]plan.Buffer{{MaxSize: 1, BatchSize: 5, MemoryMB: 1024}}, tab, "x86_64", 1, 0, 1); err == nil {
		t.Error("batch above the profile accepted")
	}
}
