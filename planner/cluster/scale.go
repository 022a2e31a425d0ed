package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/forecast"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/cluster/replay"
	"github.com/inferplan/inferplan/planner/lambda"
	lreplay "github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// Scaled-plan baseline names (fixed: other tools read them).
const (
	BaselineStaticPeak          = "static-peak"
	BaselineStaticMeanWithSpill = "static-mean-with-spill"
	BaselineLambdaOnly          = "lambda-only"
	BaselineReactive            = "reactive"
)

// headrooms and spill fractions (of the SLO) the scaled search tries.
var (
	headrooms      = []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6}
	spillFractions = []float64{0.1, 0.25, 0.5}
)

// windows is the time grid of a scaled plan.
type windows struct {
	w, startup, bin int64 // µs
	n               int   // windows over the span
}

func (pl *space) windows() windows {
	o := pl.opt
	w := windows{w: int64(o.WindowS * 1e6), startup: int64(*o.StartupS * 1e6), bin: int64(o.PeakBinS * 1e6)}
	w.n = max(int((pl.w.SpanUs+w.w-1)/w.w), 1)
	return w
}

// binCounts counts a service's arrivals per bin.
func (wd windows) binCounts(reqs []trace.Request) []int {
	n := int(int64(wd.n)*wd.w/wd.bin) + 1
	c := make([]int, n)
	for _, q := range reqs {
		c[min(int(q.At/wd.bin), n-1)]++
	}
	return c
}

// peak is the busiest complete bin in [from, to), requests per second (0 when there is none).
func (wd windows) peak(bins []int, from, to int64) float64 {
	m := 0
	for b := from / wd.bin; (b+1)*wd.bin <= to && int(b) < len(bins); b++ {
		m = max(m, bins[b])
	}
	return float64(m) / (float64(wd.bin) / 1e6)
}

// series is every window's peak rate.
func (wd windows) series(bins []int) []float64 {
	out := make([]float64, wd.n)
	for j := range out {
		out[j] = wd.peak(bins, int64(j)*wd.w, int64(j+1)*wd.w)
	}
	return out
}

// history is what is known when window j's instances must be launched, startup before it starts: the peaks of
// the earlier windows, the last ones cut where the decision is taken.
func (wd windows) history(bins []int, j int) []float64 {
	decide := int64(j)*wd.w - wd.startup
	var out []float64
	for i := 0; i < j && int64(i)*wd.w < decide; i++ {
		out = append(out, wd.peak(bins, int64(i)*wd.w, min(int64(i+1)*wd.w, decide)))
	}
	return out
}

// scaledPool is one service's pool that follows its forecast.
type scaledPool struct {
	svc      int
	l        layout // one instance
	capacity float64
	method   forecast.Method
	headroom float64
	spill    float64 // threshold ms; 0: no spill
	counts   []int
	forecast []float64
}

// counts turns forecasts into instances per window: ceil(headroom × forecast / capacity), at least min and at
// most max; a window without history (the first) is provisioned for the trace's mean rate.
func (wd windows) counts(bins []int, m forecast.Method, headroom, capacity, mean float64, lo, hi int) ([]int, []float64) {
	counts := make([]int, wd.n)
	fc := make([]float64, wd.n)
	for j := range counts {
		f := math.NaN()
		if h := wd.history(bins, j); len(h) > 0 {
			f = m.Forecast(h)
		}
		if math.IsNaN(f) {
			f = mean
		}
		fc[j] = f
		counts[j] = min(max(int(math.Ceil(headroom*f/capacity-1e-9)), lo), hi)
	}
	return counts, fc
}

