package loadgen

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// Report is a replay's outcome beside the simulator's prediction for the same (sped-up) trace and plan.
type Report struct {
	URL      string   `json:"url"`
	Model    string   `json:"model"`
	Trace    string   `json:"trace"`
	Speedup  float64  `json:"speedup"`
	Seed     uint64   `json:"seed"`
	SLO      plan.SLO `json:"slo"`
	Requests int      `json:"requests"` // sent
	OK       int      `json:"ok"`
	Errors   int      `json:"errors"` // answered with an error status
	Lost     int      `json:"lost"`   // sent but never answered
	// Duplicates are answers carrying another request's id, plus requests the gateway dispatched beyond those it
	// answered after dispatching.
	Duplicates    int            `json:"duplicates"`
	Dispatched    int            `json:"dispatched"` // requests in batches, by the gateway's count
	Codes         map[string]int `json:"codes"`      // answers by HTTP status
	LatencyP50Ms  float64        `json:"latency_p50_ms"`
	LatencyP95Ms  float64        `json:"latency_p95_ms"`
	LatencyP99Ms  float64        `json:"latency_p99_ms"`
	SLOAttainment float64        `json:"slo_attainment"` // share of sent requests answered OK within the SLO
	DurationS     float64        `json:"duration_s"`
	ThroughputRPS float64        `json:"throughput_rps"`
	MaxSendLagMs  float64        `json:"max_send_lag_ms"` // how late the generator sent its latest request
	CostUSD       float64        `json:"cost_usd"`        // the gateway's estimate at the plan's prices
	Buffers       []Buffer       `json:"buffers"`
	// Predicted is the replay simulator's estimate for the sped-up trace (with a profile; nil without).
	Predicted *plan.Estimate `json:"predicted,omitempty"`
	Errs      []string       `json:"error_samples,omitempty"` // the first few distinct errors
}

// Buffer is one buffer's measured batching beside the simulator's.
type Buffer struct {
	Buffer        int     `json:"buffer"`
	Requests      int     `json:"requests"` // dispatched by the gateway
	Batches       int     `json:"batches"`
	MeanBatch     float64 `json:"mean_batch"`
	PredRequests  int     `json:"predicted_requests"`
	PredBatches   int     `json:"predicted_batches"`
	PredMeanBatch float64 `json:"predicted_mean_batch"`
	// PredBatchesAsArrived is the simulator's batch count over the arrival times the gateway stamped rather than
	// the trace's (when every request was answered OK): it differs from Batches only if the gateway broke the
	// batching rules, and from PredBatches by what the generator, the network and the HTTP server added.
	PredBatchesAsArrived int     `json:"predicted_batches_as_arrived,omitempty"`
	LatencyP95Ms         float64 `json:"latency_p95_ms"` // client-side, requests answered OK in this buffer
	PredP95Ms            float64 `json:"predicted_latency_p95_ms,omitempty"`
	CostUSD              float64 `json:"cost_usd"`
	PredCostUSD          float64 `json:"predicted_cost_usd,omitempty"`
}

