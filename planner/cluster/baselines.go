package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda"
	lreplay "github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/quantile"
)

// Baseline names (fixed: other tools read them).
const (
	BaselineDedicated     = "dedicated"
	BaselineTimeSliceOnly = "time-slice-only"
	BaselineCPUOnly       = "cpu-only"
	BaselineLambda        = "lambda"
)

// baselines searches and replays the plan's baselines the same way as the plan:
//   - dedicated: every service on the cheapest instance type able to serve it alone, as many as it needs, one
//     worker per GPU (or CPU workers), nothing shared;
//   - time-slice-only: the plan's instance types, GPUs shared by time-slicing only;
//   - cpu-only: CPU instance types only (services may share an instance's vCPUs);
//   - lambda: every service on AWS Lambda as the Lambda planner plans it, from a Lambda profile or one emulated
//     from CPU measurements.
func (pl *space) baselines(ctx context.Context, p *plan.Plan, pools []pool) error {
	used := map[string]bool{}
	for _, po := range pools {
		used[po.l.t.name] = true
	}
	for _, r := range []restriction{
		{name: BaselineDedicated, types: func(*itype) bool { return true }, modes: map[interference.Mode]bool{}},
		{name: BaselineTimeSliceOnly, types: func(t *itype) bool { return used[t.name] }, replicas: true, bins: true,
			modes: map[interference.Mode]bool{interference.TimeSlice: true}},
		{name: BaselineCPUOnly, types: func(t *itype) bool { return t.gpu == "" }, bins: true, modes: map[interference.Mode]bool{}},
	} {
		b, err := pl.fleetBaseline(ctx, r)
		if err != nil {
			return err
		}
		p.Baselines = append(p.Baselines, b)
	}
	b, err := pl.lambdaBaseline(ctx)
	if err != nil {
		return err
	}
	p.Baselines = append(p.Baselines, b)
	return nil
}

func (pl *space) fleetBaseline(ctx context.Context, r restriction) (plan.Baseline, error) {
	b := plan.Baseline{Name: r.name}
	pools, infeasible, _, err := pl.search(ctx, r)
	if err != nil {
		return b, err
	}
	if len(pools) == 0 {
		var names []string
		for _, s := range infeasible {
			names = append(names, pl.w.Services[s].Name)
		}
		b.Note = fmt.Sprintf("no instance type it may use can run %s", strings.Join(names, ", "))
		return b, nil
	}
	res, err := pl.evaluate(pl.fleet(pools, pl.all()))
	if err != nil {
		return b, err
	}
	b.Estimate, b.Pools = res.Estimate, pl.planPools(pools)
	var missed []string
	for _, se := range res.Estimate.Services {
		if !se.Met() {
			missed = append(missed, se.Name)
		}
	}
	if len(missed) > 0 {
		b.Note = fmt.Sprintf("%s cannot meet %s SLO this way; the fleet shown comes closest", strings.Join(missed, ", "),
			map[bool]string{true: "its", false: "their"}[len(missed) == 1])
	}
	return b, nil
}

