package reports

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/inferplan/inferplan/planner/job"
)

// RenderJobPlan writes a data-parallel plan: JSON is the plan document; table and markdown the summary.
func RenderJobPlan(w io.Writer, f Format, p *job.Plan) error {
	if f == JSON {
		data, err := p.Marshal()
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return JobPlanDocument(p).Render(w, f)
}

// jobSeries is one line of the strong-scaling table: a platform, memory or EC2 type, and channel.
type jobSeries struct {
	name    string
	byN     map[int]*job.Configuration
	ordinal int
}

func jobSeriesOf(p *job.Plan) []*jobSeries {
	var out []*jobSeries
	idx := map[string]*jobSeries{}
	for i := range p.Configurations {
		c := &p.Configurations[i]
		s := idx[c.Series()]
		if s == nil {
			s = &jobSeries{name: c.Series(), byN: map[int]*job.Configuration{}, ordinal: len(out)}
			idx[c.Series()] = s
			out = append(out, s)
		}
		s.byN[c.Workers] = c
	}
	return out
}

func jobWorkers(p *job.Plan) []int {
	var ns []int
	for _, c := range p.Configurations {
		if !slices.Contains(ns, c.Workers) {
			ns = append(ns, c.Workers)
		}
	}
	slices.Sort(ns)
	return ns
}

// JobUSD formats a cost with three significant digits below a dollar: $0.00395, $0.0104, $0.250.
func JobUSD(v float64) string {
	if v <= 0 || v >= 1 {
		return USD(v)
	}
	decimals := 2 - int(math.Floor(math.Log10(v)))
	return fmt.Sprintf("$%.*f", decimals, v)
}

// JobSeconds formats a predicted time: "0.412 s", "12.3 s", "4.2 min".
func JobSeconds(s float64) string {
	switch {
	case s < 10:
		return fmt.Sprintf("%.3f s", s)
	case s < 600:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}

func jobTitle(p *job.Plan) string {
	var ops []string
	for _, s := range p.Job.Stages {
		op := s.Op
		if s.MB > 0 {
			op += fmt.Sprintf(" (%s MB)", Num(s.MB))
		}
		ops = append(ops, op)
	}
	t := fmt.Sprintf("Data-parallel plan: %s GB, %s", Num(p.Job.InputGB), strings.Join(ops, " → "))
	if p.Job.Name != "" {
		t = p.Job.Name + " — " + t
	}
	return t
}

// JobPlanDocument is the summary of a data-parallel plan: the recommendation, the strong-scaling table (time
// and efficiency for every series and worker count), the cost table, and how the channels compare.
func JobPlanDocument(p *job.Plan) *Document {
	d := &Document{Title: jobTitle(p)}
	if r := p.Recommended; r != nil {
		d.Lines = append(d.Lines, fmt.Sprintf("Recommended: %s — %s, %s (%s)", r.Describe(), JobSeconds(r.TimeS), JobUSD(r.CostUSD), p.Objective))
	} else {
		d.Lines = append(d.Lines, fmt.Sprintf("Recommended: none — nothing qualifies as %s", p.Objective))
	}
	if p.Inputs.JobFile != "" {
		d.Lines = append(d.Lines, "Job: "+p.Inputs.JobFile)
	}
	d.Lines = append(d.Lines, "Channel parameters: "+p.ChannelParams.Source,
		fmt.Sprintf("Prices: Lambda %s $%s per GB-second and %s per 1M requests, EC2 on-demand, as of %s",
			p.Pricing.Arch, trimZeros(fmt.Sprintf("%.10f", p.Pricing.GBSecondUSD)), USD(p.Pricing.RequestUSD*1e6), p.Pricing.AsOf))

	ns := jobWorkers(p)
	series := jobSeriesOf(p)
	cols := []Column{{Name: "Configuration"}}
	for _, n := range ns {
		cols = append(cols, Column{Name: fmt.Sprintf("%d workers", n), Right: true})
	}
	mark := func(c *job.Configuration) string {
		m := ""
		if !c.Feasible {
			m += " †"
		} else if c.MeetsDeadline != nil && !*c.MeetsDeadline || c.WithinBudget != nil && !*c.WithinBudget {
			m += " ✗"
		}
		if p.Recommended != nil && c.ID == p.Recommended.ID {
			m += " ★"
		}
		return m
	}
	timeSec := Section{Title: "Strong scaling: predicted time · efficiency against the fewest workers", Columns: cols}
	costSec := Section{Title: "Cost per run", Columns: cols}
	for _, s := range series {
		tr, cr := []string{s.name}, []string{s.name}
		for _, n := range ns {
			c := s.byN[n]
			if c == nil {
				tr, cr = append(tr, ""), append(cr, "")
				continue
			}
			tr = append(tr, fmt.Sprintf("%s · %s%s", JobSeconds(c.TimeS), Pct(c.Efficiency), mark(c)))
			cr = append(cr, JobUSD(c.CostUSD)+mark(c))
		}
		timeSec.Rows = append(timeSec.Rows, tr)
		costSec.Rows = append(costSec.Rows, cr)
	}
	legend := "★ recommended"
	if p.Job.DeadlineS > 0 || p.Job.BudgetUSD > 0 {
		legend += " · ✗ misses the deadline or budget"
	}
	legend += " · † cannot run (see below)"
	// notes go after the last table: in markdown a line right under a table would read as one of its rows
	d.Notes = append(d.Notes, legend)
	d.Sections = append(d.Sections, timeSec, costSec)
	if cmp := channelComparison(p, ns); len(cmp.Rows) > 0 {
		d.Sections = append(d.Sections, cmp)
	}
	var reasons []string
	for _, c := range p.Configurations {
		if !c.Feasible {
			reasons = append(reasons, fmt.Sprintf("† %s: %s", c.Describe(), strings.Join(c.Reasons, "; ")))
		}
	}
	if len(reasons) > 8 { // a summary, not a list of every configuration that does not fit
		reasons = append(reasons[:8], fmt.Sprintf("† … and %d more", len(reasons)-8))
	}
	d.Notes = append(d.Notes, reasons...)
	for _, w := range p.Warnings {
		d.Notes = append(d.Notes, "warning: "+w)
	}
	d.Notes = append(d.Notes, "Efficiency is T(n₀)·n₀ / (T(n)·n) against the fewest workers of the same configuration; EC2 runs one worker per vCPU, as many as the Lambda workers of 1,769 MB (one vCPU).")
	return d
}

// channelComparison sets every channel beside direct TCP at the largest worker count and smallest memory,
// with the EC2 clusters of as many workers.
func channelComparison(p *job.Plan, ns []int) Section {
	n := ns[len(ns)-1]
	mem := 0
	for _, c := range p.Configurations {
		if c.Platform == "lambda" && (mem == 0 || c.MemoryMB < mem) {
			mem = c.MemoryMB
		}
	}
	var base *job.Configuration
	var rows []*job.Configuration
	for i := range p.Configurations {
		c := &p.Configurations[i]
		if c.Workers != n || c.Platform == "lambda" && c.MemoryMB != mem {
			continue
		}
		if c.Platform == "lambda" && c.Channel == "direct" {
			base = c
		}
		rows = append(rows, c)
	}
	sec := Section{Title: fmt.Sprintf("Channels at %d workers", n), Columns: []Column{{Name: "Configuration"}, {Name: "Time", Right: true},
		{Name: "Cost", Right: true}, {Name: "Compute", Right: true}, {Name: "Communication", Right: true}, {Name: "Set-up", Right: true}, {Name: "vs direct", Right: true}}}
	for _, c := range rows {
		vs := ""
		if base != nil && c != base {
			vs = fmt.Sprintf("%.1f× the time, %.1f× the cost", c.TimeS/base.TimeS, c.CostUSD/base.CostUSD)
		}
		sec.Rows = append(sec.Rows, []string{c.Describe(), JobSeconds(c.TimeS), JobUSD(c.CostUSD), JobSeconds(c.Breakdown.ComputeS),
			JobSeconds(c.Breakdown.CommS), JobSeconds(c.Breakdown.SetupS), vs})
	}
	return sec
}

// JobCharts draws a data-parallel plan's figures: predicted time and strong-scaling efficiency by worker count.
func JobCharts(p *job.Plan) ([]Chart, error) {
	series := jobSeriesOf(p)
	ns := jobWorkers(p)
	timeP := newPlot("Strong scaling: predicted time", "workers", "seconds")
	timeP.X.Scale, timeP.Y.Scale = plot.LogScale{}, plot.LogScale{}
	timeP.X.Tick.Marker, timeP.Y.Tick.Marker = jobTicks(ns), plot.LogTicks{Prec: -1}
	effP := newPlot("Strong-scaling efficiency", "workers", "efficiency against the fewest workers")
	effP.X.Scale = plot.LogScale{}
	effP.X.Tick.Marker = jobTicks(ns)
	effP.Y.Min, effP.Y.Max = 0, 1.05
	// the legend sits in room kept free right of the largest worker count, off every line
	for _, pl := range []*plot.Plot{timeP, effP} {
		pl.Legend.Top = true
		pl.Legend.Left = false
		pl.Legend.XOffs, pl.Legend.YOffs = -vg.Points(4), -vg.Points(4)
		pl.Legend.TextStyle.Font.Size = vg.Points(8)
	}
	minT, maxT := math.Inf(1), 0.0
	for _, s := range series {
		var txy, exy plotter.XYs
		for _, n := range ns {
			if c := s.byN[n]; c != nil && c.TimeS > 0 {
				txy = append(txy, plotter.XY{X: float64(n), Y: c.TimeS})
				exy = append(exy, plotter.XY{X: float64(n), Y: c.Efficiency})
				minT, maxT = math.Min(minT, c.TimeS), math.Max(maxT, c.TimeS)
			}
		}
		if len(txy) == 0 {
			continue
		}
		style := jobLineStyle(s)
		for _, add := range []struct {
			pl  *plot.Plot
			xys plotter.XYs
		}{{timeP, txy}, {effP, exy}} {
			l, pts, err := plotter.NewLinePoints(add.xys)
			if err != nil {
				return nil, err
			}
			l.LineStyle = style
			pts.Shape = draw.CircleGlyph{}
			pts.Color = style.Color
			pts.Radius = vg.Points(2)
			add.pl.Add(l, pts)
			add.pl.Legend.Add(s.name, l)
		}
	}
	if maxT > 0 {
		timeP.Y.Min, timeP.Y.Max = minT/1.5, maxT*1.5
	}
	timeP.X.Min, timeP.X.Max = float64(ns[0])/1.3, float64(ns[len(ns)-1])*1.3*math.Pow(float64(ns[len(ns)-1])/float64(ns[0]), 0.6)
	effP.X.Min, effP.X.Max = timeP.X.Min, timeP.X.Max
	return []Chart{
		{Name: "scaling-time", Title: "Strong scaling", plot: timeP,
			Caption: "Predicted time of the whole job by worker count, log–log: a line falling at 45° scales perfectly. Lambda configurations are solid (direct), dashed (Redis) and dotted (S3); EC2 clusters are grey."},
		{Name: "scaling-efficiency", Title: "Efficiency", plot: effP,
			Caption: "Strong-scaling efficiency T(n₀)·n₀ / (T(n)·n) against the fewest workers of each configuration."},
	}, nil
}

// jobTicks labels the worker counts themselves.
type jobTicks []int

func (t jobTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, n := range t {
		out = append(out, plot.Tick{Value: float64(n), Label: fmt.Sprint(n)})
	}
	return out
}

var jobMemoryColors = []color.Color{palette[0], palette[2], palette[4], palette[3], palette[1]}

func jobLineStyle(s *jobSeries) draw.LineStyle {
	var c *job.Configuration
	for _, v := range s.byN {
		c = v
		break
	}
	st := draw.LineStyle{Width: vg.Points(1.4)}
	if c.Platform == "ec2" {
		st.Color = color.Gray{Y: uint8(60 + 50*(s.ordinal%3))}
		st.Width = vg.Points(2)
		return st
	}
	st.Color = jobMemoryColors[jobMemoryIndex(c.MemoryMB)%len(jobMemoryColors)]
	switch c.Channel {
	case "redis":
		st.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	case "s3":
		st.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
	}
	return st
}

// jobMemoryIndex orders Lambda memory sizes for colours: smaller first.
func jobMemoryIndex(mb int) int {
	switch {
	case mb <= 1769:
		return 0
	case mb <= 3538:
		return 1
	case mb <= 7076:
		return 2
	}
	return 3
}

// RenderJobHTML writes a self-contained HTML report of a data-parallel plan: the summary, then the charts
// inline as SVG.
func RenderJobHTML(w io.Writer, p *job.Plan, charts []Chart) error {
	return renderPage(w, JobPlanDocument(p), 1, charts,
		"Every number is the channel model's prediction (FMI's structure, in seconds and bytes) with the parameters above.")
}
