package reports

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/planner/check"
	"github.com/inferplan/inferplan/planner/plan"
)

// RenderCheck writes a check's report.
func RenderCheck(w io.Writer, f Format, r check.Result) error {
	if f == JSON {
		return WriteJSON(w, r)
	}
	return CheckDocument(r, f == Markdown).Render(w, f)
}

func verdict(r check.Result, md bool) string {
	mark := map[bool]string{true: "PASS", false: "FAIL"}[r.Pass]
	if md {
		mark = map[bool]string{true: "✅ pass", false: "❌ fail"}[r.Pass]
	}
	if r.Pass {
		return fmt.Sprintf("%s: %d threshold%s met", mark, len(r.Checks), plural(len(r.Checks)))
	}
	return fmt.Sprintf("%s: %d of %d threshold%s broken", mark, r.Broken, len(r.Checks), plural(len(r.Checks)))
}

// CheckDocument is a check's report: one row per threshold with the value, the limit and the verdict.
func CheckDocument(r check.Result, md bool) *Document {
	d := &Document{Title: "inferplan check of " + r.Plan + " — " + verdict(r, md)}
	s := r.Summary
	line := fmt.Sprintf("Plan: %d buffers, %s per 1M requests, SLO p%g ≤ %s met by %s (p95 %s, p99 %s)",
		s.Buffers, USD(s.CostPerMillionUSD), s.SLOPercentile, Ms(s.SLOLatencyMs), Pct(s.SLOAttainment), Ms(s.LatencyP95Ms), Ms(s.LatencyP99Ms))
	if s.Platform == plan.PlatformCluster {
		n := fmt.Sprint(s.Instances)
		if s.MinInstances > 0 {
			n = fmt.Sprintf("%d–%d", s.MinInstances, s.Instances)
		}
		line = fmt.Sprintf("Plan: a fleet of %s instance%s, %s an hour, %s per 1M requests, %d of %d service SLOs met",
			n, plural(s.Instances), USD(s.CostPerHourUSD), USD(s.CostPerMillionUSD), s.ServicesMet, s.Services)
	}
	if s.MonthlyUSD != nil {
		line += fmt.Sprintf("; %s a month", USD(*s.MonthlyUSD))
	}
	d.Lines = append(d.Lines, line)
	if r.Baseline != "" {
		d.Lines = append(d.Lines, "Baseline: "+r.Baseline)
	}
	sec := Section{Columns: []Column{{"", false}, {"Threshold", false}, {"Value", true}, {"Limit", true}}}
	for _, c := range r.Checks {
		mark := "ok"
		if !c.Pass {
			mark = "BROKEN"
		}
		if md {
			mark = map[bool]string{true: "✅", false: "❌"}[c.Pass]
		}
		sec.Rows = append(sec.Rows, []string{mark, c.Name, checkValue(c.Value, c.Unit), c.Op + " " + checkValue(c.Limit, c.Unit)})
	}
	d.Sections = append(d.Sections, sec)
	return d
}

func checkValue(v float64, unit string) string {
	switch unit {
	case "usd", "usd_per_million":
		return USD(v)
	case "share":
		return Pct(v)
	case "ms":
		return Ms(v)
	case "pct":
		if s, ok := nonFinite(v); ok {
			return s
		}
		return fmt.Sprintf("%+.2f%%", v)
	}
	return Num(v)
}

// GitHubCommentLimit is the size GitHub accepts for a comment; markdown diffs stay under it.
const GitHubCommentLimit = 65536

// RenderDiff writes what changed between two plans. Markdown is ready for a pull-request comment: a summary
// table, then the buffers in a collapsed section, trimmed to fit limit bytes (GitHubCommentLimit when 0).
func RenderDiff(w io.Writer, f Format, oldName, newName string, d plan.Diff, limit int) error {
	if f == JSON {
		return WriteJSON(w, struct {
			Old  string `json:"old"`
			New  string `json:"new"`
			Diff plan.Diff
		}{oldName, newName, d})
	}
	if f != Markdown {
		return diffDocument(oldName, newName, d, len(d.Buffers)).Render(w, f)
	}
	if limit <= 0 {
		limit = GitHubCommentLimit
	}
	// trim buffer rows until the comment fits
	for rows := len(d.Buffers); rows >= 0; rows-- {
		var b strings.Builder
		diffMarkdown(&b, oldName, newName, d, rows)
		if b.Len() <= limit || rows == 0 {
			_, err := io.WriteString(w, b.String())
			return err
		}
	}
	return nil
}

