package reports

import (
	"fmt"
	"strconv"

	"github.com/inferplan/inferplan/loadgen"
)

// ClusterLoadDocument is a replay of a workload against a cluster gateway: per service the measured attainment
// and tail beside the simulator's (over the sped-up traces, and over the arrivals as the gateway stamped them),
// and per worker the batches the gateway dispatched beside those the simulator forms.
func ClusterLoadDocument(r *loadgen.ClusterReport) *Document {
	d := &Document{Title: fmt.Sprintf("Replay of %s against %s, %s× speed-up, seed %d",
		r.Workload, r.URL, trimZeros(fmt.Sprintf("%.3f", r.Speedup)), r.Seed)}
	d.Lines = append(d.Lines,
		fmt.Sprintf("%s requests sent: %s OK (%s spilled to Lambda), %s errors, %s lost, %s duplicated",
			Thousands(float64(r.Requests), 0), Thousands(float64(r.OK), 0), Thousands(float64(r.Spilled), 0),
			Thousands(float64(r.Errors), 0), Thousands(float64(r.Lost), 0), Thousands(float64(r.Duplicates), 0)),
		fmt.Sprintf("over %s; the generator sent its latest request %s late", Ms(r.DurationS*1000), Ms(r.MaxLagMs)))
	opt := func(v *float64, f func(float64) string) string {
		if v == nil {
			return "—"
		}
		return f(*v)
	}
	svc := Section{Title: "Per service: measured, simulated on the sped-up trace, and simulated on the gateway's arrival stamps",
		Columns: []Column{{Name: "Service"}, {Name: "SLO", Right: true}, {Name: "Requests", Right: true}, {Name: "To Lambda", Right: true},
			{Name: "Within SLO", Right: true}, {Name: "Simulated", Right: true}, {Name: "As arrived", Right: true},
			{Name: "p99", Right: true}, {Name: "Simulated", Right: true}, {Name: "As arrived", Right: true}}}
	for _, s := range r.Services {
		svc.Rows = append(svc.Rows, []string{s.Name, fmt.Sprintf("p%g ≤ %s", s.SLO.Percentile, Ms(s.SLO.LatencyMs)),
			Thousands(float64(s.Requests), 0), fmt.Sprintf("%d (sim. %d)", s.Spilled, s.PredSpilled),
			Pct(s.SLOAttainment), Pct(s.PredAttainment), opt(s.ArrivedAttainment, Pct),
			Ms(s.LatencyP99Ms), Ms(s.PredP99Ms), opt(s.ArrivedP99Ms, Ms)})
	}
	d.Sections = append(d.Sections, svc)
	if len(r.Workers) > 0 {
		wk := Section{Title: "Per worker: batches the gateway dispatched and the simulator's",
			Columns: []Column{{Name: "Worker"}, {Name: "Service"}, {Name: "Requests", Right: true}, {Name: "Batches", Right: true},
				{Name: "Mean batch", Right: true}, {Name: "Simulated", Right: true}, {Name: "As arrived", Right: true}}}
		for _, w := range r.Workers {
			as := "—"
			if w.PredBatchesAsArrived != nil {
				as = strconv.Itoa(*w.PredBatchesAsArrived)
			}
			wk.Rows = append(wk.Rows, []string{w.ID, w.Service, Thousands(float64(w.Requests), 0), Thousands(float64(w.Batches), 0),
				fmt.Sprintf("%.2f", w.MeanBatch), Thousands(float64(w.PredBatches), 0), as})
		}
		switch {
		case r.BatchesMatch == nil:
			wk.Notes = append(wk.Notes, "As arrived: needs every request answered OK by a worker (the answers that carry their arrival stamp).")
		case *r.BatchesMatch:
			wk.Notes = append(wk.Notes, "Every worker dispatched exactly the batches the simulator forms over the gateway's arrival stamps.")
		default:
			wk.Notes = append(wk.Notes, "Some worker's batches differ from the simulator's over the gateway's own arrival stamps: the gateway broke the batching rules.")
		}
		d.Sections = append(d.Sections, wk)
	}
	for _, e := range r.Errs {
		d.Notes = append(d.Notes, "error: "+e)
	}
	return d
}
