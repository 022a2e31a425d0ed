package cluster

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

func fixedNow() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }

// flatProfile is a model that takes ms at every shape on the H100 (launch-bound: nothing for sharing to slow
// down) up to batch maxBatch.
func flatProfile(model string, ms float64, maxBatch int) *profile.Profile {
	p := &profile.Profile{Version: 1, Model: model, SizeUnit: "tokens"}
	for n := 1; n <= maxBatch; n *= 2 {
		for _, s := range []float64{64, 512} {
			p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.GPU, Hardware: "nvidia-h100-80gb-hbm3",
				Batch: n, Size: s, LatencyMs: ms})
		}
	}
	return p
}

// poisson is rate requests a second for seconds, sizes 128, from seed.
func poisson(rate, seconds float64, seed uint64) *trace.Trace {
	rng := rand.New(rand.NewPCG(seed, seed))
	tr := &trace.Trace{Source: "poisson"}
	for at := 0.0; at < seconds; at += rng.ExpFloat64() / rate {
		tr.Requests = append(tr.Requests, trace.Request{At: int64(at * 1e6), Size: 128})
	}
	return tr
}

func syntheticWorkload(svcs ...*Service) *Workload {
	w := &Workload{File: "synthetic.yaml"}
	for i, s := range svcs {
		s.Index = i
		s.Model = s.Profiles[0].Model
		s.ProfilePaths = []string{s.Name + ".json"}
		s.ProfileFiles = s.ProfilePaths
		w.SpanUs = max(w.SpanUs, s.Trace.Span())
		w.Services = append(w.Services, s)
	}
	return w
}

func gpuPools(p *plan.Plan) (instances, workersOnAGPU int) {
	for _, po := range p.Cluster.Pools {
		instances += po.Count
		for _, g := range po.GPUs {
			workersOnAGPU = max(workersOnAGPU, len(g.Workers))
		}
	}
	return
}

func TestTwoQuietServicesShareOneGPU(t *testing.T) {
	w := syntheticWorkload(
		&Service{Name: "a", SLO: plan.SLO{Percentile: 99, LatencyMs: 100}, Profiles: []*profile.Profile{flatProfile("m1", 10, 8)}, Trace: poisson(5, 600, 1)},
		&Service{Name: "b", SLO: plan.SLO{Percentile: 99, LatencyMs: 100}, Profiles: []*profile.Profile{flatProfile("m2", 20, 8)}, Trace: poisson(5, 600, 2)},
	)
	p, err := Plan(context.Background(), w, Options{Common: planner.Common{Now: fixedNow}})
	if err != nil {
		t.Fatal(err)
	}
	inst, shared := gpuPools(p)
	// one p5.4xlarge (1 H100, $6.88/h) for both, where dedicated takes two
	if inst != 1 || shared != 2 || p.Estimate.CostPerHourUSD != 6.88 {
		t.Fatalf("fleet of %d instances, %d workers on a GPU, $%v/h; want one shared p5.4xlarge", inst, shared, p.Estimate.CostPerHourUSD)
	}
	for _, s := range p.Estimate.Services {
		if !s.Met() {
			t.Errorf("%s misses its SLO: %+v", s.Name, s)
		}
	}
	if b := p.Baselines[0]; b.Name != BaselineDedicated || b.Estimate.CostPerHourUSD != 13.76 {
		t.Errorf("dedicated baseline %+v, want two p5.4xlarge", b.Estimate)
	}
	if len(p.Cluster.Decisions) == 0 {
		t.Error("no decisions explained")
	}
}

func TestABusyLaunchBoundServiceGetsReplicasOnOneGPU(t *testing.T) {
	// 10 ms a request and nothing measured beyond batch 1: one worker serves 100 requests a second at most, so 200
	// a second need three workers; launch-bound, they can share one GPU instead of taking three
	w := syntheticWorkload(&Service{Name: "busy", SLO: plan.SLO{Percentile: 99, LatencyMs: 200},
		Profiles: []*profile.Profile{flatProfile("m", 10, 1)}, Trace: poisson(200, 120, 3)})
	p, err := Plan(context.Background(), w, Options{Common: planner.Common{Now: fixedNow}})
	if err != nil {
		t.Fatal(err)
	}
	inst, perGPU := gpuPools(p)
	if inst != 1 || perGPU < 3 || !p.Estimate.Services[0].Met() {
		t.Fatalf("%d instances, %d workers on a GPU, SLO met %v; want replicas sharing one GPU", inst, perGPU, p.Estimate.Services[0].Met())
	}
	if d := p.Baselines[0]; d.Estimate.CostPerHourUSD < 3*6.88 {
		t.Errorf("dedicated baseline at $%v/h; one worker per GPU needs three", d.Estimate.CostPerHourUSD)
	}
}

