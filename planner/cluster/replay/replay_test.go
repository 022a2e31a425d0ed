package replay

import (
	"fmt"
	"math"
	"testing"

	"github.com/inferplan/inferplan/batching"
	lreplay "github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// flat is a curve of a constant latency, plus perExtra ms for each request beyond the first.
type flat struct{ ms, perExtra float64 }

func (c flat) At(n int, _ float64) float64 { return c.ms + c.perExtra*float64(n-1) }

func ms(x float64) int64 { return int64(math.Round(x * 1000)) }

func reqs(pairs ...float64) []trace.Request {
	var out []trace.Request
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, trace.Request{At: ms(pairs[i]), Size: pairs[i+1]})
	}
	return out
}

func service(sloMs float64, rs []trace.Request, ranges ...float64) Service {
	if len(ranges) == 0 {
		ranges = []float64{batching.NoUpperBound}
	}
	return Service{Name: "s", SLO: plan.SLO{Percentile: 99, LatencyMs: sloMs}, Requests: rs, Ranges: ranges}
}

func cpu(batch int, timeoutMs float64, c Curve) Worker {
	return Worker{BatchSize: batch, TimeoutUs: ms(timeoutMs), Curve: c, GPU: -1, Share: 1}
}

func run(t *testing.T, f *Fleet) *Result {
	t.Helper()
	if f.Model == nil {
		f.Model = &interference.Model{TimeSlice: 1, MPS: 1}
	}
	if f.SpanUs == 0 {
		f.SpanUs = ms(1000)
	}
	res, err := Run(f, Options{KeepLatencies: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBatchingAndQueueingByHand(t *testing.T) {
	// batch 2, timeout 10 ms, 5 ms a batch: [0, 1] leaves full at 1 and runs 1–6 (latencies 6 and 5); the request
	// at 100 leaves alone at its timeout, 110, and ends at 115 (latency 15)
	res := run(t, &Fleet{Services: []Service{service(10, reqs(0, 8, 1, 8, 100, 8))}, Workers: []Worker{cpu(2, 10, flat{5, 0})}})
	if got := fmt.Sprint(res.Latencies[0]); got != "[6 5 15]" {
		t.Errorf("latencies %s, want [6 5 15]", got)
	}
	s := res.Estimate.Services[0]
	// 2 of 3 within 10 ms; p99 of {5, 6, 15} is 15
	if math.Abs(s.SLOAttainment-2.0/3) > 1e-12 || s.LatencyP99Ms != 15 || s.MeanBatch != 1.5 || res.Estimate.Invocations != 2 {
		t.Errorf("service estimate %+v", s)
	}
	// a busy worker makes the next batch wait: batch 1, no timeout, 50 ms a batch; the request at 10 waits until
	// 50 and ends at 100 (latency 90, queue 40)
	res = run(t, &Fleet{Services: []Service{service(60, reqs(0, 8, 10, 8))}, Workers: []Worker{cpu(1, 0, flat{50, 0})}})
	if got := fmt.Sprint(res.Latencies[0]); got != "[50 90]" {
		t.Errorf("latencies %s, want [50 90]", got)
	}
	if q := res.Estimate.Services[0].QueueP99Ms; q != 40 {
		t.Errorf("queue p99 %v, want 40", q)
	}
	if w := res.Workers[0]; w.BusyUs != 100_000 || w.Batches != 2 {
		t.Errorf("worker stats %+v", w)
	}
}

func TestRoundRobinWithinAGroupAndRangesBetweenGroups(t *testing.T) {
	// two groups: sizes ≤ 10 to workers 0 and 1 in turn, larger ones to worker 2
	sv := service(100, reqs(0, 5, 0, 5, 0, 5, 1, 50, 2, 7), 10, batching.NoUpperBound)
	w := []Worker{cpu(1, 0, flat{1, 0}), cpu(1, 0, flat{1, 0}), cpu(1, 0, flat{1, 0})}
	w[2].Group = 1
	res := run(t, &Fleet{Services: []Service{sv}, Workers: w})
	// small requests: 1st → w0, 2nd → w1, 3rd → w0, 4th (at 2 ms) → w1; the large one → w2
	if got := fmt.Sprint(res.Workers[0].Requests, res.Workers[1].Requests, res.Workers[2].Requests); got != "2 2 1" {
		t.Errorf("requests per worker %s, want 2 2 1", got)
	}
	// w0 runs two simultaneous requests one after the other: latencies 1 and 2
	if got := fmt.Sprint(res.Latencies[0][:2]); got != "[1 2]" {
		t.Errorf("w0 latencies %s, want [1 2]", got)
	}
}

func TestTimeSlicedWorkersSlowEachOtherDown(t *testing.T) {
	// solo 10 ms, 4 ms of it SM-bound (0.5 ms per token × 8 tokens), c_ts = 1: worker A starts at 0 alone
	// (10 ms); B's batch at 5 ms finds A busy: 10 + 1 × (2 − 1) × 4 = 14 ms, so it ends at 19
	svcs := []Service{service(100, reqs(0, 8)), service(100, reqs(5, 8))}
	a := Worker{Service: 0, BatchSize: 1, Curve: flat{10, 0}, Slope: 0.5, GPU: 0, Mode: interference.TimeSlice, Share: 1}
	b := a
	b.Service = 1
	res := run(t, &Fleet{Services: svcs, Workers: []Worker{a, b}, GPUs: 1})
	if got := fmt.Sprint(res.Latencies[0], res.Latencies[1]); got != "[10] [14]" {
		t.Errorf("latencies %s, want [10] [14]", got)
	}
	// the GPU was busy from 0 to 19 ms of the 1 s span
	if math.Abs(res.GPUBusy[0]-0.019) > 1e-12 {
		t.Errorf("GPU busy %v, want 0.019", res.GPUBusy[0])
	}
	// the same two as MPS halves do not interfere at all (shares sum to 1): 10 + (1/0.5 − 1) × 4 = 14 each,
	// the cost of a half GPU
	a.Mode, b.Mode, a.Share, b.Share = interference.MPS, interference.MPS, 0.5, 0.5
	res = run(t, &Fleet{Services: svcs, Workers: []Worker{a, b}, GPUs: 1})
	if got := fmt.Sprint(res.Latencies[0], res.Latencies[1]); got != "[14] [14]" {
		t.Errorf("MPS latencies %s, want [14] [14]", got)
	}
}

func TestCostBillsEveryInstanceForTheSpan(t *testing.T) {
	// 2 instances at $3.60/h and 1 at $0.36/h for 1,000 s: 2 + 0.1
	f := &Fleet{Services: []Service{service(100, reqs(0, 1))}, Workers: []Worker{cpu(1, 0, flat{1, 0})},
		Pools: []Pool{{2, 3.6}, {1, 0.36}}, SpanUs: 1_000_000_000}
	res := run(t, f)
	if e := res.Estimate; math.Abs(e.CostUSD-2.1) > 1e-12 || e.CostPerHourUSD != 7.56 || math.Abs(e.CostPerMillionUSD-2.1e6) > 1e-6 {
		t.Errorf("cost %v, per hour %v, per million %v", e.CostUSD, e.CostPerHourUSD, e.CostPerMillionUSD)
	}
}

func TestAServiceWithoutWorkersIsAnError(t *testing.T) {
	f := &Fleet{Services: []Service{service(1, reqs(0, 1))}, Model: &interference.Model{}}
	if _, err := Run(f, Options{}); err == nil {
		t.Error("a service with no worker replayed")
	}
}

// lambdaAt is a Lambda target of one buffer (batch 1, no timeout) at 1,024 MB taking ms per request, billed at
// $1 per GB-second and nothing per request.
func lambdaAt(t *testing.T, ms float64) *lreplay.Target {
	t.Helper()
	p := &profile.Profile{Version: 1}
	for _, s := range []float64{1, 1000} {
		p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.Lambda, Hardware: "lambda-x86_64",
			MemoryMB: 1024, Batch: 1, Size: s, LatencyMs: ms})
	}
	tg, err := lreplay.ResolveBuffers([]plan.Buffer{{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}},
		latency.NewTable(p), "x86_64", 1, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestSpillOverByHand(t *testing.T) {
	// one worker, 50 ms a request, threshold 30 ms: the request at 10 would wait 40 ms (spilled, 100 ms on
	// Lambda); the one at 20 would wait 30, not more, so it stays (starts at 50, latency 80)
	sv := service(90, reqs(0, 8, 10, 8, 20, 8))
	sv.Spill = &Spill{ThresholdMs: 30, Lambda: lambdaAt(t, 100)}
	res := run(t, &Fleet{Services: []Service{sv}, Workers: []Worker{cpu(1, 0, flat{50, 0})}, Pools: []Pool{{1, 3.6}}, SpanUs: 1_000_000_000})
	if got := fmt.Sprint(res.Latencies[0]); got != "[50 80 100]" {
		t.Errorf("latencies %s, want the worker's 50 and 80, then Lambda's 100", got)
	}
	s := res.Estimate.Services[0]
	// Lambda bills 100 ms × 1 GB × $1; the fleet 1,000 s × $3.60/h = $1
	if s.Spilled != 1 || math.Abs(s.SpillCostUSD-0.1) > 1e-12 || math.Abs(res.Estimate.CostUSD-1.1) > 1e-12 {
		t.Errorf("spilled %d costing %v, total %v", s.Spilled, s.SpillCostUSD, res.Estimate.CostUSD)
	}
	// 2 of 3 within 90 ms; a third of the requests spilled; the hour costs $3.60 + $0.1 over 1,000 s
	if math.Abs(s.SLOAttainment-2.0/3) > 1e-12 || math.Abs(res.Estimate.SpillShare-1.0/3) > 1e-12 ||
		math.Abs(res.Estimate.CostPerHourUSD-(3.6+0.1/(1000.0/3600))) > 1e-9 {
		t.Errorf("attainment %v spill share %v per hour %v", s.SLOAttainment, res.Estimate.SpillShare, res.Estimate.CostPerHourUSD)
	}
	if len(res.Spilled[0]) != 1 || res.Spilled[0][0].At != 10_000 {
		t.Errorf("spilled requests %v", res.Spilled[0])
	}
}

func TestScaledInstancesServeOnlyWhileUp(t *testing.T) {
	// instance 1 serves [0, 100 ms); instance 2 is launched at 50 ms and serves from 90 ms on. Requests at 10 and
	// 20 find only the first; at 95 and 96 both are up and the turn goes on: the third request of the group to
	// the first, the fourth to the second. The one at 150 finds only the second.
	sv := service(1000, reqs(10, 8, 20, 8, 95, 8, 96, 8, 150, 8))
	a, b := cpu(1, 0, flat{1, 0}), cpu(1, 0, flat{1, 0})
	a.Instance, b.Instance = 1, 2
	f := &Fleet{Services: []Service{sv}, Workers: []Worker{a, b}, SpanUs: 3_600_000_000,
		Instances: []Instance{{USDPerHour: 3.6, Launch: 0, Ready: 0, Stop: 100_000}, {USDPerHour: 3.6, Launch: 50_000, Ready: 90_000, Stop: math.MaxInt64}}}
	res := run(t, f)
	if res.Workers[0].Requests != 3 || res.Workers[1].Requests != 2 {
		t.Fatalf("requests %d and %d, want 3 and 2", res.Workers[0].Requests, res.Workers[1].Requests)
	}
	// the first bills its 60-second minimum ($0.06), the second from 50 ms to the end of the hour
	want := 3.6/60 + math.Ceil(3600-0.05)*3.6/3600
	if math.Abs(res.Estimate.CostUSD-want) > 1e-9 || res.Estimate.InstanceHours != math.Round((60+3600)/3600.0*1e6)/1e6 {
		t.Errorf("cost %v (want %v), instance-hours %v", res.Estimate.CostUSD, want, res.Estimate.InstanceHours)
	}
	// a request when no instance is up is never served: it misses the SLO (the second now serves from 120 ms)
	f.Instances[1].Ready = 120_000
	f.Services[0].Requests = reqs(10, 8, 110, 8)
	res = run(t, f)
	if s := res.Estimate.Services[0]; s.Requests != 2 || s.SLOAttainment != 0.5 || !math.IsInf(s.LatencyP99Ms, 1) {
		t.Errorf("with a gap in service: %+v", s)
	}
}
