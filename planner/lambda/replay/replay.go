// Package replay is the Lambda trace-replay simulator: it pushes every request of a trace through a plan's
// buffers with exactly the batching and billing semantics of contract §4 and measures cost, latency and padding. It is the
// ground truth every analytic estimate is checked against, so it favours plainness over cleverness, and it is fast
// enough (millions of requests per second) to sit inside a search loop.
package replay

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// Target is a plan resolved against a profile: the buffers with the latency curve of each one's memory size, and
// the prices to bill at.
type Target struct {
	Buffers     []plan.Buffer
	Curves      []*latency.Curve
	GBSecondUSD float64
	RequestUSD  float64
	SLOMs       float64
}

// Resolve finds the latency curve of every buffer's memory size in the table and checks the batch sizes fit it.
func Resolve(p *plan.Plan, tab *latency.Table) (*Target, error) {
	l := p.Lambda
	if l == nil {
		return nil, fmt.Errorf("a %s plan has no Lambda buffers to replay", p.Platform)
	}
	return ResolveBuffers(l.Buffers, tab, l.Arch, l.Pricing.GBSecondUSD, l.Pricing.RequestUSD, p.SLO.LatencyMs)
}

// ResolveBuffers is Resolve for a bare buffer list.
func ResolveBuffers(bufs []plan.Buffer, tab *latency.Table, arch string, gbs, req, sloMs float64) (*Target, error) {
	if arch == "" {
		arch = "x86_64"
	}
	curves, src := tab.Lambda(arch)
	if src == latency.NoLambda {
		return nil, fmt.Errorf("the profile has no Lambda measurements (nor CPU measurements with a vCPU count to emulate them)")
	}
	t := &Target{Buffers: bufs, GBSecondUSD: gbs, RequestUSD: req, SLOMs: sloMs}
	// A plan that asks for what the profile never measured is an input error of the plan (contract §3.3: memory_mb
	// is a profiled size, batch_size at most the largest batch profiled for it), naming the buffer's field; the
	// caller names the file and line (plan.Locate).
	for i, b := range bufs {
		j := slices.IndexFunc(curves, func(c *latency.Curve) bool { return c.Key.MemoryMB == b.MemoryMB })
		if j < 0 {
			return nil, inputerr.New("", 0, fmt.Sprintf("buffers[%d].memory_mb", i), "%d MB was not profiled (the profile has %s)",
				b.MemoryMB, memoryList(curves))
		}
		if b.BatchSize > curves[j].MaxBatch() {
			return nil, inputerr.New("", 0, fmt.Sprintf("buffers[%d].batch_size", i), "%d is above the largest batch profiled at %d MB (%d)",
				b.BatchSize, b.MemoryMB, curves[j].MaxBatch())
		}
		t.Curves = append(t.Curves, curves[j])
	}
	return t, nil
}

// memoryList names the profiled memory sizes, shortened when there are many.
func memoryList(curves []*latency.Curve) string {
	var parts []string
	for i, c := range curves {
		if len(curves) > 8 && i == 3 {
			parts = append(parts, "…")
			i = len(curves) - 3
		}
		if len(curves) > 8 && i > 2 && i < len(curves)-3 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d", c.Key.MemoryMB))
	}
	return strings.Join(parts, ", ") + " MB"
}

// Result is a replay's outcome.
type Result struct {
	Estimate plan.Estimate
	Buffers  []plan.BufferStats
	// Latencies of every request in ms, grouped by buffer, each group in dispatch order (only with
	// Options.KeepLatencies).
	Latencies []float64
	// LatencyBuffer[i] is the buffer of Latencies[i] (only with Options.KeepLatencies).
	LatencyBuffer []uint16
	// PercentileMs is the latency at Options.Percentile (when set).
	PercentileMs float64
}

// Options tune a replay.
type Options struct {
	KeepLatencies bool
	// Percentile, when in (0, 100], also reports the latency at that percentile (the SLO's, say).
	Percentile float64
}

