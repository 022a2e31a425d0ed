// Package replay is the cluster simulator, the ground truth of cluster plans as package planner/lambda/replay is of
// Lambda ones: it pushes every request of every service's trace through a fleet of workers, exactly and
// deterministically (docs/cluster-plan.md states the rules precisely enough to re-implement them):
//
//   - routing: a service's request goes to the group of its workers whose size range takes it (batching.Ranges),
//     and within the group to the workers in turn, round-robin in the fleet's fixed order — the i-th request of
//     a group to worker i mod n;
//   - batching: each worker forms batches from its own requests by contract §4 (batch size, timeout);
//   - queueing: a worker runs one batch at a time, in the order they formed; a batch that forms while the worker
//     is busy waits, so a batch starts at max(its dispatch, the worker's previous batch's end);
//   - service time: the worker's solo latency for the batch (the profile's, contract §4 interpolation), raised
//     by GPU sharing as package profiler/interference says, for the co-located workers busy when it starts;
//   - latency = start − arrival + service time; cost = every instance billed for the whole span (package
//     platform/ec2).
package replay

import (
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/batching"
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
}

// Pool is what the fleet's instances cost.
type Pool struct {
	Count      int
	USDPerHour float64
}

// Fleet is a plan resolved for simulation: workers in routing order.
type Fleet struct {
	Services []Service
	Workers  []Worker
	GPUs     int
	Pools    []Pool
	Model    *interference.Model
	SpanUs   int64 // the time every instance runs (the longest trace)
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
	// Latencies of every request in ms per service, in the order batches started (with Options.KeepLatencies).
	Latencies [][]float64
}

// Options tune a replay.
type Options struct {
	KeepLatencies bool
}

type batchRun struct {
	b     batching.Batch
	start float64 // µs
	svc   float64 // ms
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
		groups[w.Service][w.Group] = append(groups[w.Service][w.Group], i)
	}
	// route
	reqs := make([][]trace.Request, nw)
	for si, s := range f.Services {
		turn := make([]int, len(s.Ranges))
		for _, q := range s.Requests {
			g := s.Ranges.Index(q.Size)
			ws := groups[si][g]
			if len(ws) == 0 {
				return nil, fmt.Errorf("replay: service %s has no worker for size %g", s.Name, q.Size)
			}
			w := ws[turn[g]%len(ws)]
			turn[g]++
			reqs[w] = append(reqs[w], q)
		}
	}
	// batch
	batches := make([][]batching.Batch, nw)
	for i, w := range f.Workers {
		batches[i] = batching.Form(reqs[i], w.BatchSize, w.TimeoutUs, nil)
	}
	// run: each GPU's workers together (their service times depend on one another), CPU workers alone
	onGPU := make([][]int, f.GPUs)
	for i, w := range f.Workers {
		if w.GPU >= 0 {
			if w.GPU >= f.GPUs {
				return nil, fmt.Errorf("replay: worker %d on GPU %d of %d", i, w.GPU, f.GPUs)
			}
			onGPU[w.GPU] = append(onGPU[w.GPU], i)
		}
	}
	runs := make([][]batchRun, nw)
	res := &Result{Workers: make([]WorkerStats, nw), GPUBusy: make([]float64, f.GPUs)}
	for i, w := range f.Workers {
		if w.GPU < 0 {
			runs[i] = f.runAlone(i, batches[i])
		}
	}
	for g, ws := range onGPU {
		busy := f.runShared(ws, batches, runs)
		if f.SpanUs > 0 {
			res.GPUBusy[g] = busy / float64(f.SpanUs)
		}
	}
	f.measure(reqs, runs, res, opt)
	return res, nil
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

// runAlone runs a worker that shares nothing: its batches in order, each when both it and the worker are ready.
func (f *Fleet) runAlone(i int, bs []batching.Batch) []batchRun {
	w := &f.Workers[i]
	out := make([]batchRun, len(bs))
	free := math.Inf(-1)
	for k, b := range bs {
		start := math.Max(float64(b.Dispatch), free)
		svc := f.svc(w, b.N(), b.Max, 1, w.Share)
		out[k] = batchRun{b, start, svc}
		free = start + svc*1000
	}
	return out
}

