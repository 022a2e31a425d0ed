package cluster

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/inferplan/inferplan/planner/cluster/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/profile"
)

// restriction is the part of the space a search may use: the plan's own search uses all of it; the baselines
// fence it in.
type restriction struct {
	name     string
	types    func(*itype) bool
	modes    map[interference.Mode]bool // GPU sharing modes between services (exclusive is always allowed)
	replicas bool                       // several workers of one service on a GPU (time-slice or MPS)
	bins     bool                       // one instance shared by several services
}

// trial is one evaluated configuration of one service: n workers of a kind with some knobs.
type trial struct {
	kn       knobs
	est      plan.ServiceEstimate
	atSLO    float64 // latency at the SLO's percentile, ms
	busy     float64 // the workers' mean utilisation
	feasible bool
}

// better orders trials: feasible before not; then feasible ones by latency at the SLO percentile (more slack);
// infeasible ones by attainment.
func (a trial) better(b trial) bool {
	switch {
	case a.feasible != b.feasible:
		return a.feasible
	case a.feasible:
		return a.atSLO < b.atSLO || a.atSLO == b.atSLO && a.kn.batch > b.kn.batch
	}
	return a.est.SLOAttainment > b.est.SLOAttainment || a.est.SLOAttainment == b.est.SLOAttainment && a.atSLO < b.atSLO
}

// option is a way to serve one service on its own: n workers of a kind on instances of one type.
type option struct {
	svc   int
	k     kind
	n     int // workers
	best  trial
	cands []trial // feasible trials, best first (for co-location)
	t     *itype
	pools []pool
	cost  float64 // per hour
}

// bin is one instance of a type shared by several services.
type bin struct {
	svcs  []int
	l     layout
	cost  float64
	trial []trial // per service, as co-located
}

// grid is the batch sizes and timeouts tried for a service on a curve.
func (pl *space) grid(s int, cv curve) []knobs {
	slo := pl.w.Services[s].SLO.LatencyMs
	var batches []int
	for b := 1; b <= min(cv.maxBatch, 128); b *= 2 {
		batches = append(batches, b)
	}
	timeouts := []float64{0}
	for _, f := range []float64{64, 32, 16, 8, 4, 2} {
		t := math.Round(slo/f*10) / 10
		if t > 0 && !slices.Contains(timeouts, t) {
			timeouts = append(timeouts, t)
		}
	}
	var out []knobs
	for _, b := range batches {
		for _, t := range timeouts {
			if b == 1 && t > 0 {
				continue // a batch of one leaves at once whatever the timeout
			}
			out = append(out, knobs{b, t})
		}
	}
	return out
}

// parallel runs f(0…n−1) on the machine's cores; results go where f puts them, so the order is deterministic.
func parallel(ctx context.Context, n int, f func(i int)) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// standaloneWorkers lays out n workers of service s of kind k: GPU workers perGPU to a GPU, CPU workers with
// their threads; the instance type only matters for cost, so the simulation places one GPU per group.
func (pl *space) standaloneFleet(s int, k kind, n int, kn knobs) *replay.Fleet {
	f := &replay.Fleet{Model: pl.model, SpanUs: pl.w.SpanUs, Services: []replay.Service{pl.svcs[s]}}
	for j := range n {
		w := pl.replayWorker(worker{s, k, kn}, 0, -1, interference.Exclusive)
		if k.gpu() {
			w.GPU, w.Mode = j/max(k.perGPU, 1), k.mode
			f.GPUs = max(f.GPUs, w.GPU+1)
		}
		f.Workers = append(f.Workers, w)
	}
	return f
}

// evaluate replays one configuration.
func (pl *space) evaluate(f *replay.Fleet) (*replay.Result, error) {
	pl.evals.Add(1)
	return replay.Run(f, replay.Options{})
}

func (pl *space) trialOf(res *replay.Result, si int, kn knobs) trial {
	se := res.Estimate.Services[si]
	busy := 0.0
	for _, w := range res.Workers {
		busy += w.BusyUs
	}
	if len(res.Workers) > 0 && pl.w.SpanUs > 0 {
		busy /= float64(len(res.Workers)) * float64(pl.w.SpanUs)
	}
	return trial{kn: kn, est: se, atSLO: res.AtSLO[si], busy: busy, feasible: se.Met()}
}

