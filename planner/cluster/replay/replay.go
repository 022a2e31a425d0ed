// Package replay is the cluster simulator, the ground truth of cluster plans as package planner/lambda/replay is of
// Lambda ones: it pushes every request of every service's trace through a fleet of workers, exactly and
// deterministically (docs/cluster-plan.md states the rules precisely enough to re-implement them):
//
//   - routing: a service's request goes to the group of its workers whose size range takes it (batching.Ranges),
//     and within the group to the workers serving at that moment in turn, round-robin in the fleet's fixed order;
//   - spill-over: a request whose expected wait for its worker exceeds its service's threshold goes to Lambda
//     instead (when the service has a spill rule), where it is batched and billed as a Lambda plan says;
//   - batching: each worker forms batches from the requests it keeps by contract §4 (batch size, timeout);
//   - queueing: a worker runs one batch at a time, in the order they formed; a batch starts at max(its dispatch,
//     the worker's previous batch's end);
//   - service time: the worker's solo latency for the batch (the profile's, contract §4 interpolation), raised
//     by GPU sharing as package profiler/interference says, for the co-located workers busy when it starts;
//   - instances: a worker serves only while its instance is up (a scaled fleet launches instances before the
//     windows that need them, and stops routing to them when their window ends; they finish what they hold);
//   - latency = start − arrival + service time; cost = every instance billed per second from launch to
//     termination with EC2's 60-second minimum (package platform/ec2), plus Lambda's bill for spilled requests.
package replay