func TestCoverPicksTheCheapestPartition(t *testing.T) {
	// alone: 3, 4, 5 an hour; bins: {0,1} for 5, {1,2} for 8, {0,1,2} for 13. Best: {0,1} + 2 alone = 10
	// (0 alone + {1,2} = 11, all alone = 12, all together 13)
	alone := []*option{{cost: 3, best: trial{feasible: true}}, {cost: 4, best: trial{feasible: true}}, {cost: 5, best: trial{feasible: true}}}
	bins := []bin{{svcs: []int{0, 1}, cost: 5}, {svcs: []int{1, 2}, cost: 8}, {svcs: []int{0, 1, 2}, cost: 13}}
	opts, used, total := cover(3, alone, bins)
	if total != 10 || len(opts) != 1 || opts[0] != alone[2] || len(used) != 1 || used[0].cost != 5 {
		t.Fatalf("total %v, alone %v, bins %v", total, opts, used)
	}
	// a service that cannot run alone must be covered by a bin: 0 alone + {1,2} = 11 beats all together
	alone[2] = &option{cost: 1, best: trial{feasible: false}}
	_, used, total = cover(3, alone, bins)
	if total != 11 || len(used) != 1 || len(used[0].svcs) != 2 || used[0].svcs[0] != 1 {
		t.Fatalf("total %v, bins %v; want 3 + the {1,2} bin", total, used)
	}
}

func TestPlansAreDeterministic(t *testing.T) {
	w := syntheticWorkload(
		&Service{Name: "a", SLO: plan.SLO{Percentile: 99, LatencyMs: 100}, Profiles: []*profile.Profile{flatProfile("m1", 10, 8)}, Trace: poisson(50, 300, 1)},
		&Service{Name: "b", SLO: plan.SLO{Percentile: 95, LatencyMs: 60}, Profiles: []*profile.Profile{flatProfile("m2", 20, 8)}, Trace: poisson(30, 300, 2)},
	)
	var out [2][]byte
	for i := range out {
		p, err := Plan(context.Background(), w, Options{Common: planner.Common{Now: fixedNow}, NoBaselines: true})
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = p.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("the same workload planned twice gives two plans")
	}
}

// TestScenarioAcceptance is issue 10's acceptance on testdata/cluster: distilbert, bert-base and bert-large on
// three real traces (30 minutes each of Azure code and conversation, Mooncake conversation), sizes truncated at
// 512, SLOs p99 ≤ 50, 150 and 500 ms. The plan must meet every SLO on replay at ≤ 0.6 × the dedicated baseline,
// share a GPU, explain itself, and replay to the same estimate from the written plan.
func TestScenarioAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("plans the whole scenario with its baselines")
	}
	w, err := ReadWorkload(filepath.Join(scenarioDir, "workload.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Plan(context.Background(), w, Options{Common: planner.Common{Now: fixedNow}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Estimate.Services {
		if !s.Met() {
			t.Errorf("%s misses p%g ≤ %g ms: %.2f%% within", s.Name, s.SLO.Percentile, s.SLO.LatencyMs, s.SLOAttainment*100)
		}
	}
	var dedicated *plan.Baseline
	for i := range p.Baselines {
		if p.Baselines[i].Name == BaselineDedicated {
			dedicated = &p.Baselines[i]
		}
	}
	if dedicated == nil {
		t.Fatal("no dedicated baseline")
	}
	ratio := p.Estimate.CostUSD / dedicated.Estimate.CostUSD
	t.Logf("plan $%.2f/h, dedicated $%.2f/h: %.2f×", p.Estimate.CostPerHourUSD, dedicated.Estimate.CostPerHourUSD, ratio)
	if ratio > 0.6 {
		t.Errorf("plan costs %.2f× the dedicated baseline, want ≤ 0.6×", ratio)
	}
	if _, shared := gpuPools(p); shared < 2 {
		t.Error("no GPU is shared")
	}
	if len(p.Baselines) != 4 || len(p.Cluster.Decisions) == 0 || len(p.Cluster.Hardware) == 0 {
		t.Errorf("%d baselines, %d decisions, %d hardware sources", len(p.Baselines), len(p.Cluster.Decisions), len(p.Cluster.Hardware))
	}
	replayWritten(t, p, w)
}

// replayWritten writes the plan, reads it back, replays it over the workload (its schedule and spill rules too)
// and checks the replay gives the plan's own estimate; it returns the written bytes.
func replayWritten(t *testing.T, p *plan.Plan, w *Workload) []byte {
	t.Helper()
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := plan.Parse(data, "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Simulate(back, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(e.CostUSD-p.Estimate.CostUSD) > 1e-9 || e.SLOAttainment != p.Estimate.SLOAttainment ||
		e.LatencyP99Ms != p.Estimate.LatencyP99Ms || e.InstanceHours != p.Estimate.InstanceHours {
		t.Errorf("replay of the written plan %+v differs from the plan's estimate %+v", e, p.Estimate)
	}
	return data
}

// BenchmarkPlanScenario plans the scenario with its baselines (issue 10: ≤ 60 s on 2 cores).
func BenchmarkPlanScenario(b *testing.B) {
	w, err := ReadWorkload(filepath.Join(scenarioDir, "workload.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Plan(context.Background(), w, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
