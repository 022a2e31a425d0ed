package reports

import (
	"fmt"

	"github.com/inferplan/inferplan/planner/plan"
)

// marginLines say what attainment margin a plan was searched with (none when it fits its trace exactly).
func marginLines(p *plan.Plan) []string {
	if p.Search == nil || p.Search.Margin == nil {
		return nil
	}
	m := p.Search.Margin
	line := fmt.Sprintf("        margin: %.2f points of attainment beyond p%g in sample (p%g)", m.Points, p.SLO.Percentile, p.SLO.Percentile+m.Points)
	if m.Method == "calibrated" {
		line += fmt.Sprintf(", calibrated: attainment spread %.2f points over %d time folds", m.FoldSpreadPoints, m.Folds)
	} else {
		line += ", as given"
	}
	return []string{line}
}

// validationSections show how the plan did on traffic it was not fitted to (plan --validate, --validate-trace).
func validationSections(p *plan.Plan) []Section {
	v := p.Validation
	if v == nil {
		return nil
	}
	held := "held out: the later " + trimZeros(fmt.Sprintf("%.1f", v.HeldOutFraction*100)) + "% of the trace's span"
	if v.Method == plan.ValidationTrace {
		held = "held out: " + v.Trace
	}
	s := Section{Title: "Validation on traffic the plan was not fitted to (replayed)", Columns: []Column{
		{"", false}, {"Requests", true}, {"$ / 1M req", true}, {"SLO met", true}, {"p95", true}, {"p99", true},
	}}
	row := func(name string, e plan.Estimate) []string {
		return []string{name, Thousands(float64(e.Requests), 0), USD(e.CostPerMillionUSD), Pct(e.SLOAttainment),
			Ms(e.LatencyP95Ms), Ms(e.LatencyP99Ms)}
	}
	s.Rows = append(s.Rows, row("plan, in sample", v.InSample), row("plan, "+held, v.HeldOut))
	if sb := v.HeldOutSingleBuffer; sb != nil {
		s.Rows = append(s.Rows, row("single buffer chosen in hindsight, held out", *sb))
	}
	verdict := "meets"
	if !v.Met(p.SLO) {
		verdict = "misses"
	}
	note := fmt.Sprintf("Held out, the plan %s the SLO: %s of requests within %s, p%g wanted.", verdict,
		Pct(v.HeldOut.SLOAttainment), Ms(p.SLO.LatencyMs), p.SLO.Percentile)
	if sb := v.HeldOutSingleBuffer; sb != nil && sb.CostUSD > 0 {
		note += fmt.Sprintf(" It costs %.3f× the best single buffer chosen in hindsight there.", v.HeldOut.CostUSD/sb.CostUSD)
	}
	s.Notes = append(s.Notes, note)
	return []Section{s}
}
