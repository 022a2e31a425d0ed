// Package cluster plans fleets for several services at once — Paldia's question, and libsmctrl's: which EC2
// instance types and how many, which services share which GPU and how (time-slicing, MPS shares, MIG slices), and
// how each worker batches — for the least cost per hour that meets every service's SLO on its own real traffic.
//
// The search (search.go) is combinatorial over placements and exhaustive over a small grid of each worker's
// batch size and timeout, and every candidate is judged by the exact simulator (package replay), never by an
// estimate alone:
//
//  1. alone: for every service and every way it can run (a GPU to itself, two or four replicas on a GPU under
//     time-slicing or MPS, CPU workers of each measured thread count), the fewest workers whose best knobs meet
//     its SLO, placed on the cheapest instance type that fits;
//  2. shared: for every subset of services that each fit one GPU alone, every split of the cheapest single-GPU
//     type of each GPU model (time-slicing, equal and demand-proportional MPS shares, MIG slices), with a few knob
//     settings per service tried together; and CPU workers of several services packed on one instance;
//  3. cover: the cheapest choice, per service, of alone or one shared instance (dynamic programming over subsets).
//
// With S services, H instance types and a grid of K knob settings, step 1 runs O(S·H·K) simulations per worker
// count tried, step 2 O(2^S·G·M·3^S) for G GPU models and M splits (subsets are capped at three services beyond
// eight services), and step 3 is O(3^S) arithmetic.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/cluster/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/profile"
)

// Options steer the search.
type Options struct {
	planner.Common
	// MaxWorkers bounds the workers one service may get (default 64).
	MaxWorkers int
	// LambdaArch prices the Lambda baseline (default x86_64).
	LambdaArch string
	// NoBaselines skips the baselines (the tests of the search itself).
	NoBaselines bool

	// Autoscale plans a fleet that follows the traffic: per window of WindowS seconds (default 300), instances
	// for a forecast of the window's peak rate (its busiest PeakBinS bin, default 10 s), launched StartupS
	// (default 90; nil for the default, 0 for instances that start at once) before the window, at least
	// MinInstances (default 1) per pool; requests that would wait too long spill to Lambda.
	Autoscale    bool
	WindowS      float64
	StartupS     *float64
	PeakBinS     float64
	MinInstances int
}

// Routing describes the routing rule every cluster plan uses (docs/cluster-plan.md).
const Routing = "each request goes to the workers of its service whose size range holds its size (truncated at the " +
	"service's max_size), round-robin among them in the fleet's order: pool, instance, GPU, worker; CPU workers after the GPUs"

// space holds one search's state: the workload, the hardware, the sharing model and the simulations done.
type space struct {
	w       *Workload
	cat     *catalog
	model   *interference.Model
	opt     Options
	svcs    []replay.Service
	minSize []float64
	sizeP90 []float64
	evals   atomic.Int64
	mu      sync.Mutex
	cache   map[trialKey][]trial
}

func (o *Options) defaults() {
	o.Common.Defaults()
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = 64
	}
	if o.LambdaArch == "" {
		o.LambdaArch = "x86_64"
	}
	if o.WindowS <= 0 {
		o.WindowS = 300
	}
	if o.StartupS == nil {
		ninety := 90.0
		o.StartupS = &ninety
	}
	if o.PeakBinS <= 0 {
		o.PeakBinS = 10
	}
	if o.MinInstances <= 0 {
		o.MinInstances = 1
	}
}