// Run replays tr through t (contract §4):
//   - a batch opens at the arrival t0 of its first request;
//   - it is dispatched at the arrival of its batch_size-th request or at t0 + timeout, whichever is first, and a
//     request arriving exactly at t0 + timeout still joins;
//   - it runs as one invocation padded to its largest size, for the profile's interpolated latency;
//   - invocations run in parallel without limit; a request's latency is dispatch − arrival + service time;
//   - billing rounds the service time up to a whole millisecond.
//
// Buffers never interact (Lambda runs invocations in parallel), so the replay routes every request to its
// buffer, forms each buffer's batches (batching.Form) and then costs them (Cost).
func Run(t *Target, tr *trace.Trace, opt Options) (*Result, error) {
	nb := len(t.Buffers)
	if nb == 0 {
		return nil, fmt.Errorf("replay: no buffers")
	}
	if nb > math.MaxUint16 {
		return nil, fmt.Errorf("replay: %d buffers", nb)
	}
	parts := batching.Route(plan.Ranges(t.Buffers), tr.Requests)
	n := len(tr.Requests)
	res := &Result{}
	all := make([]float64, 0, n)
	if opt.KeepLatencies {
		res.LatencyBuffer = make([]uint16, 0, n)
	}
	var (
		cost, padding, sumSize float64
		invocations, met       int
		batches                []batching.Batch
	)
	for k, reqs := range parts {
		b := t.Buffers[k]
		batches = batching.Form(reqs, b.BatchSize, b.TimeoutMicros(), batches[:0])
		from := len(all)
		var c Costed
		all, c = Cost(reqs, batches, t.Curves[k], b.MemoryMB, t.GBSecondUSD, t.RequestUSD, t.SLOMs, all)
		st := plan.BufferStats{Requests: len(reqs), Invocations: len(batches), CostUSD: c.CostUSD}
		if len(batches) > 0 {
			st.MeanBatch = float64(len(reqs)) / float64(len(batches))
			st.TimeoutShare = float64(c.TimedOut) / float64(len(batches))
			if c.Sizes > 0 {
				st.PaddingRatio = c.Padding / c.Sizes
			}
			st.LatencyP95Ms = quantile.Select(slices.Clone(all[from:]), 95)[0]
		}
		res.Buffers = append(res.Buffers, st)
		if opt.KeepLatencies {
			for range reqs {
				res.LatencyBuffer = append(res.LatencyBuffer, uint16(k))
			}
		}
		cost += c.CostUSD
		padding += c.Padding
		sumSize += c.Sizes
		invocations += len(batches)
		met += c.Met
	}
	e := plan.Estimate{Method: "replay", Requests: n, Invocations: float64(invocations), CostUSD: cost}
	if n > 0 {
		e.CostPerMillionUSD = cost / float64(n) * 1e6
		e.SLOAttainment = float64(met) / float64(n)
		e.PaddingRatio = padding / sumSize
		sel := all
		if opt.KeepLatencies {
			sel = slices.Clone(all) // percentiles reorder; the kept latencies stay grouped by buffer
			res.Latencies = all
		}
		want := []float64{50, 95, 99}
		if opt.Percentile > 0 && opt.Percentile <= 100 {
			want = append(want, opt.Percentile)
		}
		ps := quantile.Select(sel, want...)
		if len(ps) == 4 {
			res.PercentileMs = roundMicro(ps[3])
		}
		// to the microsecond, the resolution of arrival times: keeps 13453.820000000002 out of plan files
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
	}
	res.Estimate = e
	return res, nil
}

// Costed is the bill and SLO count of a buffer's batches at one memory size.
type Costed struct {
	CostUSD  float64
	Padding  float64 // Σ n·max − Σ sizes
	Sizes    float64 // Σ sizes
	Met      int     // requests with latency ≤ the SLO
	TimedOut int     // batches dispatched by the timeout
}

// Cost bills batches at memoryMB (contract §4.3–6) and appends each request's latency in ms to lat (in batch order).
func Cost(reqs []trace.Request, batches []batching.Batch, curve *latency.Curve, memoryMB int, gbSecondUSD, requestUSD, sloMs float64, lat []float64) ([]float64, Costed) {
	var c Costed
	perMs := awslambda.PerMsUSD(memoryMB, gbSecondUSD)
	for i := range batches {
		b := &batches[i]
		n := b.N()
		svc := curve.At(n, b.Max)
		c.CostUSD += awslambda.BilledMs(svc)*perMs + requestUSD
		c.Padding += b.Padding()
		c.Sizes += b.Sum
		if b.TimedOut {
			c.TimedOut++
		}
		for _, q := range reqs[b.Start:b.End] {
			l := float64(b.Dispatch-q.At)/1000 + svc
			if l <= sloMs {
				c.Met++
			}
			if lat != nil {
				lat = append(lat, l)
			}
		}
	}
	return lat, c
}

func roundMicro(ms float64) float64 { return math.Round(ms*1000) / 1000 }
