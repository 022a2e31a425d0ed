package reports

import (
	"fmt"
	"math"
	"strconv"

	"github.com/inferplan/inferplan/loadgen"
	"github.com/inferplan/inferplan/planner/plan"
)

// LoadDocument is a replay against a running gateway, measured beside the simulator's prediction for the same
// sped-up trace and the plan the gateway served.
func LoadDocument(r *loadgen.Report, p *plan.Plan) *Document {
	d := &Document{Title: fmt.Sprintf("Replay of %s against %s (model %s), %s× speed-up, seed %d",
		r.Trace, r.URL, r.Model, trimZeros(fmt.Sprintf("%.3f", r.Speedup)), r.Seed)}
	d.Lines = append(d.Lines,
		fmt.Sprintf("%s requests sent: %s OK, %s errors, %s lost, %s duplicated",
			Thousands(float64(r.Requests), 0), Thousands(float64(r.OK), 0), Thousands(float64(r.Errors), 0),
			Thousands(float64(r.Lost), 0), Thousands(float64(r.Duplicates), 0)),
		fmt.Sprintf("%s req/s over %s; the generator sent its latest request %s late",
			Thousands(r.ThroughputRPS, 1), Ms(r.DurationS*1000), Ms(r.MaxSendLagMs)))
	if r.Predicted == nil {
		d.Lines = append(d.Lines, "Predicted latency and cost need the plan's profile (--profile); batching is predicted from arrivals alone.")
	}

	pred := func(f func(e *plan.Estimate) string) string {
		if r.Predicted == nil {
			return "—"
		}
		return f(r.Predicted)
	}
	costPerM := 0.0
	if r.Dispatched > 0 {
		costPerM = r.CostUSD / float64(r.Dispatched) * 1e6
	}
	d.Sections = append(d.Sections, Section{
		Title:   fmt.Sprintf("Measured vs simulated (SLO p%g ≤ %s)", r.SLO.Percentile, Ms(r.SLO.LatencyMs)),
		Columns: []Column{{Name: "Metric"}, {Name: "Measured", Right: true}, {Name: "Simulated", Right: true}},
		Rows: [][]string{
			{"Latency p50", Ms(r.LatencyP50Ms), pred(func(e *plan.Estimate) string { return Ms(e.LatencyP50Ms) })},
			{"Latency p95", Ms(r.LatencyP95Ms), pred(func(e *plan.Estimate) string { return Ms(e.LatencyP95Ms) })},
			{"Latency p99", Ms(r.LatencyP99Ms), pred(func(e *plan.Estimate) string { return Ms(e.LatencyP99Ms) })},
			{"SLO attainment", Pct(r.SLOAttainment), pred(func(e *plan.Estimate) string { return Pct(e.SLOAttainment) })},
			{"Cost per 1M requests", USD(costPerM), pred(func(e *plan.Estimate) string { return USD(e.CostPerMillionUSD) })},
		},
	})
	unit := ""
	if p != nil {
		unit = p.SizeUnit
	}
	sizes := "Sizes"
	if unit != "" {
		sizes += " (" + unit + ")"
	}
	sec := Section{
		Title: "Batching per buffer: measured by the gateway, simulated by contract §4",
		Columns: []Column{{Name: "Buffer", Right: true}, {Name: sizes}, {Name: "Requests", Right: true},
			{Name: "Batches", Right: true}, {Name: "Simulated", Right: true}, {Name: "Δ", Right: true},
			{Name: "Mean batch", Right: true}, {Name: "Simulated", Right: true}, {Name: "Δ", Right: true},
			{Name: "p95", Right: true}, {Name: "Simulated p95", Right: true}},
	}
	for i, b := range r.Buffers {
		rng := ""
		if p != nil && p.Lambda != nil && i < len(p.Lambda.Buffers) {
			rng = Num(p.Lambda.Buffers[i].MinSize) + "–" + Num(p.Lambda.Buffers[i].MaxSize)
		}
		simP95 := "—"
		if r.Predicted != nil {
			simP95 = Ms(b.PredP95Ms)
		}
		sec.Rows = append(sec.Rows, []string{strconv.Itoa(b.Buffer), rng, Thousands(float64(b.Requests), 0),
			Thousands(float64(b.Batches), 0), Thousands(float64(b.PredBatches), 0), relDiff(float64(b.Batches), float64(b.PredBatches)),
			fmt.Sprintf("%.2f", b.MeanBatch), fmt.Sprintf("%.2f", b.PredMeanBatch), relDiff(b.MeanBatch, b.PredMeanBatch),
			Ms(b.LatencyP95Ms), simP95})
	}
	d.Sections = append(d.Sections, sec)
	d.Notes = append(d.Notes, arrivalNotes(r)...)
	if len(r.Codes) > 0 && r.Errors+r.Lost > 0 {
		for _, e := range r.Errs {
			d.Notes = append(d.Notes, "error: "+e)
		}
	}
	return d
}

// arrivalNotes compare the gateway's batches with the simulator's over the arrival times the gateway stamped: equal,
// they say the gateway kept contract §4 and any gap to the trace-time simulation came from the generator, the
// network or HTTP; different, they say which buffer broke it.
func arrivalNotes(r *loadgen.Report) []string {
	var off []string
	for _, b := range r.Buffers {
		if b.PredBatchesAsArrived == 0 && b.Requests > 0 {
			return nil // not every request was answered, so the arrivals are not all known
		}
		if b.Batches != b.PredBatchesAsArrived {
			off = append(off, fmt.Sprintf("buffer %d formed %s batches where the simulator forms %s at the gateway's own arrival times",
				b.Buffer, Thousands(float64(b.Batches), 0), Thousands(float64(b.PredBatchesAsArrived), 0)))
		}
	}
	if len(off) == 0 && len(r.Buffers) > 0 {
		return []string{"At the gateway's own arrival times the simulator forms exactly its batches: the differences " +
			"above come from the timing of the generator, the network and HTTP."}
	}
	return off
}

// relDiff is (got − want)/want as a signed percentage.
func relDiff(got, want float64) string {
	if want == 0 {
		if got == 0 {
			return "0.0%"
		}
		return "—"
	}
	v := (got - want) / want * 100
	if math.Abs(v) < 0.05 {
		v = 0
	}
	return fmt.Sprintf("%+.1f%%", v)
}