// lambdaBaseline plans every service on Lambda with the Lambda planner and replays the plans together.
func (pl *space) lambdaBaseline(ctx context.Context) (plan.Baseline, error) {
	b := plan.Baseline{Name: BaselineLambda}
	var all []float64
	var notes []string
	met, requests := 0, 0
	var pad, sizes float64
	for s, svc := range pl.w.Services {
		prof, how := pl.lambdaProfile(s)
		if prof == nil {
			notes = append(notes, fmt.Sprintf("%s has no Lambda or CPU measurements", svc.Name))
			continue
		}
		lp, err := lambda.Plan(ctx, lambda.Input{Profile: prof, Trace: svc.Trace}, lambda.Options{
			Common: planner.Common{Catalog: pl.opt.Catalog, Seed: pl.opt.Seed, Now: pl.opt.Now},
			SLO:    svc.SLO, Arch: pl.opt.LambdaArch, RefineBudget: -1, MaxClasses: 16})
		var inf *planner.InfeasibleError
		if errors.As(err, &inf) {
			notes = append(notes, fmt.Sprintf("%s: %v", svc.Name, inf))
			continue
		}
		if err != nil {
			return b, fmt.Errorf("lambda baseline, service %s: %w", svc.Name, err)
		}
		tg, err := lreplay.Resolve(lp, latency.NewTable(prof))
		if err != nil {
			return b, err
		}
		res, err := lreplay.Run(tg, svc.Trace, lreplay.Options{KeepLatencies: true})
		if err != nil {
			return b, err
		}
		e := res.Estimate
		b.Lambda = append(b.Lambda, plan.LambdaService{Service: svc.Name, Arch: lp.Lambda.Arch, Buffers: plan.Strip(lp.Lambda.Buffers)})
		ps := quantile.Select(slices.Clone(res.Latencies), 50, 95, 99)
		b.Estimate.Services = append(b.Estimate.Services, plan.ServiceEstimate{Name: svc.Name, Requests: e.Requests, SLO: svc.SLO,
			SLOAttainment: e.SLOAttainment, LatencyP50Ms: ps[0], LatencyP95Ms: ps[1], LatencyP99Ms: ps[2],
			PaddingRatio: e.PaddingRatio, MeanBatch: float64(e.Requests) / math.Max(e.Invocations, 1), CostUSD: e.CostUSD})
		if how != "" {
			notes = append(notes, svc.Name+": "+how)
		}
		all = append(all, res.Latencies...)
		met += int(math.Round(e.SLOAttainment * float64(e.Requests)))
		requests += e.Requests
		b.Estimate.CostUSD += e.CostUSD
		b.Estimate.Invocations += e.Invocations
		pad += e.PaddingRatio * sumSizes(svc)
		sizes += sumSizes(svc)
	}
	e := &b.Estimate
	e.Method, e.Requests = "replay", requests
	if requests > 0 {
		e.CostPerMillionUSD = e.CostUSD / float64(requests) * 1e6
		e.SLOAttainment = float64(met) / float64(requests)
		ps := quantile.Select(all, 50, 95, 99)
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = ps[0], ps[1], ps[2]
		e.PaddingRatio = pad / sizes
	}
	if pl.w.SpanUs > 0 {
		e.CostPerHourUSD = math.Round(e.CostUSD/(float64(pl.w.SpanUs)/3.6e9)*1e6) / 1e6
	}
	b.Note = strings.Join(notes, "; ")
	return b, nil
}

func sumSizes(s *Service) float64 {
	t := 0.0
	for _, q := range s.Trace.Requests {
		t += q.Size
	}
	return t
}

// lambdaProfile is the profile the Lambda planner gets for service s: one of its own with Lambda or CPU
// measurements (CPU ones are emulated as Lambda by vCPU share), or one made from derived CPU curves; the second
// result says how it was derived, if it was.
func (pl *space) lambdaProfile(s int) (*profile.Profile, string) {
	svc := pl.w.Services[s]
	for _, p := range svc.Profiles {
		if _, src := latency.NewTable(p).Lambda(pl.opt.LambdaArch); src != latency.NoLambda {
			return p, ""
		}
	}
	hws := make([]string, 0)
	for hw, src := range pl.cat.sources[s] {
		if src.platform == profile.CPU && src.derived {
			hws = append(hws, hw)
		}
	}
	slices.Sort(hws)
	for _, hw := range hws {
		src := pl.cat.sources[s][hw]
		p := &profile.Profile{Version: profile.Version, Model: svc.Model, SizeUnit: svc.SizeUnit,
			Source: "derived: " + src.note}
		for _, c := range src.curves {
			for _, pt := range latency.CurvePoints(c.c.c) {
				p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.CPU, Hardware: hw,
					VCPUs: c.threads, Batch: pt.N, Size: pt.Size, LatencyMs: pt.LatencyMs * c.c.ratio})
			}
		}
		if len(p.Measurements) > 0 {
			return p, "Lambda emulated from derived CPU latencies (" + src.note + ")"
		}
	}
	return nil, ""
}
