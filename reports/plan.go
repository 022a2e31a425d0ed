package reports

import (
	"fmt"
	"io"
	"math"

	"github.com/inferplan/inferplan/planner/plan"
)

// RenderPlan writes a plan in the given format: JSON is the plan document itself; table and markdown are the
// human summary.
func RenderPlan(w io.Writer, f Format, p *plan.Plan) error {
	if f == JSON {
		data, err := p.Marshal()
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return PlanDocument(p).Render(w, f)
}

// PlanDocument is the human summary of a plan: for Lambda, its buffers, then the plan against its baselines; for a
// cluster, its fleet, services and baselines.
func PlanDocument(p *plan.Plan) *Document {
	if p.Cluster != nil {
		return clusterPlanDocument(p)
	}
	return lambdaPlanDocument(p)
}

func lambdaPlanDocument(p *plan.Plan) *Document {
	l := p.Lambda
	d := &Document{Title: planTitle(p)}
	if in := p.Inputs; in != nil {
		d.Lines = append(d.Lines, fmt.Sprintf("Profile: %s", in.Profile),
			fmt.Sprintf("Trace: %s (%s requests over %s)", in.Trace, Thousands(float64(in.Requests), 0), Ms(in.SpanS*1000)))
	}
	price := fmt.Sprintf("Prices: $%s per GB-second, %s per 1M requests, as of %s", trimZeros(fmt.Sprintf("%.10f", l.Pricing.GBSecondUSD)), USD(l.Pricing.RequestUSD*1e6), l.Pricing.AsOf)
	if l.Pricing.Source != "" {
		price += " (" + l.Pricing.Source + ")"
	}
	d.Lines = append(d.Lines, price)
	if s := p.Search; s != nil {
		d.Lines = append(d.Lines, "Search: "+s.Method)
		line := fmt.Sprintf("        seed %d · %s analytic evaluations · %d replays", s.Seed, Thousands(float64(s.Evaluations), 0), s.Replays)
		if s.SizeClasses > 0 {
			line += fmt.Sprintf(" · %d size classes", s.SizeClasses)
		}
		if s.Seconds > 0 {
			line += fmt.Sprintf(" · %.1f s", s.Seconds)
		}
		d.Lines = append(d.Lines, line)
		if s.Refinement != "" {
			d.Lines = append(d.Lines, "        refined: "+s.Refinement)
		}
		d.Lines = append(d.Lines, marginLines(p)...) // validation.go
	}
	d.Sections = append(d.Sections, BuffersSection("Buffers", p.SizeUnit, l.Buffers))
	d.Sections = append(d.Sections, comparisonSection(p))
	d.Sections = append(d.Sections, validationSections(p)...) // validation.go
	if l.Analytic != nil {
		d.Sections = append(d.Sections, analyticSection(p))
	}
	if len(l.Schedule) > 0 {
		d.Sections = append(d.Sections, scheduleSection(p))
	}
	for _, w := range p.Warnings {
		d.Notes = append(d.Notes, "warning: "+w)
	}
	return d
}

func planTitle(p *plan.Plan) string {
	l := p.Lambda
	model := p.Model
	if model == "" {
		model = "the model"
	}
	arch := ""
	if l.Arch != "" {
		arch = " (" + l.Arch + ")"
	}
	return fmt.Sprintf("Plan for %s on AWS Lambda%s: SLO p%g ≤ %s, %d buffer%s",
		model, arch, p.SLO.Percentile, Ms(p.SLO.LatencyMs), len(l.Buffers), plural(len(l.Buffers)))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// BuffersSection tabulates buffers with their replay statistics when present.
func BuffersSection(title, unit string, bufs []plan.Buffer) Section {
	sizes := "Sizes"
	if unit != "" {
		sizes += " (" + unit + ")"
	}
	s := Section{Title: title, Columns: []Column{
		{"#", false}, {sizes, true}, {"Batch", true}, {"Timeout", true}, {"Memory", true},
		{"Requests", true}, {"Mean batch", true}, {"Padding", true}, {"p95", true}, {"$ / 1M req", true},
	}}
	for i, b := range bufs {
		row := []string{fmt.Sprint(i + 1), Num(b.MinSize) + "–" + Num(b.MaxSize), fmt.Sprint(b.BatchSize),
			Ms(b.TimeoutMs), fmt.Sprintf("%s MB", Thousands(float64(b.MemoryMB), 0))}
		if st := b.Stats; st != nil && st.Requests > 0 {
			row = append(row, Thousands(float64(st.Requests), 0), Num(st.MeanBatch), Pct(st.PaddingRatio),
				Ms(st.LatencyP95Ms), USD(st.CostUSD/float64(st.Requests)*1e6))
		} else {
			row = append(row, "–", "–", "–", "–", "–")
		}
		s.Rows = append(s.Rows, row)
	}
	return s
}

func comparisonSection(p *plan.Plan) Section {
	l := p.Lambda
	s := Section{Title: "Plan vs baselines (replayed)", Columns: []Column{
		{"", false}, {"$ / 1M req", true}, {"SLO met", true}, {"p50", true}, {"p95", true}, {"p99", true},
		{"Padding", true}, {"Invocations", true}, {"Plan saves", true},
	}}
	row := func(name string, e plan.Estimate, saves string) []string {
		return []string{name, USD(e.CostPerMillionUSD), Pct(e.SLOAttainment), Ms(e.LatencyP50Ms), Ms(e.LatencyP95Ms),
			Ms(e.LatencyP99Ms), Pct(e.PaddingRatio), Thousands(e.Invocations, 0), saves}
	}
	s.Rows = append(s.Rows, row("plan", p.Estimate, "–"))
	for _, b := range p.Baselines {
		s.Rows = append(s.Rows, row(b.Name, b.Estimate, Savings(b.Estimate.CostUSD, p.Estimate.CostUSD)))
	}
	if lb := l.LowerBound; lb != nil {
		ratio := "–"
		if lb.CostUSD > 0 {
			ratio = fmt.Sprintf("plan is %.2f× the bound", p.Estimate.CostUSD/lb.CostUSD)
		}
		s.Rows = append(s.Rows, []string{"ideal bound", USD(lb.CostPerMillionUSD), "100.0%", "–", "–", "–", "0.0%", "–", ratio})
		s.Notes = append(s.Notes, "ideal bound: every request in a full batch of its own exact size, no waiting, at the cheapest memory within the SLO.")
	}
	for _, b := range p.Baselines {
		if b.Estimate.SLOAttainment*100 < p.SLO.Percentile {
			s.Notes = append(s.Notes, fmt.Sprintf("%s misses the SLO: no configuration of it meets p%g ≤ %s.", b.Name, p.SLO.Percentile, Ms(p.SLO.LatencyMs)))
		}
	}
	return s
}

// Savings describes how much cheaper the plan is than a baseline: "2.41× (58.5%)".
func Savings(baselineUSD, planUSD float64) string {
	if planUSD <= 0 || baselineUSD <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f× (%.1f%%)", baselineUSD/planUSD, (1-planUSD/baselineUSD)*100)
}

func analyticSection(p *plan.Plan) Section {
	a, r := p.Lambda.Analytic, p.Estimate
	relErr := func(model, truth float64) string {
		if truth == 0 {
			return "–"
		}
		return fmt.Sprintf("%+.1f%%", (model-truth)/truth*100)
	}
	return Section{Title: "Analytic model vs replay", Columns: []Column{{"", false}, {"Analytic", true}, {"Replay", true}, {"Error", true}},
		Rows: [][]string{
			{"$ / 1M req", USD(a.CostPerMillionUSD), USD(r.CostPerMillionUSD), relErr(a.CostPerMillionUSD, r.CostPerMillionUSD)},
			{"SLO met", Pct(a.SLOAttainment), Pct(r.SLOAttainment), relErr(a.SLOAttainment, r.SLOAttainment)},
			{"p95", Ms(a.LatencyP95Ms), Ms(r.LatencyP95Ms), relErr(a.LatencyP95Ms, r.LatencyP95Ms)},
			{"Invocations", Thousands(a.Invocations, 0), Thousands(r.Invocations, 0), relErr(a.Invocations, r.Invocations)},
			{"Padding", Pct(a.PaddingRatio), Pct(r.PaddingRatio), relErr(a.PaddingRatio, r.PaddingRatio)},
		}}
}

func scheduleSection(p *plan.Plan) Section {
	l := p.Lambda
	s := Section{Title: "Schedule: one plan per window (buffers in the plan JSON)", Columns: []Column{
		{"Window", false}, {"Buffers", true}, {"Requests", true}, {"$ / 1M req", true}, {"SLO met", true}, {"p95", true},
		{"Whole-trace plan: $ / 1M", true}, {"SLO met", true},
	}}
	for _, w := range l.Schedule {
		s.Rows = append(s.Rows, []string{Duration(w.StartS) + "–" + Duration(w.EndS), fmt.Sprint(len(w.Buffers)),
			Thousands(float64(w.Estimate.Requests), 0), USD(w.Estimate.CostPerMillionUSD), Pct(w.Estimate.SLOAttainment),
			Ms(w.Estimate.LatencyP95Ms), USD(w.WholeTrace.CostPerMillionUSD), Pct(w.WholeTrace.SLOAttainment)})
	}
	if e := l.ScheduleEstimate; e != nil {
		s.Rows = append(s.Rows, []string{"schedule", "", Thousands(float64(e.Requests), 0), USD(e.CostPerMillionUSD),
			Pct(e.SLOAttainment), Ms(e.LatencyP95Ms), USD(p.Estimate.CostPerMillionUSD), Pct(p.Estimate.SLOAttainment)})
		s.Notes = append(s.Notes, fmt.Sprintf("Re-planning every window costs %s per 1M requests against %s for one plan for the whole trace (%s).",
			USD(e.CostPerMillionUSD), USD(p.Estimate.CostPerMillionUSD), Savings(p.Estimate.CostUSD, e.CostUSD)))
	}
	return s
}

// Duration formats seconds compactly: 90 → "1m30s", 3600 → "1h", 0 → "0".
func Duration(sec float64) string {
	d := int64(math.Round(sec))
	if d == 0 {
		return "0"
	}
	out := ""
	if h := d / 3600; h > 0 {
		out += fmt.Sprintf("%dh", h)
	}
	if m := d % 3600 / 60; m > 0 {
		out += fmt.Sprintf("%dm", m)
	}
	if s := d % 60; s > 0 {
		out += fmt.Sprintf("%ds", s)
	}
	return out
}

// ClusterSimulationDocument summarises a replay of a cluster plan over its workload's traces.
func ClusterSimulationDocument(p *plan.Plan, e plan.Estimate, workload string) *Document {
	return clusterSimulationDocument(p, e, workload)
}

// SimulationDocument summarises a replay of a plan over a trace.
func SimulationDocument(p *plan.Plan, bufs []plan.Buffer, e plan.Estimate, traceName string) *Document {
	d := &Document{Title: fmt.Sprintf("Replay of %s: SLO p%g ≤ %s", traceName, p.SLO.Percentile, Ms(p.SLO.LatencyMs))}
	d.Sections = append(d.Sections, BuffersSection("Buffers", p.SizeUnit, bufs))
	d.Sections = append(d.Sections, Section{Title: "Estimate (replay)", Columns: []Column{
		{"Requests", true}, {"Invocations", true}, {"Cost", true}, {"$ / 1M req", true}, {"SLO met", true},
		{"p50", true}, {"p95", true}, {"p99", true}, {"Padding", true},
	}, Rows: [][]string{{Thousands(float64(e.Requests), 0), Thousands(e.Invocations, 0), USD(e.CostUSD), USD(e.CostPerMillionUSD),
		Pct(e.SLOAttainment), Ms(e.LatencyP50Ms), Ms(e.LatencyP95Ms), Ms(e.LatencyP99Ms), Pct(e.PaddingRatio)}}})
	if e.SLOAttainment*100 < p.SLO.Percentile {
		d.Notes = append(d.Notes, fmt.Sprintf("The SLO is missed: %s of requests within %s, %g%% wanted.", Pct(e.SLOAttainment), Ms(p.SLO.LatencyMs), p.SLO.Percentile))
	}
	return d
}