type trialKey struct {
	s       int
	hw      string
	threads float64
	mode    interference.Mode
	perGPU  int
	n       int
}

// trials evaluates every knob setting of n workers of kind k for service s (cached: baselines ask again).
func (pl *space) trials(ctx context.Context, s int, k kind, n int) ([]trial, error) {
	key := trialKey{s, k.src.hw, k.threads, k.mode, k.perGPU, n}
	pl.mu.Lock()
	if t, ok := pl.cache[key]; ok {
		pl.mu.Unlock()
		return t, nil
	}
	pl.mu.Unlock()
	grid := pl.grid(s, k.cv)
	out := make([]trial, len(grid))
	var firstErr error
	var errOnce sync.Once
	err := parallel(ctx, len(grid), func(i int) {
		res, err := pl.evaluate(pl.standaloneFleet(s, k, n, grid[i]))
		if err != nil {
			errOnce.Do(func() { firstErr = err })
			return
		}
		out[i] = pl.trialOf(res, 0, grid[i])
	})
	if err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	slices.SortStableFunc(out, func(a, b trial) int {
		if a.better(b) {
			return -1
		}
		if b.better(a) {
			return 1
		}
		return 0
	})
	pl.mu.Lock()
	pl.cache[key] = out
	pl.mu.Unlock()
	return out, nil
}

// kinds lists the ways service s can run under r, each with the cheapest cost of one unit (a GPU's worth, or one
// CPU worker) so that cheap kinds are tried first.
func (pl *space) kinds(s int, r restriction) []kind {
	var out []kind
	hws := make([]string, 0, len(pl.cat.sources[s]))
	for hw := range pl.cat.sources[s] {
		hws = append(hws, hw)
	}
	slices.Sort(hws)
	for _, hw := range hws {
		src := pl.cat.sources[s][hw]
		if src.platform == profile.GPU {
			out = append(out, kind{src: src, cv: src.curves[0], mode: interference.Exclusive, share: 1, perGPU: 1})
			if r.replicas {
				if r.modes[interference.TimeSlice] {
					for _, n := range []int{2, 4} {
						out = append(out, kind{src: src, cv: src.curves[0], mode: interference.TimeSlice, share: 1, perGPU: n})
					}
				}
				if r.modes[interference.MPS] {
					for _, n := range []int{2, 4} {
						out = append(out, kind{src: src, cv: src.curves[0], mode: interference.MPS, share: 1 / float64(n), mpsPct: 100 / n, perGPU: n})
					}
				}
			}
			continue
		}
		for _, c := range src.curves {
			out = append(out, kind{src: src, cv: c, mode: interference.Exclusive, share: 1, threads: c.threads})
		}
	}
	return slices.DeleteFunc(out, func(k kind) bool { return len(pl.typesFor(k, r)) == 0 })
}

// typesFor lists the instance types a kind can run on under r.
func (pl *space) typesFor(k kind, r restriction) []*itype {
	var out []*itype
	for _, t := range pl.cat.types {
		if !r.types(t) || !pl.cat.fits(k.src, t) {
			continue
		}
		if !k.gpu() && math.Floor(float64(t.vcpus)/k.vcpus()) < 1 {
			continue
		}
		out = append(out, t)
	}
	return out
}