// instances turns a pool's counts into instance lifetimes: those the first window needs are up from the start;
// more are launched startup before the window that needs them; the latest launched stop first, when the last
// window that needs them ends.
func (wd windows) instances(counts []int, usd float64) []replay.Instance {
	var out []replay.Instance
	var running []int // indexes into out
	for j, c := range counts {
		at := int64(j) * wd.w
		for len(running) > c {
			out[running[len(running)-1]].Stop = at
			running = running[:len(running)-1]
		}
		for len(running) < c {
			in := replay.Instance{USDPerHour: usd, Stop: math.MaxInt64}
			if j > 0 {
				in.Launch = max(at-wd.startup, 0)
				in.Ready = in.Launch + wd.startup
			}
			out = append(out, in)
			running = append(running, len(out)-1)
		}
	}
	return out
}

// scaledFleet is the simulator's fleet for scaled pools of one or more services (workload indexes), with the
// spill rules given (nil: none).
func (pl *space) scaledFleet(pools []scaledPool, spill map[int]*replay.Spill) *replay.Fleet {
	wd := pl.windows()
	f := &replay.Fleet{Model: pl.model, SpanUs: pl.w.SpanUs}
	idx := map[int]int{}
	for _, p := range pools {
		if _, ok := idx[p.svc]; !ok {
			idx[p.svc] = len(f.Services)
			s := pl.svcs[p.svc]
			s.Spill = spill[p.svc]
			f.Services = append(f.Services, s)
		}
	}
	for _, p := range pools {
		for _, in := range wd.instances(p.counts, p.l.t.usd) {
			f.Instances = append(f.Instances, in)
			id := len(f.Instances)
			for _, g := range p.l.gpus {
				for _, w := range g.workers {
					rw := pl.replayWorker(w, idx[w.svc], f.GPUs, g.mode)
					rw.Instance = id
					f.Workers = append(f.Workers, rw)
				}
				f.GPUs++
			}
			for _, w := range p.l.cpu {
				rw := pl.replayWorker(w, idx[w.svc], -1, interference.Exclusive)
				rw.Instance = id
				f.Workers = append(f.Workers, rw)
			}
		}
	}
	return f
}

// capacity is the rate one instance of a layout is counted for: each worker's batch over its latency at the
// service's 90th-percentile size, GPU replicas slowed as the sharing model says when all are busy.
func (pl *space) capacity(s int, l layout) float64 {
	size := pl.sizeP90[s]
	rps := 0.0
	for _, g := range l.gpus {
		share := 0.0
		for _, w := range g.workers {
			share += w.k.share
		}
		for _, w := range g.workers {
			solo := w.k.cv.c.At(w.kn.batch, size)
			lat := pl.model.Latency(g.mode, solo, interference.Work(w.k.src.slope, w.kn.batch, size, solo), w.k.share, len(g.workers), share)
			rps += float64(w.kn.batch) / lat * 1000
		}
	}
	for _, w := range l.cpu {
		rps += float64(w.kn.batch) / w.k.cv.c.At(w.kn.batch, size) * 1000
	}
	return rps
}

// instanceLayouts are the one-instance layouts a scaled pool of service s may use: every kind that met its SLO
// alone, on up to three of the cheapest types that fit it (at most two GPUs each: scaling needs small steps),
// filled with as many workers as fit, with a few knob settings.
func (pl *space) instanceLayouts(s int, all []*option) []layout {
	var out []layout
	for _, o := range all {
		types := pl.typesFor(o.k, restriction{types: func(t *itype) bool { return t.gpus <= 2 }})
		for _, t := range types[:min(len(types), 3)] {
			for _, tr := range diverse(o.cands) {
				w := worker{s, o.k, tr.kn}
				l := layout{t: t}
				if o.k.gpu() {
					for range t.gpus {
						g := gpuLayout{mode: o.k.mode}
						for range max(o.k.perGPU, 1) {
							g.workers = append(g.workers, w)
						}
						l.gpus = append(l.gpus, g)
					}
				} else {
					for range int(math.Floor(float64(t.vcpus) / o.k.vcpus())) {
						l.cpu = append(l.cpu, w)
					}
				}
				out = append(out, l)
			}
		}
	}
	return out
}