// runShared runs the workers of one GPU together, batch by batch in order of start time (ties to the earlier
// worker in the fleet's order), each batch's service time set at its start by who else is running then. It
// returns how long the GPU had at least one batch running, in µs.
func (f *Fleet) runShared(ws []int, batches [][]batching.Batch, runs [][]batchRun) float64 {
	next := make([]int, len(ws))
	free := make([]float64, len(ws)) // when each worker's last batch ends
	for k := range free {
		free[k] = math.Inf(-1)
	}
	for _, i := range ws {
		runs[i] = make([]batchRun, 0, len(batches[i]))
	}
	covered, busyUs := math.Inf(-1), 0.0
	for {
		pick, at := -1, math.Inf(1)
		for k, i := range ws {
			if next[k] == len(batches[i]) {
				continue
			}
			if s := math.Max(float64(batches[i][next[k]].Dispatch), free[k]); s < at {
				pick, at = k, s
			}
		}
		if pick < 0 {
			return busyUs
		}
		busy, shares := 0, 0.0
		for k, i := range ws {
			if k == pick || free[k] > at {
				busy++
				shares += f.Workers[i].Share
			}
		}
		i := ws[pick]
		b := batches[i][next[pick]]
		svc := f.svc(&f.Workers[i], b.N(), b.Max, busy, shares)
		end := at + svc*1000
		runs[i] = append(runs[i], batchRun{b, at, svc})
		next[pick]++
		free[pick] = end
		busyUs += math.Max(0, end-math.Max(at, covered))
		covered = math.Max(covered, end)
	}
}

// measure turns the batches' runs into the estimate.
func (f *Fleet) measure(reqs [][]trace.Request, runs [][]batchRun, res *Result, opt Options) {
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
	allLat := make([]float64, 0, 1024)
	invocations := 0
	for i, w := range f.Workers {
		s := &f.Services[w.Service]
		st := &res.Workers[i]
		st.Requests, st.Batches = len(reqs[i]), len(runs[i])
		var wq []float64
		for _, r := range runs[i] {
			st.BusyUs += r.svc * 1000
			q := (r.start - float64(r.b.Dispatch)) / 1000
			pad[w.Service] += r.b.Padding()
			sizes[w.Service] += r.b.Sum
			for _, req := range reqs[i][r.b.Start:r.b.End] {
				l := (r.start-float64(req.At))/1000 + r.svc
				if l <= s.SLO.LatencyMs {
					met[w.Service]++
				}
				lat[w.Service] = append(lat[w.Service], l)
				queue[w.Service] = append(queue[w.Service], q)
				wq = append(wq, q)
			}
		}
		nb[w.Service] += len(runs[i])
		invocations += len(runs[i])
		if len(wq) > 0 {
			st.QueueP99Ms = roundMicro(quantile.Select(wq, 99)[0])
		}
	}
	e := plan.Estimate{Method: "replay", Invocations: float64(invocations)}
	res.AtSLO = make([]float64, ns)
	totalMet := 0
	var totalPad, totalSize float64
	for si, s := range f.Services {
		n := len(lat[si])
		se := plan.ServiceEstimate{Name: s.Name, Requests: n, SLO: s.SLO}
		if n > 0 {
			se.SLOAttainment = float64(met[si]) / float64(n)
			if opt.KeepLatencies {
				allLat = append(allLat, lat[si]...)
			}
			ps := quantile.Select(slices.Clone(lat[si]), 50, 95, 99, s.SLO.Percentile)
			se.LatencyP50Ms, se.LatencyP95Ms, se.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
			res.AtSLO[si] = ps[3]
			se.QueueP99Ms = roundMicro(quantile.Select(queue[si], 99)[0])
			se.MeanBatch = float64(n) / float64(nb[si])
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
	if !opt.KeepLatencies {
		for si := range lat {
			allLat = append(allLat, lat[si]...)
		}
	}
	spanS := float64(f.SpanUs) / 1e6
	for _, p := range f.Pools {
		e.CostUSD += ec2.FleetUSD(p.Count, spanS, p.USDPerHour)
		e.CostPerHourUSD += float64(p.Count) * p.USDPerHour
	}
	e.CostPerHourUSD = math.Round(e.CostPerHourUSD*1e6) / 1e6
	if e.Requests > 0 {
		e.CostPerMillionUSD = e.CostUSD / float64(e.Requests) * 1e6
		e.SLOAttainment = float64(totalMet) / float64(e.Requests)
		ps := quantile.Select(allLat, 50, 95, 99)
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
		if totalSize > 0 {
			e.PaddingRatio = totalPad / totalSize
		}
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
}

func roundMicro(ms float64) float64 { return math.Round(ms*1000) / 1000 }