// place puts n workers of a kind on the cheapest type: pools and cost per hour.
func (pl *space) place(s int, k kind, n int, kn knobs, r restriction) (*itype, []pool, float64) {
	var bestT *itype
	var bestPools []pool
	best := math.Inf(1)
	for _, t := range pl.typesFor(k, r) {
		var l layout
		var count int
		w := worker{s, k, kn}
		if k.gpu() {
			gpus := ceilDiv(n, k.perGPU)
			count = ceilDiv(gpus, t.gpus)
			per := ceilDiv(gpus, count)
			l = layout{t: t}
			for range per {
				g := gpuLayout{mode: k.mode}
				for range k.perGPU {
					g.workers = append(g.workers, w)
				}
				l.gpus = append(l.gpus, g)
			}
		} else {
			m := int(math.Floor(float64(t.vcpus) / k.vcpus()))
			count = ceilDiv(n, m)
			l = layout{t: t}
			for range ceilDiv(n, count) {
				l.cpu = append(l.cpu, w)
			}
		}
		if c := float64(count) * t.usd; c < best {
			best, bestT, bestPools = c, t, []pool{{l, count}}
		}
	}
	return bestT, bestPools, best
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// standalone finds, for service s under r, the cheapest way to serve it alone: for every kind, the fewest workers
// whose best knobs meet the SLO. It also returns every kind's result at its fewest feasible workers (co-location
// starts from them), and, when nothing is feasible, the option that comes closest: the fastest kind with workers
// added until its attainment stops growing.
func (pl *space) standalone(ctx context.Context, s int, r restriction) (*option, []*option, error) {
	var best, closest *option
	var all []*option
	var fastest *kind
	fastestFloor := math.Inf(1)
	oneGPU := map[string]bool{} // sources one exclusive GPU serves: replicas there could only tie
	for _, k := range pl.kinds(s, r) {
		if k.perGPU > 1 && oneGPU[k.src.hw] {
			continue
		}
		if f := pl.soloFloor(s, k); f < fastestFloor {
			kk := k
			fastest, fastestFloor = &kk, f
		}
		if pl.soloFloor(s, k) > pl.w.Services[s].SLO.LatencyMs {
			continue // alone, at batch one, without waiting, it is already too slow
		}
		step := max(k.perGPU, 1)
		for n := step; n <= pl.opt.MaxWorkers; n += step {
			o, err := pl.optionAt(ctx, s, k, n, r)
			if err != nil {
				return nil, nil, err
			}
			if best != nil && o.cost > best.cost {
				break // more workers of this kind cannot beat what is found
			}
			if !o.best.feasible {
				if closest == nil || o.best.better(closest.best) {
					closest = o
				}
				continue
			}
			all = append(all, o)
			if best == nil || o.cost < best.cost || o.cost == best.cost && o.best.better(best.best) {
				best = o
			}
			if k.gpu() && k.perGPU == 1 && n == 1 {
				oneGPU[k.src.hw] = true
			}
			break
		}
	}
	if best != nil {
		return best, all, nil
	}
	if closest == nil && fastest != nil {
		step := max(fastest.perGPU, 1)
		for n := step; n <= pl.opt.MaxWorkers; n += step {
			o, err := pl.optionAt(ctx, s, *fastest, n, r)
			if err != nil {
				return nil, nil, err
			}
			if closest != nil && o.best.est.SLOAttainment < closest.best.est.SLOAttainment+0.001 {
				break
			}
			closest = o
		}
	}
	return closest, all, nil
}

// optionAt is n workers of kind k for service s with their best knobs, on the cheapest type under r.
func (pl *space) optionAt(ctx context.Context, s int, k kind, n int, r restriction) (*option, error) {
	ts, err := pl.trials(ctx, s, k, n)
	if err != nil {
		return nil, err
	}
	o := &option{svc: s, k: k, n: n, best: ts[0]}
	for _, tr := range ts {
		if tr.feasible {
			o.cands = append(o.cands, tr)
		}
	}
	o.t, o.pools, o.cost = pl.place(s, k, n, ts[0].kn, r)
	return o, nil
}

// soloFloor is the latency at the SLO's percentile of every request of s alone at batch one, without waiting, on
// a kind's curve: no number of workers of the kind does better.
func (pl *space) soloFloor(s int, k kind) float64 {
	reqs := pl.svcs[s].Requests
	lat := make([]float64, len(reqs))
	for i, q := range reqs {
		lat[i] = k.cv.c.At(1, q.Size)
	}
	slices.Sort(lat)
	return nearestRank(lat, pl.w.Services[s].SLO.Percentile)
}

func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	return sorted[min(max(k, 1), len(sorted))-1]
}