// scaleTrial is one evaluated scaled pool.
type scaleTrial struct {
	p        scaledPool
	est      plan.ServiceEstimate
	cost     float64 // instances + Lambda, over the span
	feasible bool
}

func (a scaleTrial) better(b scaleTrial) bool {
	switch {
	case a.feasible != b.feasible:
		return a.feasible
	case a.feasible:
		return a.cost < b.cost-1e-9 || math.Abs(a.cost-b.cost) <= 1e-9 && a.est.Spilled < b.est.Spilled
	}
	return a.est.SLOAttainment > b.est.SLOAttainment
}

// scaleSearch finds the cheapest scaled pool for service s over its one-instance layouts, every candidate replayed
// with its spill-over (none, or a threshold at a fraction of the SLO when it can spill):
//
//  1. constant fleets of every size up to three times the peak rate's need: the cheapest that meets the SLO,
//     N*, also caps the scaled fleets (a pool's maximum, as an autoscaler's limit);
//  2. scaled fleets: for every forecast method given and headroom, ceil(headroom × forecast / capacity)
//     instances per window, at least MinInstances and at most N* (or N* + 1; no cap when no constant fleet meets
//     the SLO).
//
// fixed, when set, replaces both with its constant count (the static-mean baseline); constant keeps the constant
// fleets among the candidates (a fleet that need not move is a schedule as well).
func (pl *space) scaleSearch(ctx context.Context, s int, layouts []layout, methods []forecast.Method, hs []float64, spill *replay.Spill, fixed func(capacity float64) int, constant bool) (scaleTrial, error) {
	wd := pl.windows()
	svc := pl.w.Services[s]
	bins := wd.binCounts(svc.Trace.Requests)
	mean := float64(svc.Trace.Len()) / math.Max(float64(pl.w.SpanUs)/1e6, 1)
	peak := slices.Max(wd.series(bins))
	thresholds := []float64{0}
	if spill != nil {
		for _, f := range spillFractions {
			thresholds = append(thresholds, math.Round(svc.SLO.LatencyMs*f*10)/10)
		}
	}
	run := func(cands []scaledPool) ([]scaleTrial, error) {
		trials := make([]scaleTrial, len(cands))
		var firstErr error
		err := parallel(ctx, len(cands), func(i int) {
			c := cands[i]
			var sp map[int]*replay.Spill
			if c.spill > 0 {
				sp = map[int]*replay.Spill{s: {ThresholdMs: c.spill, Lambda: spill.Lambda}}
			}
			res, err := pl.evaluate(pl.scaledFleet([]scaledPool{c}, sp))
			if err != nil {
				firstErr = err
				return
			}
			se := res.Estimate.Services[0]
			trials[i] = scaleTrial{p: c, est: se, cost: res.Estimate.CostUSD, feasible: se.Met()}
		})
		if err == nil {
			err = firstErr
		}
		return trials, err
	}
	constantPools := func(l layout, capRPS float64, from, to int) []scaledPool {
		var out []scaledPool
		for n := from; n <= to; n++ {
			counts := make([]int, wd.n)
			for j := range counts {
				counts[j] = n
			}
			for _, thr := range thresholds {
				out = append(out, scaledPool{svc: s, l: l, capacity: capRPS, headroom: 1, spill: thr, counts: counts})
			}
		}
		return out
	}
	var all []scaleTrial
	for _, l := range layouts {
		capRPS := pl.capacity(s, l)
		if !(capRPS > 0) {
			continue
		}
		limit := max(ceilDiv(pl.opt.MaxWorkers, len(l.cpu)+workersOnGPUs(l)), pl.opt.MinInstances)
		if fixed != nil {
			n := min(max(fixed(capRPS), pl.opt.MinInstances), limit)
			ts, err := run(constantPools(l, capRPS, n, n))
			if err != nil {
				return scaleTrial{}, err
			}
			all = append(all, ts...)
			continue
		}
		consts, err := run(constantPools(l, capRPS, pl.opt.MinInstances, min(limit, max(int(math.Ceil(3*peak/capRPS)), pl.opt.MinInstances))))
		if err != nil {
			return scaleTrial{}, err
		}
		caps := []int{limit}
		best := -1
		for i, t := range consts {
			if t.feasible && (best < 0 || t.better(consts[best])) {
				best = i
			}
		}
		if best >= 0 {
			n := consts[best].p.counts[0]
			caps = []int{n, min(n+1, limit)}
		}
		if constant {
			all = append(all, consts...)
		}
		var cands []scaledPool
		for _, m := range methods {
			for _, h := range hs {
				for ci, hi := range caps {
					if ci > 0 && hi == caps[ci-1] {
						continue
					}
					counts, fc := wd.counts(bins, m, h, capRPS, mean, pl.opt.MinInstances, hi)
					for _, thr := range thresholds {
						cands = append(cands, scaledPool{svc: s, l: l, capacity: capRPS, method: m, headroom: h, spill: thr, counts: counts, forecast: fc})
					}
				}
			}
		}
		ts, err := run(cands)
		if err != nil {
			return scaleTrial{}, err
		}
		all = append(all, ts...)
	}
	if len(all) == 0 {
		return scaleTrial{}, fmt.Errorf("service %s: no instance layout to scale", svc.Name)
	}
	best := 0
	for i := range all {
		if all[i].better(all[best]) {
			best = i
		}
	}
	return all[best], nil
}