func rel(a, b float64) string {
	if a == 0 {
		return "–"
	}
	return fmt.Sprintf("%+.1f%%", (b/a-1)*100)
}

func pts(a, b float64) string { return fmt.Sprintf("%+.1f pts", (b-a)*100) }

func summaryRows(d plan.Diff) [][]string {
	o, n := d.Old, d.New
	if o.Platform == plan.PlatformCluster || n.Platform == plan.PlatformCluster {
		return clusterSummaryRows(d)
	}
	rows := [][]string{
		{"$ / 1M requests", USD(o.CostPerMillionUSD), USD(n.CostPerMillionUSD), rel(o.CostPerMillionUSD, n.CostPerMillionUSD)},
	}
	if o.MonthlyUSD != nil && n.MonthlyUSD != nil {
		rows = append(rows, []string{"$ / month", USD(*o.MonthlyUSD), USD(*n.MonthlyUSD), rel(*o.MonthlyUSD, *n.MonthlyUSD)})
	}
	rows = append(rows,
		[]string{"SLO", fmt.Sprintf("p%g ≤ %s", o.SLOPercentile, Ms(o.SLOLatencyMs)), fmt.Sprintf("p%g ≤ %s", n.SLOPercentile, Ms(n.SLOLatencyMs)), ""},
		[]string{"SLO met", Pct(o.SLOAttainment), Pct(n.SLOAttainment), pts(o.SLOAttainment, n.SLOAttainment)},
		[]string{"p95", Ms(o.LatencyP95Ms), Ms(n.LatencyP95Ms), rel(o.LatencyP95Ms, n.LatencyP95Ms)},
		[]string{"p99", Ms(o.LatencyP99Ms), Ms(n.LatencyP99Ms), rel(o.LatencyP99Ms, n.LatencyP99Ms)},
		[]string{"Padding", Pct(o.PaddingRatio), Pct(n.PaddingRatio), pts(o.PaddingRatio, n.PaddingRatio)},
		[]string{"Invocations / 1M requests", Thousands(o.InvocationsPerM, 0), Thousands(n.InvocationsPerM, 0), rel(o.InvocationsPerM, n.InvocationsPerM)},
		[]string{"Buffers", fmt.Sprint(o.Buffers), fmt.Sprint(n.Buffers), fmt.Sprintf("%+d", n.Buffers-o.Buffers)},
		[]string{"Arch / prices", o.Arch + " / " + o.PricesAsOf, n.Arch + " / " + n.PricesAsOf, ""},
	)
	return rows
}

func bufferCell(b *plan.Buffer) string {
	if b == nil {
		return "–"
	}
	return fmt.Sprintf("batch %d, %s, %d MB", b.BatchSize, Ms(b.TimeoutMs), b.MemoryMB)
}

func bufferRange(c plan.BufferChange) string {
	b := c.New
	if b == nil {
		b = c.Old
	}
	return Num(b.MinSize) + "–" + Num(b.MaxSize)
}

func bufferRows(d plan.Diff, n int) [][]string {
	var rows [][]string
	for _, c := range d.Buffers[:n] {
		ch := strings.Join(c.Changes, "; ")
		if ch == "" {
			ch = "unchanged"
		}
		rows = append(rows, []string{bufferRange(c), bufferCell(c.Old), bufferCell(c.New), ch})
	}
	return rows
}

func headline(d plan.Diff) string {
	o, n := d.Old.CostPerMillionUSD, d.New.CostPerMillionUSD
	switch {
	case o == 0:
		return fmt.Sprintf("cost %s per 1M requests", USD(n))
	case n > o:
		return fmt.Sprintf("cost up %.1f%% (%s → %s per 1M requests)", (n/o-1)*100, USD(o), USD(n))
	case n < o:
		return fmt.Sprintf("cost down %.1f%% (%s → %s per 1M requests)", (1-n/o)*100, USD(o), USD(n))
	}
	return fmt.Sprintf("cost unchanged (%s per 1M requests)", USD(n))
}

var diffColumns = []Column{{"", false}, {"Old", true}, {"New", true}, {"Change", true}}
var bufferColumns = []Column{{"Sizes", true}, {"Old", false}, {"New", false}, {"Change", false}}