// splits are the ways to share one GPU between the services of a bin: time-slicing, MPS shares (equal, and in
// proportion to each one's GPU time alone), MIG slices in proportion (on GPUs that have MIG).
func (pl *space) splits(opts []*option, t *itype, r restriction) [][]kind {
	var out [][]kind
	base := func(o *option) kind { k := o.k; k.perGPU = 0; return k }
	if r.modes[interference.TimeSlice] {
		var ks []kind
		for _, o := range opts {
			k := base(o)
			k.mode, k.share = interference.TimeSlice, 1
			ks = append(ks, k)
		}
		out = append(out, ks)
	}
	demand := make([]float64, len(opts))
	total := 0.0
	for i, o := range opts {
		demand[i] = math.Max(o.best.busy, 0.01)
		total += demand[i]
	}
	if r.modes[interference.MPS] {
		eq := make([]int, len(opts))
		prop := make([]int, len(opts))
		left := 100
		for i := range opts {
			eq[i] = 100 / len(opts)
			prop[i] = max(10, int(math.Floor(demand[i]/total*100/5))*5)
			left -= prop[i]
		}
		// what rounding left over goes to the most demanding
		if left > 0 {
			prop[argmax(demand)] += left
		}
		for _, pcts := range [][]int{eq, prop} {
			if sum(pcts) > 100 {
				continue
			}
			var ks []kind
			for i, o := range opts {
				k := base(o)
				k.mode, k.mpsPct, k.share = interference.MPS, pcts[i], float64(pcts[i])/100
				ks = append(ks, k)
			}
			if !slices.ContainsFunc(out, func(x []kind) bool { return sameSplit(x, ks) }) {
				out = append(out, ks)
			}
		}
	}
	if r.modes[interference.MIG] && t.mig {
		for _, sl := range migSplits[len(opts)] {
			// the largest slices to the most demanding services
			order := make([]int, len(opts))
			for i := range order {
				order[i] = i
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(demand[b], demand[a]) })
			ks := make([]kind, len(opts))
			for rank, i := range order {
				k := base(opts[i])
				k.mode, k.migG, k.share = interference.MIG, sl[rank], float64(sl[rank])/7
				ks[i] = k
			}
			out = append(out, ks)
		}
	}
	return out
}

// migSplits are valid MIG layouts by number of slices, largest first (NVIDIA's A100/H100 placements).
var migSplits = map[int][][]int{
	2: {{4, 3}, {3, 3}},
	3: {{3, 2, 2}, {4, 2, 1}, {2, 2, 2}},
	4: {{3, 2, 1, 1}, {2, 2, 2, 1}},
	5: {{2, 2, 1, 1, 1}},
	6: {{2, 1, 1, 1, 1, 1}},
	7: {{1, 1, 1, 1, 1, 1, 1}},
}

func sameSplit(a, b []kind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].mode != b[i].mode || a[i].mpsPct != b[i].mpsPct || a[i].migG != b[i].migG {
			return false
		}
	}
	return true
}

