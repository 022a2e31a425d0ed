// Package replay is the trace-replay simulator: it pushes every request of a trace through a plan's buffers with
// exactly the batching and billing semantics of contract §4 and measures cost, latency and padding. It is the
// ground truth every analytic estimate is checked against, so it favours plainness over cleverness, and it is fast
// enough (millions of requests per second) to sit inside a search loop.
package replay

import (
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/planner/trace"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/latency"
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
	return ResolveBuffers(p.Buffers, tab, p.Arch, p.Pricing.GBSecondUSD, p.Pricing.RequestUSD, p.SLO.LatencyMs)
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
	for i, b := range bufs {
		j := slices.IndexFunc(curves, func(c *latency.Curve) bool { return c.Key.MemoryMB == b.MemoryMB })
		if j < 0 {
			return nil, fmt.Errorf("buffer %d: memory %d MB was not profiled", i, b.MemoryMB)
		}
		if b.BatchSize > curves[j].MaxBatch() {
			return nil, fmt.Errorf("buffer %d: batch size %d is above the largest batch profiled at %d MB (%d)",
				i, b.BatchSize, b.MemoryMB, curves[j].MaxBatch())
		}
		t.Curves = append(t.Curves, curves[j])
	}
	return t, nil
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
// buffer, forms each buffer's batches (FormBatches) and then costs them (Cost).
func Run(t *Target, tr *trace.Trace, opt Options) (*Result, error) {
	nb := len(t.Buffers)
	if nb == 0 {
		return nil, fmt.Errorf("replay: no buffers")
	}
	if nb > math.MaxUint16 {
		return nil, fmt.Errorf("replay: %d buffers", nb)
	}
	parts := Route(t.Buffers, tr.Requests)
	n := len(tr.Requests)
	res := &Result{}
	all := make([]float64, 0, n)
	if opt.KeepLatencies {
		res.LatencyBuffer = make([]uint16, 0, n)
	}
	var (
		cost, padding, sumSize float64
		invocations, met       int
		batches                []Batch
	)
	for k, reqs := range parts {
		b := t.Buffers[k]
		batches = FormBatches(reqs, b.BatchSize, b.TimeoutMicros(), batches[:0])
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
			st.LatencyP95Ms = percentiles(slices.Clone(all[from:]), 95)[0]
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
		ps := percentiles(sel, want...)
		if len(ps) == 4 {
			res.PercentileMs = roundMicro(ps[3])
		}
		// to the microsecond, the resolution of arrival times: keeps 13453.820000000002 out of plan files
		e.LatencyP50Ms, e.LatencyP95Ms, e.LatencyP99Ms = roundMicro(ps[0]), roundMicro(ps[1]), roundMicro(ps[2])
	}
	res.Estimate = e
	return res, nil
}

// Route splits requests (in arrival order) by buffer, keeping arrival order within each (plan.BufferFor).
func Route(bufs []plan.Buffer, reqs []trace.Request) [][]trace.Request {
	parts := make([][]trace.Request, len(bufs))
	if len(bufs) == 1 {
		parts[0] = reqs
		return parts
	}
	for _, q := range reqs {
		k := plan.BufferFor(bufs, q.Size)
		parts[k] = append(parts[k], q)
	}
	return parts
}

// Batch is one invocation formed by a buffer: requests [Start, End) of the buffer's requests.
type Batch struct {
	Start, End int
	Dispatch   int64   // µs
	Max, Sum   float64 // largest size and total size of its requests
	TimedOut   bool    // dispatched by the timeout rather than full
}

// N is the number of requests in the batch.
func (b *Batch) N() int { return b.End - b.Start }

// FormBatches cuts one buffer's requests (in arrival order) into batches by contract §4.1–2, appending to dst.
// Batches depend only on arrivals, batch size and timeout — not on memory — so a search can form them once and
// cost them at every memory size.
func FormBatches(reqs []trace.Request, batch int, timeout int64, dst []Batch) []Batch {
	if len(reqs) == 0 {
		return dst
	}
	cur := Batch{Start: 0, Max: reqs[0].Size, Sum: reqs[0].Size}
	t0 := reqs[0].At
	for i := 1; i < len(reqs); i++ {
		q := reqs[i]
		if cur.End = i; i-cur.Start == batch {
			cur.Dispatch = reqs[i-1].At
			dst = append(dst, cur)
			cur, t0 = Batch{Start: i, Max: q.Size, Sum: q.Size}, q.At
			continue
		}
		if q.At > t0+timeout {
			cur.Dispatch, cur.TimedOut = t0+timeout, true
			dst = append(dst, cur)
			cur, t0 = Batch{Start: i, Max: q.Size, Sum: q.Size}, q.At
			continue
		}
		cur.Sum += q.Size
		cur.Max = math.Max(cur.Max, q.Size)
	}
	cur.End = len(reqs)
	if cur.N() == batch {
		cur.Dispatch = reqs[len(reqs)-1].At
	} else {
		cur.Dispatch, cur.TimedOut = t0+timeout, true
	}
	return append(dst, cur)
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
func Cost(reqs []trace.Request, batches []Batch, curve *latency.Curve, memoryMB int, gbSecondUSD, requestUSD, sloMs float64, lat []float64) ([]float64, Costed) {
	var c Costed
	perMs := float64(memoryMB) / 1024 * gbSecondUSD / 1000
	for i := range batches {
		b := &batches[i]
		n := b.N()
		svc := curve.At(n, b.Max)
		c.CostUSD += pricing.BilledMs(svc)*perMs + requestUSD
		c.Padding += float64(n)*b.Max - b.Sum
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

// percentiles returns nearest-rank percentiles of xs (reordering xs): the value at rank ⌈p/100 · n⌉.
func percentiles(xs []float64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(xs) == 0 {
		return out
	}
	for i, p := range ps {
		k := int(math.Ceil(p*float64(len(xs))/100-1e-9)) - 1
		k = min(max(k, 0), len(xs)-1)
		out[i] = selectK(xs, k)
	}
	return out
}

// selectK returns the k-th smallest element (0-based) by quickselect, partially reordering xs: O(n) on average,
// so three percentiles of a million latencies cost a few milliseconds rather than a sort.
func selectK(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		// median of three as pivot keeps sorted and constant inputs linear
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