func workersOnGPUs(l layout) int {
	n := 0
	for _, g := range l.gpus {
		n += len(g.workers)
	}
	return n
}

// spillTarget is a Lambda target for service s's spilled requests: the Lambda planner's buffers for tr (the
// whole trace while searching, the spilled requests for the final plan). nil when Lambda cannot serve it within
// its SLO or it has no profile Lambda can be emulated from.
func (pl *space) spillTarget(ctx context.Context, s int, tr *trace.Trace) (*replay.Spill, *plan.Plan, error) {
	prof, _ := pl.lambdaProfile(s)
	if prof == nil || tr.Len() == 0 {
		return nil, nil, nil
	}
	lp, err := lambda.Plan(ctx, lambda.Input{Profile: prof, Trace: tr}, lambda.Options{
		Common: planner.Common{Catalog: pl.opt.Catalog, Seed: pl.opt.Seed, Now: pl.opt.Now},
		SLO:    pl.w.Services[s].SLO, Arch: pl.opt.LambdaArch, RefineBudget: -1, MaxClasses: 16})
	var inf *planner.InfeasibleError
	if errors.As(err, &inf) {
		// Lambda cannot meet the SLO for this traffic: spilled requests go alone to the fastest memory and may
		// miss it, which the SLO's tail allows for a few
		return pl.fastestLambda(prof, tr)
	}
	if err != nil {
		return nil, nil, err
	}
	tg, err := lreplay.Resolve(lp, latency.NewTable(prof))
	if err != nil {
		return nil, nil, err
	}
	return &replay.Spill{Lambda: tg}, lp, nil
}

// scaleContext is what the scaled search found about one service, for the baselines to reuse.
type scaleContext struct {
	layouts []layout
	spill   *replay.Spill // a Lambda target for its spilled requests (nil: it cannot spill)
}

