package lambda

import (
	"context"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

func scenario(t *testing.T) (*profile.Profile, *trace.Trace) {
	t.Helper()
	prof, err := example.Profile()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := example.Scenario(example.Seed)
	if err != nil {
		t.Fatal(err)
	}
	return prof, tr
}

func slo(p, ms float64) Options {
	return Options{SLO: plan.SLO{Percentile: p, LatencyMs: ms}, Common: planner.Common{Seed: 1}}
}

// checkPartition: buffers are sorted, do not overlap, and every size of the trace falls in exactly one
// [min_size, max_size] (contract §3.3).
func checkPartition(t *testing.T, bufs []plan.Buffer, tr *trace.Trace) {
	t.Helper()
	if err := plan.ValidateBuffers(bufs); err != nil {
		t.Fatalf("buffers invalid: %v", err)
	}
	for _, q := range tr.Requests {
		n := 0
		for _, b := range bufs {
			if q.Size >= b.MinSize && q.Size <= b.MaxSize {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("size %v falls in %d buffers: %+v", q.Size, n, bufs)
		}
	}
}

// acceptance skips a scenario-size acceptance run unless INFERPLAN_ACCEPTANCE is set: they take minutes on two
// cores, so `go test ./...` leaves them to a step of .ci/run of their own.
func acceptance(t *testing.T) {
	t.Helper()
	if os.Getenv("INFERPLAN_ACCEPTANCE") == "" {
		t.Skip("scenario-size acceptance run; set INFERPLAN_ACCEPTANCE=1 (.ci/run does)")
	}
}

// TestScenarioAcceptance is issue #3's scenario: the DeepSpeech Lambda profile, the whole Azure conversation
// trace's arrivals with sizes drawn from the MBS size mix, SLO p95 ≤ 20 s.
func TestScenarioAcceptance(t *testing.T) {
	acceptance(t)
	t.Parallel()
	prof, tr := scenario(t)
	start := time.Now()
	p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, slo(95, 20000))
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	checkPartition(t, p.Lambda.Buffers, tr)
	single := p.Baselines[1]
	if single.Name != "single-buffer" {
		t.Fatalf("baselines %+v", p.Baselines)
	}
	e := p.Estimate
	ratioSingle := e.CostUSD / single.Estimate.CostUSD
	ratioBound := e.CostUSD / p.Lambda.LowerBound.CostUSD
	padRatio := e.PaddingRatio / single.Estimate.PaddingRatio
	costErr := p.Lambda.Analytic.CostUSD/e.CostUSD - 1
	p95Err := p.Lambda.Analytic.LatencyP95Ms/e.LatencyP95Ms - 1
	t.Logf("plan $%.2f/M vs single buffer $%.2f/M (%.3f×), vs ideal bound $%.2f/M (%.3f×); SLO met %.2f%%; padding %.4f vs %.4f (%.3f×); analytic cost %+.2f%%, p95 %+.2f%%; %d buffers; %v",
		e.CostPerMillionUSD, single.Estimate.CostPerMillionUSD, ratioSingle, p.Lambda.LowerBound.CostPerMillionUSD, ratioBound,
		e.SLOAttainment*100, e.PaddingRatio, single.Estimate.PaddingRatio, padRatio, costErr*100, p95Err*100, len(p.Lambda.Buffers), elapsed)
	if ratioSingle > 0.80 {
		t.Errorf("plan costs %.3f× the single-buffer baseline, want ≤ 0.80", ratioSingle)
	}
	if ratioBound > 1.15 {
		t.Errorf("plan costs %.3f× the ideal bound, want ≤ 1.15", ratioBound)
	}
	if e.SLOAttainment < 0.95 || e.Method != "replay" {
		t.Errorf("replayed SLO attainment %.4f (%s), want ≥ 0.95 by replay", e.SLOAttainment, e.Method)
	}
	if padRatio > 0.2 {
		t.Errorf("padding ratio is %.3f× the single buffer's, want ≤ 1/5", padRatio)
	}
	if math.Abs(costErr) > 0.05 || math.Abs(p95Err) > 0.10 {
		t.Errorf("analytic off by %+.2f%% (cost), %+.2f%% (p95); want within 5%% and 10%%", costErr*100, p95Err*100)
	}
	// the estimate is an honest replay: an independent replay of the written buffers agrees exactly
	tg, err := replay.Resolve(p, latency.NewTable(prof))
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(tg, tr, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Estimate, e) {
		t.Errorf("independent replay %+v differs from the plan's estimate %+v", res.Estimate, e)
	}
	// and the plan beats both baselines
	for _, b := range p.Baselines {
		if b.Estimate.CostUSD < e.CostUSD && b.Estimate.SLOAttainment >= 0.95 {
			t.Errorf("baseline %s ($%.2f/M) is cheaper than the plan", b.Name, b.Estimate.CostPerMillionUSD)
		}
	}
}

func TestInfeasibleNamesAFeasibleSLO(t *testing.T) {
	t.Parallel()
	prof, _ := scenario(t)
	tr, err := example.Trace()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(context.Background(), Input{Profile: prof, Trace: tr}, slo(95, 1000))
	var inf *planner.InfeasibleError
	if !errors.As(err, &inf) {
		t.Fatalf("SLO 1 s: err = %v, want an InfeasibleError", err)
	}
	if !strings.Contains(err.Error(), "smallest SLO some configuration meets is p95 ≤") {
		t.Errorf("message: %v", err)
	}
	// the SLO it names is met
	named := math.Ceil(inf.SmallestFeasibleMs)
	p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, Options{SLO: plan.SLO{Percentile: 95, LatencyMs: named}, RefineBudget: -1})
	if err != nil {
		t.Fatalf("planning at the named SLO %v ms: %v", named, err)
	}
	if p.Estimate.SLOAttainment < 0.95 {
		t.Fatalf("at the named SLO the plan meets %.4f", p.Estimate.SLOAttainment)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	prof, _ := scenario(t)
	tr, _ := example.Trace()
	run := func() string {
		p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, slo(95, 20000))
		if err != nil {
			t.Fatal(err)
		}
		p.Search.Seconds = 0
		data, _ := p.Marshal()
		return string(data)
	}
	if a, b := run(), run(); a != b {
		t.Fatal("two runs with the same seed gave different plans")
	}
}