// Summarize measures a run and sets the simulator's prediction beside it: batches and mean batch size per buffer
// always (batching needs only arrival times), latency and cost when tab (the plan's profile) is given.
func Summarize(run *Run, tr *trace.Trace, opt Options, tab *latency.Table) (*Report, error) {
	p := run.Plan
	if p == nil || p.Lambda == nil {
		return nil, fmt.Errorf("the gateway served no Lambda plan to compare with")
	}
	bufs := p.Lambda.Buffers
	r := &Report{URL: opt.URL, Model: run.Model, Trace: tr.Source, Speedup: opt.Speedup, Seed: opt.Seed,
		SLO: p.SLO, Requests: len(run.Outcomes), Codes: map[string]int{}}
	if r.Speedup <= 0 {
		r.Speedup = 1
	}
	var ok []float64
	perBuffer := map[int][]float64{}
	answeredAfterDispatch := 0
	seen := map[string]bool{}
	for _, o := range run.Outcomes {
		switch {
		case o.Lost:
			r.Lost++
		case o.Code == 200:
			r.OK++
			ok = append(ok, o.LatencyMs)
			perBuffer[o.Buffer] = append(perBuffer[o.Buffer], o.LatencyMs)
			if o.LatencyMs <= p.SLO.LatencyMs {
				r.SLOAttainment++
			}
		default:
			r.Errors++
		}
		if !o.Lost {
			r.Codes[strconv.Itoa(o.Code)]++
		}
		// the codes a request gets only after its batch went to the backend
		if o.Code == 200 || o.Code == 502 || o.Code == 504 {
			answeredAfterDispatch++
		}
		if o.Err != "" && !seen[o.Err] && len(r.Errs) < 5 {
			seen[o.Err] = true
			r.Errs = append(r.Errs, o.Err)
		}
	}
	if r.Requests > 0 {
		r.SLOAttainment /= float64(r.Requests)
	}
	slices.Sort(ok)
	if len(ok) > 0 {
		r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms = quantile.NearestRank(ok, 50), quantile.NearestRank(ok, 95), quantile.NearestRank(ok, 99)
	}
	r.DurationS = run.Elapsed.Seconds()
	if r.DurationS > 0 {
		r.ThroughputRPS = float64(r.OK) / r.DurationS
	}
	r.MaxSendLagMs = float64(run.MaxLag.Microseconds()) / 1000

	// predicted: the simulator over the trace as the gateway saw it (times from the first request, sped up)
	fast := trace.Cut(tr, 0, 0, 0, r.Speedup)
	parts := batching.Route(plan.Ranges(bufs), fast.Requests)
	var sim *replay.Result
	if tab != nil {
		tg, err := replay.Resolve(p, tab)
		if err != nil {
			return nil, fmt.Errorf("the served plan against the profile: %w", err)
		}
		if sim, err = replay.Run(tg, fast, replay.Options{}); err != nil {
			return nil, err
		}
		r.Predicted = &sim.Estimate
	}
	asArrived := arrivedParts(run, fast, bufs)
	delta := run.After.Sub(run.Before)
	var batches []batching.Batch
	for k, reqs := range parts {
		b := bufs[k]
		batches = batching.Form(reqs, b.BatchSize, b.TimeoutMicros(), batches[:0])
		m := delta[k+1]
		lb := Buffer{Buffer: k + 1, Requests: int(math.Round(m.Requests)), Batches: int(math.Round(m.Batches)), CostUSD: m.CostUSD,
			PredRequests: len(reqs), PredBatches: len(batches)}
		if lb.Batches > 0 {
			lb.MeanBatch = float64(lb.Requests) / float64(lb.Batches)
		}
		if len(batches) > 0 {
			lb.PredMeanBatch = float64(len(reqs)) / float64(len(batches))
		}
		if asArrived != nil {
			batches = batching.Form(asArrived[k], b.BatchSize, b.TimeoutMicros(), batches[:0])
			lb.PredBatchesAsArrived = len(batches)
		}
		if lats := perBuffer[k+1]; len(lats) > 0 {
			slices.Sort(lats)
			lb.LatencyP95Ms = quantile.NearestRank(lats, 95)
		}
		if sim != nil {
			lb.PredP95Ms, lb.PredCostUSD = sim.Buffers[k].LatencyP95Ms, sim.Buffers[k].CostUSD
		}
		r.Buffers = append(r.Buffers, lb)
		r.Dispatched += lb.Requests
		r.CostUSD += m.CostUSD
	}
	r.Duplicates = run.Duplicates + max(0, r.Dispatched-answeredAfterDispatch-r.Lost)
	return r, nil
}

// arrivedParts is the trace as the gateway saw it, routed: each request at the arrival time the gateway reported,
// sorted (stably) as the gateway admitted them. It is nil unless every request was answered OK, the only answers
// that carry their arrival.
func arrivedParts(run *Run, fast *trace.Trace, bufs []plan.Buffer) [][]trace.Request {
	reqs := make([]trace.Request, len(run.Outcomes))
	for i, o := range run.Outcomes {
		if o.Code != 200 || o.ArrivalUs == 0 {
			return nil
		}
		reqs[i] = trace.Request{At: o.ArrivalUs, Size: fast.Requests[i].Size}
	}
	slices.SortStableFunc(reqs, func(a, b trace.Request) int { return cmp.Compare(a.At, b.At) })
	return batching.Route(plan.Ranges(bufs), reqs)
}