// scaledPlan searches the scaled plan: per service its own pool, following its forecast, spilling to Lambda.
func (pl *space) scaledPlan(ctx context.Context) (*plan.Plan, []scaleContext, error) {
	wd := pl.windows()
	all := restriction{name: "plan", types: func(*itype) bool { return true }, replicas: true,
		modes: map[interference.Mode]bool{interference.TimeSlice: true, interference.MPS: true}}
	var chosen []scaleTrial
	var fcs []*plan.Forecasting
	spills := map[int]*replay.Spill{}
	var decisions []string
	var sctx []scaleContext
	for s, svc := range pl.w.Services {
		_, opts, err := pl.standalone(ctx, s, all)
		if err != nil {
			return nil, nil, err
		}
		layouts := pl.instanceLayouts(s, opts)
		if len(layouts) == 0 {
			return nil, nil, pl.infeasible(s)
		}
		sp, _, err := pl.spillTarget(ctx, s, svc.Trace)
		if err != nil {
			return nil, nil, err
		}
		sctx = append(sctx, scaleContext{layouts, sp})
		bins := wd.binCounts(svc.Trace.Requests)
		series := wd.series(bins)
		methods, backtests := pl.methods(series)
		t, err := pl.scaleSearch(ctx, s, layouts, methods, headrooms, sp, nil, true)
		if err != nil {
			return nil, nil, err
		}
		if !t.feasible {
			return nil, nil, pl.infeasible(s)
		}
		if t.p.spill > 0 {
			if spills[s], err = pl.finalSpill(ctx, t.p, sp); err != nil {
				return nil, nil, err
			}
		}
		chosen = append(chosen, t)
		fc := &plan.Forecasting{Method: "constant", Headroom: t.p.headroom, CapacityRPS: round3(t.p.capacity)}
		if t.p.method != nil {
			fc.Method = t.p.method.Name()
		}
		for _, b := range backtests {
			fc.Backtest = append(fc.Backtest, plan.Backtest{Method: b.Method, MAPE: b.MAPE, UnderShare: b.UnderShare, Steps: b.Steps})
		}
		// the chosen method's backtest first
		slices.SortStableFunc(fc.Backtest, func(a, b plan.Backtest) int {
			return cmp.Compare(boolRank(a.Method != fc.Method), boolRank(b.Method != fc.Method))
		})
		fcs = append(fcs, fc)
		decisions = append(decisions, pl.explainScaled(t))
	}
	pools := make([]scaledPool, len(chosen))
	for i, t := range chosen {
		pools[i] = t.p
	}
	res, err := pl.evaluate(pl.scaledFleet(pools, spills))
	if err != nil {
		return nil, nil, err
	}
	p := pl.document(nil)
	c := p.Cluster
	c.Decisions = decisions
	for i, t := range chosen {
		pp := pl.planPools([]pool{{t.p.l, slices.Max(t.p.counts)}})[0]
		pp.MinCount = slices.Min(t.p.counts)
		c.Pools = append(c.Pools, pp)
		c.Services[t.p.svc].Forecast = fcs[i]
		if sp := spills[t.p.svc]; sp != nil {
			c.Services[t.p.svc].Spill = &plan.SpillRule{ThresholdMs: t.p.spill, Arch: pl.opt.LambdaArch, Buffers: plan.Strip(sp.Lambda.Buffers)}
		}
	}
	c.Schedule = pl.schedule(pools, res)
	pl.attachScaledStats(p, pools, res)
	p.Estimate = res.Estimate
	return p, sctx, nil
}

// attachScaledStats puts a scaled replay's per-worker and per-GPU figures on the plan's pools, as attachStats
// does for static ones, except that busy shares are of the time the pool's instances were serving (ready to
// stopped), not of the span: an instance that ran for one window is not counted idle for the rest.
func (pl *space) attachScaledStats(p *plan.Plan, pools []scaledPool, res *replay.Result) {
	wd := pl.windows()
	wi, gi := 0, 0
	for pi, po := range pools {
		pp := &p.Cluster.Pools[pi]
		stats := map[[2]int]*plan.WorkerStats{}
		busy := make([]float64, len(po.l.gpus))
		var serving float64 // µs, summed over the pool's instances
		for _, in := range wd.instances(po.counts, po.l.t.usd) {
			serving += float64(max(min(in.Stop, pl.w.SpanUs)-in.Ready, 0))
			for g, gl := range po.l.gpus {
				busy[g] += res.GPUBusy[gi] * float64(pl.w.SpanUs)
				gi++
				for k := range gl.workers {
					addStats(stats, [2]int{g, k}, res.Workers[wi], 1, 0)
					stats[[2]int{g, k}].Utilisation += res.Workers[wi].BusyUs
					wi++
				}
			}
			for k := range po.l.cpu {
				addStats(stats, [2]int{-1, k}, res.Workers[wi], 1, 0)
				stats[[2]int{-1, k}].Utilisation += res.Workers[wi].BusyUs
				wi++
			}
		}
		share := func(us float64) float64 {
			if serving <= 0 {
				return 0
			}
			return us / serving
		}
		for g := range pp.GPUs {
			u := math.Round(share(busy[g])*1e4) / 1e4
			pp.GPUs[g].Utilisation = &u
			for k := range pp.GPUs[g].Workers {
				st := stats[[2]int{g, k}]
				st.Utilisation = share(st.Utilisation)
				pp.GPUs[g].Workers[k].Stats = finish(st)
			}
		}
		for k := range pp.CPUWorkers {
			st := stats[[2]int{-1, k}]
			st.Utilisation = share(st.Utilisation)
			pp.CPUWorkers[k].Stats = finish(st)
		}
	}
}