func TestArm64PricingAndWarning(t *testing.T) {
	t.Parallel()
	prof, _ := scenario(t)
	tr, _ := example.Trace()
	opt := slo(95, 20000)
	opt.Arch = "arm64"
	opt.RefineBudget = -1
	p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lambda.Arch != "arm64" || p.Lambda.Pricing.GBSecondUSD != 0.0000133334 {
		t.Errorf("arch %s priced at %v", p.Lambda.Arch, p.Lambda.Pricing.GBSecondUSD)
	}
	if len(p.Warnings) == 0 || !strings.Contains(p.Warnings[0], "no measurements on lambda-arm64") {
		t.Errorf("warnings %v", p.Warnings)
	}
}

func TestWindowSchedule(t *testing.T) {
	t.Parallel()
	prof, _ := scenario(t)
	tr, _ := example.Trace()
	opt := slo(95, 20000)
	opt.Window = 600
	opt.RefineBudget = 5
	p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lambda.Schedule) != 2 {
		t.Fatalf("%d windows over 20 minutes with --window 10m", len(p.Lambda.Schedule))
	}
	n := 0
	for _, w := range p.Lambda.Schedule {
		sub := tr.Slice(int64(w.StartS*1e6), int64(w.EndS*1e6))
		checkPartition(t, w.Buffers, sub)
		n += w.Estimate.Requests
	}
	if n != tr.Len() || p.Lambda.ScheduleEstimate.Requests != tr.Len() {
		t.Fatalf("windows hold %d requests, schedule %d, trace %d", n, p.Lambda.ScheduleEstimate.Requests, tr.Len())
	}
}

// tokenProfile is a synthetic Lambda profile in tokens (t = 50 + 0.02·n·s ms at 1,769 MB, slower below) — a
// stand-in for an encoder, to plan a trace with thousands of distinct sizes.
func tokenProfile() *profile.Profile {
	p := &profile.Profile{Version: 1, SizeUnit: "tokens"}
	for _, mem := range []int{1024, 1769, 3008} {
		f := 1769 / math.Min(float64(mem), 1769)
		for n := 1; n <= 16; n++ {
			for _, s := range []float64{16, 128, 512, 2048, 8192} {
				p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.Lambda, Hardware: "lambda-x86_64",
					MemoryMB: mem, Batch: n, Size: s, LatencyMs: (50 + 0.02*float64(n)*s) * f})
			}
		}
	}
	return p
}

func TestQuantileClassesOnTokenTrace(t *testing.T) {
	t.Parallel()
	tr, err := example.AzureConv() // its own ContextTokens: 2…14,050, thousands of distinct sizes
	if err != nil {
		t.Fatal(err)
	}
	tr = tr.Slice(0, 15*60*1e6)
	p, err := Plan(context.Background(), Input{Profile: tokenProfile(), Trace: tr}, slo(99, 3000))
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, p.Lambda.Buffers, tr)
	if p.Search.SizeClasses != 32 || len(p.Lambda.Buffers) < 2 {
		t.Errorf("%d classes, %d buffers", p.Search.SizeClasses, len(p.Lambda.Buffers))
	}
	if p.Estimate.SLOAttainment < 0.99 {
		t.Errorf("attainment %v", p.Estimate.SLOAttainment)
	}
	if p.Estimate.CostUSD > p.Baselines[1].Estimate.CostUSD {
		t.Errorf("plan $%v dearer than one buffer $%v", p.Estimate.CostUSD, p.Baselines[1].Estimate.CostUSD)
	}
}