func argmax(xs []float64) int {
	j := 0
	for i, x := range xs {
		if x > xs[j] {
			j = i
		}
	}
	return j
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// gpuBins finds, for every subset of two or more services that could each run alone on one GPU of t, the best
// way to share one such GPU between them: every split, and for each service a few knob settings (its best alone,
// its least busy, one between), all tried together in the simulator. Only feasible bins are returned.
func (pl *space) gpuBins(ctx context.Context, t *itype, alone []map[string]*option, r restriction) ([]bin, error) {
	var members []int // services that fit one GPU of t alone
	for s := range pl.w.Services {
		if o := alone[s][t.gpu]; o != nil && o.n == 1 && o.k.mode == interference.Exclusive {
			members = append(members, s)
		}
	}
	var out []bin
	for _, subset := range subsets(members, pl.maxBin()) {
		opts := make([]*option, len(subset))
		for i, s := range subset {
			opts[i] = alone[s][t.gpu]
		}
		cands := make([][]trial, len(subset))
		for i, o := range opts {
			cands[i] = diverse(o.cands)
		}
		var best *bin
		for _, ks := range pl.splits(opts, t, r) {
			combos := product(cands, 81)
			results := make([]*bin, len(combos))
			var firstErr error
			var once sync.Once
			err := parallel(ctx, len(combos), func(ci int) {
				l := layout{t: t, gpus: []gpuLayout{{mode: ks[0].mode}}}
				for i, s := range subset {
					l.gpus[0].workers = append(l.gpus[0].workers, worker{s, ks[i], combos[ci][i].kn})
				}
				f := pl.fleet([]pool{{l, 1}}, subset)
				res, err := pl.evaluate(f)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				b := &bin{svcs: subset, l: l, cost: t.usd}
				for i := range subset {
					b.trial = append(b.trial, pl.trialOf(res, i, combos[ci][i].kn))
				}
				results[ci] = b
			})
			if err != nil {
				return nil, err
			}
			if firstErr != nil {
				return nil, firstErr
			}
			for _, b := range results {
				if b != nil && b.feasible() && (best == nil || b.slack() > best.slack()) {
					best = b
				}
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return out, nil
}

func (b *bin) feasible() bool {
	for _, t := range b.trial {
		if !t.feasible {
			return false
		}
	}
	return true
}

// slack is the smallest share of its SLO any service of the bin has left at its percentile.
func (b *bin) slack() float64 {
	s := math.Inf(1)
	for _, t := range b.trial {
		s = math.Min(s, 1-t.atSLO/t.est.SLO.LatencyMs)
	}
	return s
}

// maxBin bounds how many services may share one instance: every subset up to this size is tried (2^S subsets for
// S services up to 8; beyond, subsets of up to 3).
func (pl *space) maxBin() int {
	if len(pl.w.Services) <= 8 {
		return len(pl.w.Services)
	}
	return 3
}

// diverse picks up to three feasible knob settings: the lowest latency, the least busy (leaves the GPU to the
// others), and one between.
func diverse(ts []trial) []trial {
	if len(ts) <= 3 {
		return ts
	}
	least := 0
	for i, t := range ts {
		if t.busy < ts[least].busy {
			least = i
		}
	}
	out := []trial{ts[0]}
	if least != 0 {
		out = append(out, ts[least])
	}
	mid := ts[len(ts)/2]
	if mid.kn != ts[0].kn && mid.kn != ts[least].kn {
		out = append(out, mid)
	}
	return out
}

// product lists the combinations of one element per list, at most limit of them (the first lists vary slowest).
func product(lists [][]trial, limit int) [][]trial {
	out := [][]trial{{}}
	for _, l := range lists {
		var next [][]trial
		for _, prefix := range out {
			for _, t := range l {
				if len(next) == limit {
					break
				}
				next = append(next, append(slices.Clone(prefix), t))
			}
		}
		out = next
	}
	return out
}

// subsets lists the subsets of xs with two to max elements, smallest first, each ascending.
func subsets(xs []int, maxSize int) [][]int {
	var out [][]int
	n := len(xs)
	for size := 2; size <= min(maxSize, n); size++ {
		for mask := 0; mask < 1<<n; mask++ {
			if popcount(mask) != size {
				continue
			}
			var s []int
			for i := range n {
				if mask&(1<<i) != 0 {
					s = append(s, xs[i])
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

// cpuBins packs the CPU workers of several services onto one instance when their vCPUs fit: CPU workers do not
// slow each other down in this model (each has its own cores), so each keeps the knobs it met its SLO with alone.
func (pl *space) cpuBins(r restriction, cpuAlone [][]*option) []bin {
	var out []bin
	var members []int
	for s := range pl.w.Services {
		if len(cpuAlone[s]) > 0 {
			members = append(members, s)
		}
	}
	for _, subset := range subsets(members, pl.maxBin()) {
		var best *bin
		for _, t := range pl.cat.types {
			if t.gpu != "" || !r.types(t) {
				continue
			}
			l := layout{t: t}
			used := 0.0
			var trials []trial
			ok := true
			for _, s := range subset {
				// the option of this service that fits t with the fewest vCPUs
				var pick *option
				for _, o := range cpuAlone[s] {
					if !pl.cat.fits(o.k.src, t) {
						continue
					}
					if pick == nil || float64(o.n)*o.k.vcpus() < float64(pick.n)*pick.k.vcpus() {
						pick = o
					}
				}
				if pick == nil {
					ok = false
					break
				}
				used += float64(pick.n) * pick.k.vcpus()
				for range pick.n {
					l.cpu = append(l.cpu, worker{s, pick.k, pick.best.kn})
				}
				trials = append(trials, pick.best)
			}
			if !ok || used > float64(t.vcpus) {
				continue
			}
			b := &bin{svcs: subset, l: l, cost: t.usd, trial: trials}
			if best == nil || b.cost < best.cost {
				best = b
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return out
}

// cover chooses for every service either its cheapest option alone or one bin it shares, so that every service
// is served once at the least cost per hour (dynamic programming over subsets of services: O(3^S)).
func cover(n int, alone []*option, bins []bin) ([]*option, []bin, float64) {
	full := 1<<n - 1
	cost := make([]float64, full+1)
	from := make([]int, full+1) // −1: alone; else the bin's index
	for mask := 1; mask <= full; mask++ {
		cost[mask] = math.Inf(1)
		low := 0
		for mask&(1<<low) == 0 {
			low++
		}
		if alone[low] != nil && alone[low].best.feasible {
			if c := cost[mask&^(1<<low)] + alone[low].cost; c < cost[mask] {
				cost[mask], from[mask] = c, -1
			}
		}
		for bi, b := range bins {
			bm := 0
			for _, s := range b.svcs {
				bm |= 1 << s
			}
			if bm&(1<<low) == 0 || bm&mask != bm {
				continue
			}
			if c := cost[mask&^bm] + b.cost; c < cost[mask]-1e-12 {
				cost[mask], from[mask] = c, bi
			}
		}
	}
	if math.IsInf(cost[full], 1) {
		return nil, nil, math.Inf(1)
	}
	var opts []*option
	var used []bin
	for mask := full; mask != 0; {
		low := 0
		for mask&(1<<low) == 0 {
			low++
		}
		if from[mask] < 0 {
			opts = append(opts, alone[low])
			mask &^= 1 << low
			continue
		}
		b := bins[from[mask]]
		used = append(used, b)
		for _, s := range b.svcs {
			mask &^= 1 << s
		}
	}
	return opts, used, cost[full]
}

// search runs the whole search under r: every service alone, then bins, then the cheapest cover. Services that
// cannot meet their SLO under r are served by the option that comes closest (baselines report that); infeasible
// lists them.
func (pl *space) search(ctx context.Context, r restriction) (pools []pool, infeasible []int, desc []string, err error) {
	n := len(pl.w.Services)
	alone := make([]*option, n)
	byGPU := make([]map[string]*option, n)
	cpuAlone := make([][]*option, n)
	for s := range n {
		best, all, err := pl.standalone(ctx, s, r)
		if err != nil {
			return nil, nil, nil, err
		}
		alone[s] = best
		byGPU[s] = map[string]*option{}
		for _, o := range all {
			if o.k.gpu() {
				if prev := byGPU[s][o.k.src.gpu]; prev == nil || o.cost < prev.cost {
					byGPU[s][o.k.src.gpu] = o
				}
			} else {
				cpuAlone[s] = append(cpuAlone[s], o)
			}
		}
		// the exclusive single-GPU result of every GPU kind, whether or not it was the cheapest alone
		for _, o := range all {
			if o.k.gpu() && o.n == 1 && o.k.mode == interference.Exclusive {
				byGPU[s][o.k.src.gpu] = o
			}
		}
	}
	var bins []bin
	if r.bins {
		seen := map[string]bool{}
		for _, t := range pl.cat.types {
			if t.gpu == "" || t.gpus != 1 || seen[t.gpu] || !r.types(t) {
				continue
			}
			seen[t.gpu] = true // the cheapest single-GPU type of each GPU
			bs, err := pl.gpuBins(ctx, t, byGPU, r)
			if err != nil {
				return nil, nil, nil, err
			}
			bins = append(bins, bs...)
		}
		bins = append(bins, pl.cpuBins(r, cpuAlone)...)
	}
	opts, used, total := cover(n, alone, bins)
	if math.IsInf(total, 1) {
		// some service cannot be served under r: serve each alone as close as it gets
		opts, used = nil, nil
		for s := range n {
			if alone[s] == nil {
				return nil, []int{s}, nil, nil
			}
			opts = append(opts, alone[s])
			if !alone[s].best.feasible {
				infeasible = append(infeasible, s)
			}
		}
	}
	for _, o := range opts {
		pools = append(pools, o.pools...)
		desc = append(desc, pl.explainAlone(o))
	}
	for _, b := range used {
		pools = append(pools, pool{b.l, 1})
		desc = append(desc, pl.explainBin(b, alone))
	}
	slices.SortStableFunc(pools, func(a, b pool) int { return cmp.Compare(a.l.t.name, b.l.t.name) })
	return pools, infeasible, desc, nil
}

// minSizes are the smallest request size of every service (its workers' size range starts there).
func minSizes(svcs []replay.Service) []float64 {
	out := make([]float64, len(svcs))
	for i, s := range svcs {
		m := math.Inf(1)
		for _, q := range s.Requests {
			m = math.Min(m, q.Size)
		}
		out[i] = m
	}
	return out
}

// explainAlone says why a service runs on instances of its own.
func (pl *space) explainAlone(o *option) string {
	svc := pl.w.Services[o.svc]
	p := o.pools[0]
	how := fmt.Sprintf("%d worker%s with a GPU each", o.n, plural(o.n))
	switch {
	case !o.k.gpu():
		how = fmt.Sprintf("%d worker%s of %g threads on %g vCPUs each", o.n, plural(o.n), o.k.threads, o.k.vcpus())
	case o.k.perGPU > 1:
		how = fmt.Sprintf("%d workers, %d to a GPU by %s (more batches in flight on a launch-bound GPU)", o.n, o.k.perGPU, o.k.mode)
	}
	msg := fmt.Sprintf("%s runs alone on %d × %s ($%.2f/h): %s, batch ≤ %d, timeout %g ms — its cheapest way to meet p%g ≤ %g ms (%.2f%% of requests within it, p%g %.1f ms)",
		svc.Name, p.count, p.l.t.name, o.cost, how, o.best.kn.batch, o.best.kn.timeoutMs, svc.SLO.Percentile, svc.SLO.LatencyMs,
		o.best.est.SLOAttainment*100, svc.SLO.Percentile, o.best.atSLO)
	if o.k.src.derived {
		msg += "; its latency there is derived (" + o.k.src.note + ")"
	}
	return msg
}

// explainBin says why services share an instance, and what it saves.
func (pl *space) explainBin(b bin, alone []*option) string {
	var names []string
	aloneCost, busy := 0.0, 0.0
	for i, s := range b.svcs {
		names = append(names, pl.w.Services[s].Name)
		if alone[s] != nil {
			aloneCost += alone[s].cost
		}
		busy += b.trial[i].busy
	}
	var how string
	if len(b.l.gpus) > 0 {
		g := b.l.gpus[0]
		var split []string
		for _, w := range g.workers {
			switch g.mode {
			case interference.MPS:
				split = append(split, fmt.Sprintf("%s %d%%", pl.w.Services[w.svc].Name, w.k.mpsPct))
			case interference.MIG:
				split = append(split, fmt.Sprintf("%s %s", pl.w.Services[w.svc].Name, migProfile(w.k.migG, pl.gpuMemGB(b.l.t))))
			}
		}
		how = fmt.Sprintf("by %s of its %s", g.mode, strings.ToUpper(b.l.t.gpu))
		if len(split) > 0 {
			how += " (" + strings.Join(split, ", ") + ")"
		}
		how += fmt.Sprintf(", which their batches keep busy about %.1f%% of the time", busy*100)
	} else {
		how = "on its vCPUs"
	}
	return fmt.Sprintf("%s share one %s ($%.2f/h) %s; each on the cheapest instances of its own would take $%.2f/h in all",
		joinAnd(names), b.l.t.name, b.cost, how, aloneCost)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