// finalSpill is a scaled pool's spill rule with the Lambda planner's buffers for the traffic that actually
// spilled (the search costed it with buffers planned for the whole trace). The threshold alone decides what
// spills, so the spilled set does not change with the buffers.
func (pl *space) finalSpill(ctx context.Context, p scaledPool, search *replay.Spill) (*replay.Spill, error) {
	res, err := pl.evaluate(pl.scaledFleet([]scaledPool{p}, map[int]*replay.Spill{p.svc: {ThresholdMs: p.spill, Lambda: search.Lambda}}))
	if err != nil {
		return nil, err
	}
	sp, _, err := pl.spillTarget(ctx, p.svc, &trace.Trace{Requests: res.Spilled[0]})
	if err != nil {
		return nil, err
	}
	if sp == nil {
		sp = search // the spilled requests alone cannot be planned within the SLO: keep the whole trace's buffers
	}
	return &replay.Spill{ThresholdMs: p.spill, Lambda: sp.Lambda}, nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// methods are the forecasting methods the scaled search tries for a series, best by backtest first: the best of
// each family — Holt (or Holt–Winters), the exponentially weighted quantile, the recent maximum — and the last
// value. It returns each family's best backtest and the last value's.
func (pl *space) methods(series []float64) ([]forecast.Method, []forecast.Backtest) {
	season := 0
	if day := int(86400 / pl.opt.WindowS); len(series) >= 2*day {
		season = day
	}
	cands := forecast.Candidates(season)
	best, _, all := forecast.Select(series, cands, 2)
	family := func(m forecast.Method) string { return strings.SplitN(m.Name(), "(", 2)[0] }
	bestOf := map[string]int{}
	var order []string
	for i, m := range cands {
		f := family(m)
		j, seen := bestOf[f]
		if !seen {
			order = append(order, f)
		}
		if !seen || all[i].MAPE < all[j].MAPE {
			bestOf[f] = i
		}
	}
	out := []forecast.Method{best}
	var backtests []forecast.Backtest
	for _, f := range order {
		i := bestOf[f]
		backtests = append(backtests, all[i])
		if cands[i].Name() != best.Name() {
			out = append(out, cands[i])
		}
	}
	out = append(out, forecast.Last{})
	return out, append(backtests, forecast.Run(forecast.Last{}, series, 2))
}

// schedule is the plan's per-window record: instances of each pool, and per service its traffic, forecast,
// capacity and spilled requests.
func (pl *space) schedule(pools []scaledPool, res *replay.Result) *plan.Schedule {
	wd := pl.windows()
	sc := &plan.Schedule{WindowS: pl.opt.WindowS, StartupS: *pl.opt.StartupS, PeakBinS: pl.opt.PeakBinS}
	for j := range wd.n {
		from, to := int64(j)*wd.w, int64(j+1)*wd.w
		win := plan.ScheduleWindow{StartS: float64(from) / 1e6, EndS: math.Min(float64(to), float64(pl.w.SpanUs)) / 1e6}
		for _, p := range pools {
			win.Counts = append(win.Counts, p.counts[j])
		}
		for pi, p := range pools {
			svc := pl.w.Services[p.svc]
			bins := wd.binCounts(svc.Trace.Requests)
			ws := plan.WindowService{Name: svc.Name, PeakRPS: round3(wd.peak(bins, from, to)), CapacityRPS: round3(float64(p.counts[j]) * p.capacity)}
			if p.forecast != nil {
				ws.ForecastRPS = round3(p.forecast[j])
			}
			for _, q := range svc.Trace.Requests {
				if q.At >= from && q.At < to {
					ws.Requests++
				}
			}
			for _, q := range res.Spilled[pi] {
				if q.At >= from && q.At < to {
					ws.Spilled++
				}
			}
			win.Services = append(win.Services, ws)
		}
		sc.Windows = append(sc.Windows, win)
	}
	return sc
}

// explainScaled says how a service's pool follows its traffic.
func (pl *space) explainScaled(t scaleTrial) string {
	svc := pl.w.Services[t.p.svc]
	n := fmt.Sprintf("%d to %d instances", slices.Min(t.p.counts), slices.Max(t.p.counts))
	if slices.Min(t.p.counts) == slices.Max(t.p.counts) {
		n = fmt.Sprintf("%d instance%s throughout", t.p.counts[0], plural(t.p.counts[0]))
	}
	what := fmt.Sprintf("%s on %s, %s (each counted for %.1f requests/s)", svc.Name, t.p.l.t.name, n, t.p.capacity)
	how := fmt.Sprintf("a constant fleet (no forecast-driven schedule with a %s start-up was cheaper within the SLO)", durationWords(*pl.opt.StartupS))
	if slices.Max(t.p.counts) <= pl.opt.MinInstances {
		how = "the minimum fleet carries all of its traffic"
	}
	if t.p.method != nil {
		how = fmt.Sprintf("provisioned %s before each %s window for %s × the %s forecast of its peak rate", durationWords(*pl.opt.StartupS),
			durationWords(pl.opt.WindowS), trimFloat(t.p.headroom), t.p.method.Name())
	}
	spill := "nothing spills to Lambda"
	if t.p.spill > 0 {
		spill = fmt.Sprintf("a request that would wait more than %g ms for its worker goes to Lambda (%d did, %.1f%%)",
			t.p.spill, t.est.Spilled, float64(t.est.Spilled)/float64(max(t.est.Requests, 1))*100)
	}
	return fmt.Sprintf("%s: %s; %s — the cheapest scaled pool that meets p%g ≤ %g ms (%.2f%% within)", what, how, spill,
		svc.SLO.Percentile, svc.SLO.LatencyMs, t.est.SLOAttainment*100)
}

func durationWords(s float64) string {
	switch {
	case s >= 60 && math.Mod(s, 60) == 0:
		return fmt.Sprintf("%g min", s/60)
	}
	return fmt.Sprintf("%g s", s)
}

func trimFloat(x float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
}

// scaledBaselines sets a scaled plan beside static-peak (the cheapest static fleet that meets every SLO, no
// spill: the static plan), static-mean-with-spill (each service's pool sized for its mean rate, the rest to
// Lambda), lambda-only, and reactive (each pool scaled on the last window's observed peak, no forecast) — the
// last two searched over the same layouts, headrooms and spill thresholds as the plan, all replayed the same way.
func (pl *space) scaledBaselines(ctx context.Context, p *plan.Plan, static []pool, staticMissed []int, sctx []scaleContext) error {
	b := plan.Baseline{Name: BaselineStaticPeak}
	if len(static) > 0 {
		res, err := pl.evaluate(pl.fleet(static, pl.all()))
		if err != nil {
			return err
		}
		b.Estimate, b.Pools = res.Estimate, pl.planPools(static)
	}
	if len(staticMissed) > 0 {
		var names []string
		for _, s := range staticMissed {
			names = append(names, pl.w.Services[s].Name)
		}
		b.Note = "no static fleet meets the SLO of " + strings.Join(names, ", ")
	}
	p.Baselines = append(p.Baselines, b)
	for _, name := range []string{BaselineStaticMeanWithSpill, BaselineReactive} {
		var pools []scaledPool
		spills := map[int]*replay.Spill{}
		var missed []string
		for s, svc := range pl.w.Services {
			var t scaleTrial
			var err error
			if name == BaselineReactive {
				t, err = pl.scaleSearch(ctx, s, sctx[s].layouts, []forecast.Method{forecast.Last{}}, headrooms, sctx[s].spill, nil, false)
			} else {
				mean := float64(svc.Trace.Len()) / math.Max(float64(pl.w.SpanUs)/1e6, 1)
				t, err = pl.scaleSearch(ctx, s, sctx[s].layouts, nil, nil, sctx[s].spill,
					func(capacity float64) int { return int(math.Ceil(mean/capacity - 1e-9)) }, false)
			}
			if err != nil {
				return err
			}
			if !t.feasible {
				missed = append(missed, svc.Name)
			}
			if t.p.spill > 0 {
				if spills[s], err = pl.finalSpill(ctx, t.p, sctx[s].spill); err != nil {
					return err
				}
			}
			pools = append(pools, t.p)
		}
		res, err := pl.evaluate(pl.scaledFleet(pools, spills))
		if err != nil {
			return err
		}
		b := plan.Baseline{Name: name, Estimate: res.Estimate}
		for _, sp := range pools {
			pp := pl.planPools([]pool{{sp.l, slices.Max(sp.counts)}})[0]
			pp.MinCount = slices.Min(sp.counts)
			b.Pools = append(b.Pools, pp)
		}
		if len(missed) > 0 {
			b.Note = fmt.Sprintf("%s cannot meet %s SLO this way; the fleet shown comes closest", strings.Join(missed, ", "),
				map[bool]string{true: "its", false: "their"}[len(missed) == 1])
		}
		p.Baselines = append(p.Baselines, b)
	}
	lb, err := pl.lambdaBaseline(ctx)
	if err != nil {
		return err
	}
	lb.Name = BaselineLambdaOnly
	// in the order the issue names them: static-peak, static-mean-with-spill, lambda-only, reactive
	p.Baselines = append(p.Baselines[:2], append([]plan.Baseline{lb}, p.Baselines[2:]...)...)
	return nil
}

// fastestLambda is a Lambda target that runs every request alone at the memory size fastest for the traffic's
// 90th-percentile size.
func (pl *space) fastestLambda(prof *profile.Profile, tr *trace.Trace) (*replay.Spill, *plan.Plan, error) {
	curves, src := latency.NewTable(prof).Lambda(pl.opt.LambdaArch)
	if src == latency.NoLambda {
		return nil, nil, nil
	}
	sizes := make([]float64, tr.Len())
	for i, q := range tr.Requests {
		sizes[i] = q.Size
	}
	slices.Sort(sizes)
	p90 := nearestRank(sizes, 90)
	best := curves[0]
	for _, c := range curves {
		if c.At(1, p90) < best.At(1, p90) {
			best = c
		}
	}
	lp, ok := pl.opt.Catalog.Lambda(pl.opt.LambdaArch)
	if !ok {
		return nil, nil, fmt.Errorf("no Lambda price for %s", pl.opt.LambdaArch)
	}
	bufs := []plan.Buffer{{MinSize: sizes[0], MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: best.Key.MemoryMB}}
	tg, err := lreplay.ResolveBuffers(bufs, latency.NewTable(prof), pl.opt.LambdaArch, lp.GBSecondUSD(), lp.RequestUSD, 0)
	if err != nil {
		return nil, nil, err
	}
	return &replay.Spill{Lambda: tg}, nil, nil
}
