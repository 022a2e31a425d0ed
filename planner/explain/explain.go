// Package explain computes what a report shows about a plan, once, from the plan and the profile and trace it was
// made from: the trace's size distribution with the buffer boundaries, the latency distributions of the plan and
// its baselines (by replay), their costs, and each buffer's batching. Package reports renders it.
package explain

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/quantile"
	"github.com/inferplan/inferplan/trace"
)

// Data is the report model.
type Data struct {
	Plan       *plan.Plan
	Sizes      []Bin     // histogram of the trace's request sizes
	Boundaries []float64 // between buffers: halfway from the largest size of one to the smallest of the next
	Curves     []Curve   // latency CDFs: the plan first, then its baselines
	Costs      []Cost    // cost per million: the plan, its baselines, the ideal bound
	Buffers    []Buffer  // the plan's buffers
	Windows    []Window  // the schedule, when the plan has one
}

// Bin is one histogram bar: requests with size in [Lo, Hi).
type Bin struct {
	Lo, Hi float64
	Count  int
}

// Curve is an empirical latency CDF, sampled.
type Curve struct {
	Name  string
	Ms    []float64 // latency at each share
	Share []float64 // ascending in (0, 1]
}

// Cost is one bar of the cost chart.
type Cost struct {
	Name          string
	PerMillionUSD float64
}

// Buffer is one buffer's batching.
type Buffer struct {
	Label        string
	BatchSize    int
	MeanBatch    float64
	PaddingRatio float64
	Requests     int
}

// Window is one window of a schedule.
type Window struct {
	StartS, EndS                 float64
	PerMillionUSD, WholeTraceUSD float64
}

// Build replays a Lambda plan and its baselines over tr with the latencies of tab.
func Build(p *plan.Plan, tab *latency.Table, tr *trace.Trace) (*Data, error) {
	l := p.Lambda
	if l == nil {
		return nil, fmt.Errorf("explain: a %s plan has no Lambda buffers", p.Platform)
	}
	d := &Data{Plan: p, Sizes: histogram(tr, 40)}
	for i := 1; i < len(l.Buffers); i++ {
		d.Boundaries = append(d.Boundaries, (l.Buffers[i-1].MaxSize+l.Buffers[i].MinSize)/2)
	}
	type named struct {
		name, field string // field: where its buffers are in the plan file
		bufs        []plan.Buffer
	}
	runs := []named{{"plan", "", l.Buffers}}
	for i, b := range p.Baselines {
		runs = append(runs, named{b.Name, fmt.Sprintf("baselines[%d].", i), b.Buffers})
	}
	for _, r := range runs {
		tg, err := replay.ResolveBuffers(plan.Strip(r.bufs), tab, l.Arch, l.Pricing.GBSecondUSD, l.Pricing.RequestUSD, p.SLO.LatencyMs)
		var ie *inputerr.Error
		if errors.As(err, &ie) {
			ie.Field = r.field + ie.Field
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		res, err := replay.Run(tg, tr, replay.Options{KeepLatencies: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		d.Curves = append(d.Curves, cdf(r.name, res.Latencies, 240))
		d.Costs = append(d.Costs, Cost{r.name, res.Estimate.CostPerMillionUSD})
		if r.name == "plan" {
			for i, b := range r.bufs {
				st := res.Buffers[i]
				d.Buffers = append(d.Buffers, Buffer{Label: label(b), BatchSize: b.BatchSize, MeanBatch: st.MeanBatch,
					PaddingRatio: st.PaddingRatio, Requests: st.Requests})
			}
		}
	}
	if lb := l.LowerBound; lb != nil {
		d.Costs = append(d.Costs, Cost{"ideal bound", lb.CostPerMillionUSD})
	}
	for _, w := range l.Schedule {
		d.Windows = append(d.Windows, Window{w.StartS, w.EndS, w.Estimate.CostPerMillionUSD, w.WholeTrace.CostPerMillionUSD})
	}
	return d, nil
}

func label(b plan.Buffer) string {
	if b.MaxSize >= plan.NoUpperBound {
		return fmt.Sprintf("≥%g", b.MinSize)
	}
	if b.MinSize == b.MaxSize {
		return fmt.Sprintf("%g", b.MinSize)
	}
	return fmt.Sprintf("%g–%g", b.MinSize, b.MaxSize)
}

// histogram bins the sizes: one bar per distinct size when there are at most 64, else n equal-width bins.
func histogram(tr *trace.Trace, n int) []Bin {
	if tr.Len() == 0 {
		return nil
	}
	sizes := make([]float64, tr.Len())
	for i, q := range tr.Requests {
		sizes[i] = q.Size
	}
	slices.Sort(sizes)
	distinct := slices.Compact(slices.Clone(sizes))
	var bins []Bin
	if len(distinct) <= 64 {
		gap := math.Inf(1)
		for i := 1; i < len(distinct); i++ {
			gap = math.Min(gap, distinct[i]-distinct[i-1])
		}
		if math.IsInf(gap, 1) {
			gap = 1
		}
		for _, v := range distinct {
			bins = append(bins, Bin{Lo: v - gap*0.4, Hi: v + gap*0.4})
		}
		for _, s := range sizes {
			i, _ := slices.BinarySearch(distinct, s)
			bins[i].Count++
		}
		return bins
	}
	lo, hi := sizes[0], sizes[len(sizes)-1]
	w := (hi - lo) / float64(n)
	for i := 0; i < n; i++ {
		bins = append(bins, Bin{Lo: lo + float64(i)*w, Hi: lo + float64(i+1)*w})
	}
	for _, s := range sizes {
		i := min(int((s-lo)/w), n-1)
		bins[i].Count++
	}
	return bins
}

// cdf samples the empirical distribution of lat at points shares (nearest rank).
func cdf(name string, lat []float64, points int) Curve {
	s := slices.Clone(lat)
	slices.Sort(s)
	c := Curve{Name: name}
	for k := 1; k <= points; k++ {
		q := float64(k) / float64(points)
		c.Share = append(c.Share, q)
		c.Ms = append(c.Ms, quantile.NearestRank(s, q*100))
	}
	return c
}