func TestOneSizeOneBuffer(t *testing.T) {
	t.Parallel()
	prof, _ := scenario(t)
	var reqs []trace.Request
	for i := 0; i < 2000; i++ {
		reqs = append(reqs, trace.Request{At: int64(i) * 400_000, Size: 44})
	}
	p, err := Plan(context.Background(), Input{Profile: prof, Trace: &trace.Trace{Requests: reqs}}, slo(95, 20000))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Lambda.Buffers) != 1 || p.Lambda.Buffers[0].MinSize != 44 || p.Estimate.PaddingRatio != 0 {
		t.Fatalf("buffers %+v, padding %v", p.Lambda.Buffers, p.Estimate.PaddingRatio)
	}
	// requests every 0.4 s, deterministic: the plan fills batches as far as the SLO allows
	if p.Lambda.Buffers[0].BatchSize < 2 {
		t.Fatalf("batch %d", p.Lambda.Buffers[0].BatchSize)
	}
}

func TestCombineMeetsTarget(t *testing.T) {
	// two classes; class 0 options: (cost 1, met 5) (cost 3, met 10); class 1: (1, 0) (2, 10); joint (4, 20)
	seg := func(i, j int, opts ...option) *segment { return &segment{i: i, j: j, requests: 10, frontier: opts} }
	segs := [][]*segment{
		{seg(0, 0, option{cost: 1, met: 5}, option{cost: 3, met: 10}), seg(0, 1, option{cost: 4, met: 20})},
		{nil, seg(1, 1, option{cost: 1, met: 0}, option{cost: 2, met: 10})},
	}
	for _, tc := range []struct {
		target   float64
		wantCost float64
	}{{0, 2}, {5, 2}, {10, 3}, {15, 3}, {20, 4}} {
		ch, ok := combine(segs, 2, 2, tc.target)
		cost, met := 0.0, 0.0
		for _, c := range ch {
			cost += c.opt.cost
			met += c.opt.met
		}
		if !ok || met < tc.target || cost != tc.wantCost {
			t.Errorf("target %v: cost %v met %v ok %v, want cost %v", tc.target, cost, met, ok, tc.wantCost)
		}
	}
	if _, ok := combine(segs, 2, 2, 21); ok {
		t.Error("an unreachable target reported as met")
	}
	// one buffer at most: only the joint segment or (it cannot split) — the joint option
	ch, _ := combine(segs, 2, 1, 10)
	if len(ch) != 1 || ch[0].opt.cost != 4 {
		t.Errorf("max 1 buffer: %+v", ch)
	}
}

func TestClassesQuantileBinsKeepEqualSizesTogether(t *testing.T) {
	var reqs []trace.Request
	for i := 0; i < 1000; i++ {
		s := float64(i%100 + 1)
		if i%3 == 0 {
			s = 50 // a heavy repeated size
		}
		reqs = append(reqs, trace.Request{At: int64(i), Size: s})
	}
	cl := makeClasses(reqs, 8)
	if cl.n() > 8 || cl.n() < 4 {
		t.Fatalf("%d classes", cl.n())
	}
	total := 0
	for k := 0; k < cl.n(); k++ {
		if k > 0 && cl.lower[k] <= cl.upper[k-1] {
			t.Fatalf("class %d [%v, %v] overlaps the previous one ending at %v", k, cl.lower[k], cl.upper[k], cl.upper[k-1])
		}
		total += cl.count[k]
	}
	for i, q := range reqs {
		k := cl.of[i]
		if q.Size < cl.lower[k] || q.Size > cl.upper[k] {
			t.Fatalf("size %v assigned to class [%v, %v]", q.Size, cl.lower[k], cl.upper[k])
		}
	}
	if total != len(reqs) {
		t.Fatalf("classes count %d of %d requests", total, len(reqs))
	}
}

func TestLowerBoundByHand(t *testing.T) {
	// one memory (1024 MB = 1 GB) with latency 100·n ms at any size: the cheapest per request within an SLO of
	// 250 ms is batch 2 (200 ms): (0.2 s × $1 + $0.5) / 2 = $0.35
	p := &profile.Profile{Version: 1}
	for n := 1; n <= 4; n++ {
		p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.Lambda, Hardware: "lambda-x86_64", MemoryMB: 1024, Batch: n, Size: 10, LatencyMs: 100 * float64(n)})
	}
	curves, _ := latency.NewTable(p).Lambda("x86_64")
	sp := &space{curves: curves, gbs: 1, req: 0.5, slo: plan.SLO{Percentile: 95, LatencyMs: 250}, maxBatch: 4}
	b := sp.lowerBound([]trace.Request{{At: 0, Size: 10}, {At: 1, Size: 10}})
	if math.Abs(b.CostUSD-0.7) > 1e-12 {
		t.Fatalf("bound %v, want 0.7", b.CostUSD)
	}
}