// newPlanner reads the hardware and fits the sharing model for a workload.
func newPlanner(w *Workload, opt Options) (*space, error) {
	opt.defaults()
	model, err := SharingModel(w)
	if err != nil {
		return nil, err
	}
	cat, err := buildCatalog(w, opt.Catalog)
	if err != nil {
		return nil, err
	}
	pl := &space{w: w, cat: cat, model: model, opt: opt, cache: map[trialKey][]trial{}}
	for _, s := range w.Services {
		pl.svcs = append(pl.svcs, replay.Service{Name: s.Name, SLO: s.SLO, Requests: s.Trace.Requests,
			Ranges: batching.Ranges{batching.NoUpperBound}})
	}
	pl.minSize = minSizes(pl.svcs)
	for _, s := range pl.svcs {
		sizes := make([]float64, len(s.Requests))
		for i, q := range s.Requests {
			sizes[i] = q.Size
		}
		slices.Sort(sizes)
		pl.sizeP90 = append(pl.sizeP90, nearestRank(sizes, 90))
	}
	return pl, nil
}

// SharingModel fits the interference model to the workload's co-location profiles (against the solo profile of
// the same model among its services' profiles), or returns the default one fitted to the shared H100 data.
func SharingModel(w *Workload) (*interference.Model, error) {
	var rows []interference.Row
	var names []string
	for _, coloc := range w.Sharing {
		var solo *profile.Profile
		for _, s := range w.Services {
			for _, p := range s.Profiles {
				if p.Model == coloc.Model && solo == nil {
					solo = p
				}
			}
		}
		if solo == nil {
			return nil, fmt.Errorf("sharing: the co-location profile of %s needs a solo profile of the same model among the services' profiles", coloc.Model)
		}
		rs, err := interference.RowsOf(coloc, solo)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		names = append(names, coloc.Model)
	}
	if len(rows) == 0 {
		return interference.Default()
	}
	return interference.Fit(rows, "fitted to the workload's co-location profiles ("+strings.Join(names, ", ")+")")
}

// Plan searches the cheapest fleet that meets every service's SLO, verifies it by replay, and sets it beside its
// baselines.
func Plan(ctx context.Context, w *Workload, opt Options) (*plan.Plan, error) {
	opt.defaults()
	start := opt.Now()
	pl, err := newPlanner(w, opt)
	if err != nil {
		return nil, err
	}
	if err := pl.feasibleAtAll(); err != nil {
		return nil, err
	}
	progress := opt.Progress.Stage("cluster search: services alone, shared GPUs, cover", 1)
	all := restriction{name: "plan", types: func(*itype) bool { return true }, replicas: true, bins: true,
		modes: map[interference.Mode]bool{interference.TimeSlice: true, interference.MPS: true, interference.MIG: true}}
	pools, infeasible, desc, err := pl.search(ctx, all)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(1, 1)
	}
	if opt.Autoscale {
		return pl.planScaled(ctx, start, pools, infeasible)
	}
	if len(infeasible) > 0 {
		return nil, pl.infeasible(infeasible[0])
	}
	p := pl.document(pools)
	res, err := pl.evaluate(pl.fleet(pools, pl.all()))
	if err != nil {
		return nil, err
	}
	p.Estimate = res.Estimate
	pl.attachStats(p, pools, res)
	for _, se := range res.Estimate.Services {
		if !se.Met() {
			p.Warnings = append(p.Warnings, fmt.Sprintf("service %s meets its SLO on its own instances but only %.2f%% of requests within %g ms in the whole fleet",
				se.Name, se.SLOAttainment*100, se.SLO.LatencyMs))
		}
	}
	if !opt.NoBaselines {
		if err := pl.baselines(ctx, p, pools); err != nil {
			return nil, err
		}
	}
	p.Search = &plan.Search{Method: "placement search (services alone; shared GPUs by time-slicing, MPS, MIG; CPU packing; cover by DP) over a batch × timeout grid per worker, every candidate replayed",
		Seed: opt.Seed, Replays: int(pl.evals.Load())}
	p.Search.Seconds = math.Round(opt.Now().Sub(start).Seconds()*100) / 100
	p.Cluster.Decisions = desc
	p.Warnings = append(slices.Clone(pl.cat.warnings), p.Warnings...)
	return p, nil
}

func (pl *space) all() []int {
	out := make([]int, len(pl.w.Services))
	for i := range out {
		out[i] = i
	}
	return out
}