func diffDocument(oldName, newName string, d plan.Diff, rows int) *Document {
	doc := &Document{Title: fmt.Sprintf("inferplan diff %s → %s: %s", oldName, newName, headline(d))}
	doc.Sections = append(doc.Sections, Section{Columns: diffColumns, Rows: summaryRows(d)})
	if len(d.Pools) > 0 {
		doc.Sections = append(doc.Sections, Section{Title: "Instances", Columns: poolColumns, Rows: poolRows(d)})
		return doc
	}
	doc.Sections = append(doc.Sections, Section{Title: "Buffers", Columns: bufferColumns, Rows: bufferRows(d, rows)})
	return doc
}

var poolColumns = []Column{{"Instance type", false}, {"Old", true}, {"New", true}, {"Change", true}}

func poolRows(d plan.Diff) [][]string {
	var rows [][]string
	for _, p := range d.Pools {
		rows = append(rows, []string{p.InstanceType, fmt.Sprint(p.Old), fmt.Sprint(p.New), fmt.Sprintf("%+d", p.New-p.Old)})
	}
	return rows
}

// clusterSummaryRows compare cluster plans: the fleet's cost, and each service against its SLO.
func clusterSummaryRows(d plan.Diff) [][]string {
	o, n := d.Old, d.New
	rows := [][]string{
		{"$ / hour", USD(o.CostPerHourUSD), USD(n.CostPerHourUSD), rel(o.CostPerHourUSD, n.CostPerHourUSD)},
		{"$ / 1M requests", USD(o.CostPerMillionUSD), USD(n.CostPerMillionUSD), rel(o.CostPerMillionUSD, n.CostPerMillionUSD)},
	}
	if o.MonthlyUSD != nil && n.MonthlyUSD != nil {
		rows = append(rows, []string{"$ / month", USD(*o.MonthlyUSD), USD(*n.MonthlyUSD), rel(*o.MonthlyUSD, *n.MonthlyUSD)})
	}
	rows = append(rows,
		[]string{"Instances", fmt.Sprint(o.Instances), fmt.Sprint(n.Instances), fmt.Sprintf("%+d", n.Instances-o.Instances)},
		[]string{"Service SLOs met", fmt.Sprintf("%d/%d", o.ServicesMet, o.Services), fmt.Sprintf("%d/%d", n.ServicesMet, n.Services), ""})
	find := func(ss []plan.ServiceSummary, name string) *plan.ServiceSummary {
		for i := range ss {
			if ss[i].Name == name {
				return &ss[i]
			}
		}
		return nil
	}
	var names []string
	for _, s := range append(slices.Clone(o.PerService), n.PerService...) {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	for _, name := range names {
		a, b := find(o.PerService, name), find(n.PerService, name)
		cell := func(s *plan.ServiceSummary) string {
			if s == nil {
				return "–"
			}
			return fmt.Sprintf("%s, p99 %s", Pct(s.SLOAttainment), Ms(s.LatencyP99Ms))
		}
		change := ""
		if a != nil && b != nil {
			change = rel(a.LatencyP99Ms, b.LatencyP99Ms)
		}
		rows = append(rows, []string{name + " within SLO", cell(a), cell(b), change})
	}
	return rows
}

func diffMarkdown(w io.Writer, oldName, newName string, d plan.Diff, rows int) {
	fmt.Fprintf(w, "### inferplan: %s\n\n", headline(d))
	fmt.Fprintf(w, "`%s` → `%s`\n\n", oldName, newName)
	sum := Section{Columns: diffColumns, Rows: summaryRows(d)}
	_ = sum.render(w, true)
	if len(d.Pools) > 0 {
		fmt.Fprintf(w, "\n<details><summary>Instances</summary>\n\n")
		pools := Section{Columns: poolColumns, Rows: poolRows(d)}
		_ = pools.render(w, true)
		fmt.Fprintf(w, "\n</details>\n")
		return
	}
	changed := 0
	for _, c := range d.Buffers {
		if len(c.Changes) > 0 {
			changed++
		}
	}
	fmt.Fprintf(w, "\n<details><summary>Buffers: %d of %d changed</summary>\n\n", changed, len(d.Buffers))
	buf := Section{Columns: bufferColumns, Rows: bufferRows(d, rows)}
	_ = buf.render(w, true)
	if rows < len(d.Buffers) {
		fmt.Fprintf(w, "\n… %d more buffers left out to fit a comment; see the plan files.\n", len(d.Buffers)-rows)
	}
	fmt.Fprint(w, "\n</details>\n")
}