import (
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/batching"
	lreplay "github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/ec2"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// Curve is a solo latency curve: the service time in ms of a batch of n requests padded to size.
type Curve interface {
	At(n int, size float64) float64
}

// Service is one service's traffic and target.
type Service struct {
	Name     string
	SLO      plan.SLO
	Requests []trace.Request // arrival order, sizes already truncated at the service's max size
	Ranges   batching.Ranges // upper sizes of its worker groups, ascending
	// Spill, when set, sends requests that would wait too long for their worker to Lambda.
	Spill *Spill
}

// Spill is a service's spill-over rule: a request whose expected wait for its worker (the time until the worker
// could start the batch it would join) exceeds ThresholdMs goes to Lambda, served as Lambda says.
type Spill struct {
	ThresholdMs float64
	Lambda      *lreplay.Target
}

// Worker is one serving process of the fleet.
type Worker struct {
	Service   int // index into Fleet.Services
	Group     int // index into the service's Ranges
	BatchSize int
	TimeoutUs int64
	Curve     Curve
	Slope     float64 // the GPU's marginal ms per token for the model (interference.Slope)
	GPU       int     // index into the fleet's GPUs; −1 for a CPU worker
	Mode      interference.Mode
	Share     float64 // SM share (1: all)
	// Instance is the worker's instance in Fleet.Instances, counted from 1; 0 for an instance of a static pool,
	// up all along.
	Instance int
}

// Pool is a static pool's instances: Count of them up for the whole span.
type Pool struct {
	Count      int
	USDPerHour float64
}

// Instance is one instance of a scaled fleet: launched at Launch, it serves requests that arrive in
// [Ready, Stop) and terminates once it has finished them (µs from the start of the traces).
type Instance struct {
	USDPerHour          float64
	Launch, Ready, Stop int64
}

// Fleet is a plan resolved for simulation: workers in routing order.
type Fleet struct {
	Services  []Service
	Workers   []Worker
	GPUs      int
	Pools     []Pool     // static pools
	Instances []Instance // a scaled fleet's instances
	Model     *interference.Model
	SpanUs    int64 // the time the traces span (the longest)
}

// WorkerStats is one worker's part of a replay.
type WorkerStats struct {
	Requests, Batches int
	BusyUs            float64
	QueueP99Ms        float64
}

// Result is a replay's outcome.
type Result struct {
	Estimate plan.Estimate // Services filled in
	Workers  []WorkerStats
	// GPUBusy is the share of the span each GPU had a batch running.
	GPUBusy []float64
	// AtSLO is each service's latency at its SLO's percentile, ms.
	AtSLO []float64
	// Spilled are each service's requests that went to Lambda, in arrival order.
	Spilled [][]trace.Request
	// Latencies of every request in ms per service (with Options.KeepLatencies): the fleet's in the order
	// batches started, then Lambda's.
	Latencies [][]float64
}

// Options tune a replay.
type Options struct {
	KeepLatencies bool
}

// ran is a batch that ran: its requests are accepted[worker][b.Start:b.End].
type ran struct {
	b     batching.Batch
	start float64 // µs
	svc   float64 // ms
}

// wstate is one worker's state while its group is simulated.
type wstate struct {
	w        *Worker
	reqs     []trace.Request // routed to it, arrival order
	next     int             // the next of reqs to arrive
	accepted []trace.Request // those it kept
	open     bool            // a batch is open: accepted[openAt:] with its first arrival t0
	openAt   int
	t0       int64
	omax     float64
	osum     float64
	queue    []batching.Batch // closed, not started
	free     float64          // when its last started batch ends, µs
	runs     []ran
	spilled  []trace.Request
}

// Run replays the fleet's services through its workers.
func Run(f *Fleet, opt Options) (*Result, error) {
	if f.Model == nil {
		return nil, fmt.Errorf("replay: no interference model")
	}
	nw := len(f.Workers)
	groups := make([][][]int, len(f.Services)) // service → group → workers in routing order
	for i := range f.Services {
		groups[i] = make([][]int, len(f.Services[i].Ranges))
	}
	for i, w := range f.Workers {
		if w.Service < 0 || w.Service >= len(f.Services) || w.Group < 0 || w.Group >= len(groups[w.Service]) {
			return nil, fmt.Errorf("replay: worker %d: service %d group %d does not exist", i, w.Service, w.Group)
		}
		if w.BatchSize < 1 || w.Curve == nil {
			return nil, fmt.Errorf("replay: worker %d: no batch size or latency curve", i)
		}
		if w.Instance < 0 || w.Instance > len(f.Instances) {
			return nil, fmt.Errorf("replay: worker %d: instance %d of %d", i, w.Instance, len(f.Instances))
		}
		groups[w.Service][w.Group] = append(groups[w.Service][w.Group], i)
	}
	states := make([]*wstate, nw)
	for i := range f.Workers {
		states[i] = &wstate{w: &f.Workers[i], free: math.Inf(-1)}
	}
	unserved := make([][]trace.Request, len(f.Services)) // arrived when no worker of theirs was up
	for si, s := range f.Services {
		for g, ws := range groups[si] {
			if len(ws) == 0 {
				return nil, fmt.Errorf("replay: service %s has no worker for sizes up to %g", s.Name, s.Ranges[g])
			}
		}
		u := f.route(si, groups[si], states)
		unserved[si] = u
	}
	onGPU := make([][]int, f.GPUs)
	for i, w := range f.Workers {
		if w.GPU >= 0 {
			if w.GPU >= f.GPUs {
				return nil, fmt.Errorf("replay: worker %d on GPU %d of %d", i, w.GPU, f.GPUs)
			}
			onGPU[w.GPU] = append(onGPU[w.GPU], i)
		}
	}
	res := &Result{Workers: make([]WorkerStats, nw), GPUBusy: make([]float64, f.GPUs)}
	for i, w := range f.Workers {
		if w.GPU < 0 {
			f.runAlone(states[i])
		}
	}
	for g, ws := range onGPU {
		group := make([]*wstate, len(ws))
		for k, i := range ws {
			group[k] = states[i]
		}
		var busy float64
		if len(group) == 1 {
			busy = f.runAlone(group[0])
		} else {
			busy = f.runShared(group)
		}
		if f.SpanUs > 0 {
			res.GPUBusy[g] = busy / float64(f.SpanUs)
		}
	}
	if err := f.measure(states, unserved, res, opt); err != nil {
		return nil, err
	}
	return res, nil
}

// route deals service si's requests to its workers: by size range to a group, then round-robin among the
// group's workers up at the request's arrival. A request that finds none up is returned unserved (a scaled
// fleet always keeps one instance of every pool, so only a broken schedule leaves one).
func (f *Fleet) route(si int, groups [][]int, states []*wstate) []trace.Request {
	s := &f.Services[si]
	turn := make([]int, len(groups))
	var unserved []trace.Request
	// the workers up change only where an instance becomes ready or stops; most fleets have none
	static := true
	for _, ws := range groups {
		for _, i := range ws {
			static = static && f.Workers[i].Instance == 0
		}
	}
	up := make([]int, 0, 8)
	for _, q := range s.Requests {
		g := s.Ranges.Index(q.Size)
		ws := groups[g]
		if !static {
			up = up[:0]
			for _, i := range ws {
				if in := f.Workers[i].Instance; in == 0 || f.Instances[in-1].Ready <= q.At && q.At < f.Instances[in-1].Stop {
					up = append(up, i)
				}
			}
			ws = up
		}
		if len(ws) == 0 {
			unserved = append(unserved, q)
			continue
		}
		w := ws[turn[g]%len(ws)]
		turn[g]++
		states[w].reqs = append(states[w].reqs, q)
	}
	return unserved
}

// svc is the service time of a batch of n padded to size on worker w while co-located workers holding
// busyShares (itself included, busy of them) are running.
func (f *Fleet) svc(w *Worker, n int, size float64, busy int, busyShares float64) float64 {
	solo := w.Curve.At(n, size)
	if w.GPU < 0 || w.Mode == interference.Exclusive {
		return solo
	}
	return f.Model.Latency(w.Mode, solo, interference.Work(w.Slope, n, size, solo), w.Share, busy, busyShares)
}

// spill reports whether a request arriving at t to worker st goes to Lambda: its expected wait — until the
// worker ends its running batch and the batches queued behind it (at their solo latency) — is above the threshold.
func (f *Fleet) spill(st *wstate, t int64) bool {
	sp := f.Services[st.w.Service].Spill
	if sp == nil || sp.Lambda == nil {
		return false
	}
	wait := math.Max(st.free-float64(t), 0)
	for _, b := range st.queue {
		wait += st.w.Curve.At(b.N(), b.Max) * 1000
	}
	return wait > sp.ThresholdMs*1000
}

// arrive takes the worker's next request at its arrival: spilled, or into the open batch (opening one), closing
// the batch when it is full.
func (f *Fleet) arrive(st *wstate) {
	q := st.reqs[st.next]
	st.next++
	if f.spill(st, q.At) {
		st.spilled = append(st.spilled, q)
		return
	}
	st.accepted = append(st.accepted, q)
	if !st.open {
		st.open, st.openAt, st.t0, st.omax, st.osum = true, len(st.accepted)-1, q.At, q.Size, q.Size
	} else {
		st.omax, st.osum = math.Max(st.omax, q.Size), st.osum+q.Size
	}
	if len(st.accepted)-st.openAt == st.w.BatchSize {
		st.close(q.At, false)
	}
}

// close queues the open batch, dispatched at t.
func (st *wstate) close(t int64, timedOut bool) {
	st.queue = append(st.queue, batching.Batch{Start: st.openAt, End: len(st.accepted), Dispatch: t, Max: st.omax, Sum: st.osum, TimedOut: timedOut})
	st.open = false
}

// deadline is when the open batch times out (MaxInt64 with none).
func (st *wstate) deadline() int64 {
	if !st.open {
		return math.MaxInt64
	}
	return st.t0 + st.w.TimeoutUs
}

// runAlone runs a worker that shares nothing, request by request: a request arriving after the open batch's
// deadline closes it first (contract §4.2: one arriving exactly at the deadline still joins), and every batch
// starts as soon as it is closed and the worker is free. It returns the worker's busy time in µs.
func (f *Fleet) runAlone(st *wstate) float64 {
	busy := 0.0
	startAll := func() {
		for _, b := range st.queue {
			start := math.Max(float64(b.Dispatch), st.free)
			svc := f.svc(st.w, b.N(), b.Max, 1, st.w.Share)
			st.runs = append(st.runs, ran{b, start, svc})
			st.free = start + svc*1000
			busy += svc * 1000
		}
		st.queue = st.queue[:0]
	}
	for st.next < len(st.reqs) {
		if t := st.reqs[st.next].At; t > st.deadline() {
			st.close(st.deadline(), true)
		}
		startAll()
		f.arrive(st)
		startAll()
	}
	if st.open {
		st.close(st.deadline(), true)
	}
	startAll()
	return busy
}

// runShared runs the workers of one GPU together, event by event in time order — arrivals, then deadlines,
// then batch starts at the same instant, each kind in the fleet's worker order — each batch's service time set at
// its start by who else is running then. It returns how long the GPU had at least one batch running, in µs.
func (f *Fleet) runShared(ws []*wstate) float64 {
	covered, busyUs := math.Inf(-1), 0.0
	for {
		const (
			arrival = iota
			deadline
			start
		)
		pick, kind, at := -1, 0, math.Inf(1)
		consider := func(k, kd int, t float64) {
			if t < at || t == at && kd < kind {
				pick, kind, at = k, kd, t
			}
		}
		for k, st := range ws {
			if st.next < len(st.reqs) {
				consider(k, arrival, float64(st.reqs[st.next].At))
			}
			if st.open {
				consider(k, deadline, float64(st.deadline()))
			}
			if len(st.queue) > 0 {
				consider(k, start, math.Max(float64(st.queue[0].Dispatch), st.free))
			}
		}
		if pick < 0 {
			return busyUs
		}
		st := ws[pick]
		switch kind {
		case arrival:
			f.arrive(st)
		case deadline:
			st.close(st.deadline(), true)
		case start:
			busy, shares := 0, 0.0
			for k, o := range ws {
				if k == pick || o.free > at {
					busy++
					shares += o.w.Share
				}
			}
			b := st.queue[0]
			st.queue = st.queue[1:]
			svc := f.svc(st.w, b.N(), b.Max, busy, shares)
			end := at + svc*1000
			st.runs = append(st.runs, ran{b, at, svc})
			st.free = end
			busyUs += math.Max(0, end-math.Max(at, covered))
			covered = math.Max(covered, end)
		}
	}
}

// measure turns the runs into the estimate: the fleet's requests, the spilled ones through Lambda, the cost.
func (f *Fleet) measure(states []*wstate, unserved [][]trace.Request, res *Result, opt Options) error {
	ns := len(f.Services)
	lat := make([][]float64, ns)
	queue := make([][]float64, ns)
	for si, s := range f.Services {
		lat[si] = make([]float64, 0, len(s.Requests))
		queue[si] = make([]float64, 0, len(s.Requests))
	}
	met := make([]int, ns)
	pad, sizes := make([]float64, ns), make([]float64, ns)
	nb := make([]int, ns)
	spilled := make([][]trace.Request, ns)
	invocations := 0
	instanceEnd := make([]float64, len(f.Instances))
	for i, st := range states {
		w := st.w
		s := &f.Services[w.Service]
		ws := &res.Workers[i]
		ws.Requests, ws.Batches = len(st.accepted), len(st.runs)
		spilled[w.Service] = append(spilled[w.Service], st.spilled...)
		var wq []float64
		for _, r := range st.runs {
			ws.BusyUs += r.svc * 1000
			q := (r.start - float64(r.b.Dispatch)) / 1000
			pad[w.Service] += r.b.Padding()
			sizes[w.Service] += r.b.Sum
			for _, req := range st.accepted[r.b.Start:r.b.End] {
				l := (r.start-float64(req.At))/1000 + r.svc
				if l <= s.SLO.LatencyMs {
					met[w.Service]++
				}
				lat[w.Service] = append(lat[w.Service], l)
				queue[w.Service] = append(queue[w.Service], q)
				wq = append(wq, q)
			}
			if w.Instance > 0 {
				instanceEnd[w.Instance-1] = math.Max(instanceEnd[w.Instance-1], r.start+r.svc*1000)
			}
		}
		nb[w.Service] += len(st.runs)
		invocations += len(st.runs)
		if len(wq) > 0 {
			ws.QueueP99Ms = roundMicro(quantile.Select(wq, 99)[0])
		}
	}
	e := plan.Estimate{Method: "replay", Invocations: float64(invocations)}
	res.AtSLO = make([]float64, ns)
	res.Spilled = make([][]trace.Request, ns)
	var totalMet, spills int
	var totalPad, totalSize float64
	var allLat []float64
	for si, s := range f.Services {
		se := plan.ServiceEstimate{Name: s.Name, SLO: s.SLO}
		// unserved requests miss the SLO (latency +Inf)
		for range unserved[si] {
			lat[si] = append(lat[si], math.Inf(1))
		}
		if sp := spilled[si]; len(sp) > 0 {
			slices.SortStableFunc(sp, func(a, b trace.Request) int {
				switch {
				case a.At < b.At:
					return -1
				case a.At > b.At:
					return 1
				}
				return 0
			})
			lr, err := lreplay.Run(s.Spill.Lambda, &trace.Trace{Requests: sp}, lreplay.Options{KeepLatencies: true})
			if err != nil {
				return fmt.Errorf("replay: %s's spilled requests on Lambda: %w", s.Name, err)
			}
			for _, l := range lr.Latencies {
				if l <= s.SLO.LatencyMs {
					met[si]++
				}
			}
			lat[si] = append(lat[si], lr.Latencies...)
			se.Spilled, se.SpillCostUSD = len(sp), lr.Estimate.CostUSD
			e.SpillCostUSD += lr.Estimate.CostUSD
			e.Invocations += lr.Estimate.Invocations
			spills += len(sp)
			res.Spilled[si] = sp
		}
		n := len(lat[si])
		se.Requests = n
		if n > 0 {
			se.SLOAttainment = float64(met[si]) / float64(n)
			allLat = append(allLat, lat[si]...)
			ps := quantile.Select(slices.Clone(lat[si]), 50, 95, 99, s.SLO.Percentile)
			se.LatencyP50Ms, se.LatencyP95Ms, se.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
			res.AtSLO[si] = ps[3]
			if len(queue[si]) > 0 {
				se.QueueP99Ms = roundMicro(quantile.Select(queue[si], 99)[0])
			}
			if nb[si] > 0 {
				se.MeanBatch = float64(n-se.Spilled-len(unserved[si])) / float64(nb[si])
			}
			if sizes[si] > 0 {
				se.PaddingRatio = pad[si] / sizes[si]
			}
		}
		e.Services = append(e.Services, se)
		e.Requests += n
		totalMet += met[si]
		totalPad += pad[si]
		totalSize += sizes[si]
	}
	// static pools cost their price an hour; a scaled fleet's instances and Lambda's bill for spilled requests are
	// spread over the span
	spanS := float64(f.SpanUs) / 1e6
	for _, p := range f.Pools {
		e.CostUSD += ec2.FleetUSD(p.Count, spanS, p.USDPerHour)
		e.CostPerHourUSD += float64(p.Count) * p.USDPerHour
		e.InstanceHours += float64(p.Count) * ec2.BilledSeconds(spanS) / 3600
	}
	variable := e.SpillCostUSD
	for i, in := range f.Instances {
		end := math.Max(float64(in.Stop), instanceEnd[i])
		if in.Stop == math.MaxInt64 {
			end = math.Max(float64(f.SpanUs), instanceEnd[i])
		}
		s := (end - float64(in.Launch)) / 1e6
		variable += ec2.RunUSD(s, in.USDPerHour)
		e.InstanceHours += ec2.BilledSeconds(s) / 3600
	}
	e.CostUSD += variable
	if variable > 0 && spanS > 0 {
		e.CostPerHourUSD += variable / (spanS / 3600)
	}
	e.CostPerHourUSD = math.Round(e.CostPerHourUSD*1e6) / 1e6
	e.InstanceHours = math.Round(e.InstanceHours*1e6) / 1e6
	if e.Requests > 0 {
		e.CostPerMillionUSD = e.CostUSD / float64(e.Requests) * 1e6
		e.SLOAttainment = float64(totalMet) / float64(e.Requests)
		ps := quantile.Select(allLat, 50, 95, 99)
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
		if totalSize > 0 {
			e.PaddingRatio = totalPad / totalSize
		}
		e.SpillShare = float64(spills) / float64(e.Requests)
	}
	if f.GPUs > 0 {
		u := 0.0
		for _, b := range res.GPUBusy {
			u += b
		}
		u = math.Round(u/float64(f.GPUs)*1e4) / 1e4
		e.GPUUtilisation = &u
	}
	res.Estimate = e
	if opt.KeepLatencies {
		res.Latencies = lat
	}
	return nil
}

func roundMicro(ms float64) float64 { return math.Round(ms*1000) / 1000 }