// feasibleAtAll fails early (exit 4, naming the file and field) for a service whose SLO no hardware meets even
// with every request alone at batch one and no waiting.
func (pl *space) feasibleAtAll() error {
	for s, svc := range pl.w.Services {
		floor := math.Inf(1)
		for _, src := range pl.cat.sources[s] {
			usable := false
			for _, t := range pl.cat.types {
				if pl.cat.fits(src, t) {
					usable = true
				}
			}
			if !usable {
				continue
			}
			for _, c := range src.curves {
				floor = math.Min(floor, pl.soloFloor(s, kind{src: src, cv: c}))
			}
		}
		if math.IsInf(floor, 1) {
			return &planner.InfeasibleError{SLO: svc.SLO, Service: svc.Name, File: pl.w.File, Line: svc.line,
				Field: fmt.Sprintf("services[%d].profiles", s), Reason: "no instance type the search may use has a latency profile for it"}
		}
		if floor > svc.SLO.LatencyMs {
			return &planner.InfeasibleError{SLO: svc.SLO, Service: svc.Name, SmallestFeasibleMs: floor, File: pl.w.File,
				Line: svc.sloLine, Field: pl.w.sloField(svc)}
		}
	}
	return nil
}

// infeasible is the error for a service the search could not serve within its SLO.
func (pl *space) infeasible(s int) error {
	svc := pl.w.Services[s]
	floor := math.Inf(1)
	for _, src := range pl.cat.sources[s] {
		for _, c := range src.curves {
			floor = math.Min(floor, pl.soloFloor(s, kind{src: src, cv: c}))
		}
	}
	return &planner.InfeasibleError{SLO: svc.SLO, Service: svc.Name, SmallestFeasibleMs: floor, File: pl.w.File,
		Line: svc.sloLine, Field: pl.w.sloField(svc),
		Reason: fmt.Sprintf("no fleet of up to %d workers meets it on its traffic", pl.opt.MaxWorkers)}
}

// document is the plan without its estimate.
func (pl *space) document(pools []pool) *plan.Plan {
	c := &plan.Cluster{Pools: pl.planPools(pools), Routing: Routing, Hardware: pl.cat.provenance, Skipped: pl.cat.skipped,
		Sharing: &plan.SharingModel{GapMs: pl.model.GapMs, TimeSlice: pl.model.TimeSlice, MPS: pl.model.MPS, Source: pl.model.Source}}
	var models []string
	unit := ""
	requests := 0
	for _, s := range pl.w.Services {
		tr := s.TraceRef
		c.Services = append(c.Services, plan.Service{Name: s.Name, Model: s.Model, SLO: s.SLO, MaxSize: s.MaxSize,
			SizeUnit: s.SizeUnit, Profiles: s.ProfilePaths, Trace: &tr})
		if !slices.Contains(models, s.Model) {
			models = append(models, s.Model)
		}
		if unit == "" {
			unit = s.SizeUnit
		}
		requests += s.Trace.Len()
	}
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformCluster, Model: strings.Join(models, ", "), SizeUnit: unit,
		Cluster: c, Inputs: &plan.Inputs{Workload: pl.w.File, WorkloadSHA256: pl.w.SHA256, Requests: requests,
			SpanS: float64(pl.w.SpanUs) / 1e6}}
}

// attachStats puts a replay's per-worker and per-GPU figures on the plan's pools: summed (requests, batches) or
// averaged (utilisation) over a pool's instances, the worst queue p99 of them.
func (pl *space) attachStats(p *plan.Plan, pools []pool, res *replay.Result) {
	wi, gi := 0, 0
	for pi, po := range pools {
		pp := &p.Cluster.Pools[pi]
		stats := map[[2]int]*plan.WorkerStats{}
		util := make([]float64, len(po.l.gpus))
		for range po.count {
			for g, gl := range po.l.gpus {
				util[g] += res.GPUBusy[gi] / float64(po.count)
				gi++
				for k := range gl.workers {
					addStats(stats, [2]int{g, k}, res.Workers[wi], po.count, pl.w.SpanUs)
					wi++
				}
			}
			for k := range po.l.cpu {
				addStats(stats, [2]int{-1, k}, res.Workers[wi], po.count, pl.w.SpanUs)
				wi++
			}
		}
		for g := range pp.GPUs {
			u := math.Round(util[g]*1e4) / 1e4
			pp.GPUs[g].Utilisation = &u
			for k := range pp.GPUs[g].Workers {
				pp.GPUs[g].Workers[k].Stats = finish(stats[[2]int{g, k}])
			}
		}
		for k := range pp.CPUWorkers {
			pp.CPUWorkers[k].Stats = finish(stats[[2]int{-1, k}])
		}
	}
}

func addStats(m map[[2]int]*plan.WorkerStats, k [2]int, w replay.WorkerStats, count int, spanUs int64) {
	st := m[k]
	if st == nil {
		st = &plan.WorkerStats{}
		m[k] = st
	}
	st.Requests += w.Requests
	st.Batches += w.Batches
	if spanUs > 0 {
		st.Utilisation += w.BusyUs / float64(spanUs) / float64(count)
	}
	st.QueueP99Ms = math.Max(st.QueueP99Ms, w.QueueP99Ms)
}

func finish(st *plan.WorkerStats) *plan.WorkerStats {
	if st == nil {
		return nil
	}
	if st.Batches > 0 {
		st.MeanBatch = math.Round(float64(st.Requests)/float64(st.Batches)*1000) / 1000
	}
	st.Utilisation = math.Round(st.Utilisation*1e4) / 1e4
	return st
}

// Simulate replays a cluster plan over its workload's traces with the workload's profiles (what `simulate`
// does): the estimate, and the plan with per-worker statistics of this replay.
func Simulate(p *plan.Plan, w *Workload, opt Options) (*plan.Estimate, error) {
	res, err := Replay(p, w, opt)
	if err != nil {
		return nil, err
	}
	return &res.Estimate, nil
}

// Replay is Simulate's whole result: the estimate, and each worker's figures in the fleet's order
// (docs/cluster-plan.md §3.1; package fleet lays a plan out in the same order).
func Replay(p *plan.Plan, w *Workload, opt Options) (*replay.Result, error) {
	opt.defaults()
	pl, err := newPlanner(w, opt)
	if err != nil {
		return nil, err
	}
	f, err := pl.resolve(p)
	if err != nil {
		return nil, err
	}
	return replay.Run(f, replay.Options{})
}

// ErrNotCluster is returned for a plan of another platform.
var ErrNotCluster = errors.New("not a cluster plan")

// planScaled plans the fleet that follows the traffic, with the static plan (pools; infeasible lists the services
// no static fleet serves) as its static-peak baseline.
func (pl *space) planScaled(ctx context.Context, start time.Time, static []pool, infeasible []int) (*plan.Plan, error) {
	p, sctx, err := pl.scaledPlan(ctx)
	if err != nil {
		return nil, err
	}
	if !pl.opt.NoBaselines {
		if len(infeasible) > 0 {
			static = nil
		}
		if err := pl.scaledBaselines(ctx, p, static, infeasible, sctx); err != nil {
			return nil, err
		}
	}
	p.Search = &plan.Search{Method: fmt.Sprintf("scaled pools: per service, layouts × forecast methods (chosen by backtest) × headrooms × spill thresholds, every candidate replayed with %s windows and a %s start-up",
		durationWords(pl.opt.WindowS), durationWords(*pl.opt.StartupS)), Seed: pl.opt.Seed, Replays: int(pl.evals.Load())}
	p.Search.Seconds = math.Round(pl.opt.Now().Sub(start).Seconds()*100) / 100
	p.Warnings = append(slices.Clone(pl.cat.warnings), p.Warnings...)
	return p, nil
}
