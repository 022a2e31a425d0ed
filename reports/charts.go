package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/inferplan/inferplan/planner/explain"
)

// Chart is one figure of a report.
type Chart struct {
	Name    string // file name stem: sizes, latency, cost, batching, padding, schedule
	Title   string
	Caption string
	plot    *plot.Plot
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255},  // plan: blue
	color.RGBA{214, 39, 40, 255},   // red
	color.RGBA{255, 127, 14, 255},  // orange
	color.RGBA{44, 160, 44, 255},   // green
	color.RGBA{148, 103, 189, 255}, // purple
}

const chartW, chartH = 7 * vg.Inch, 3.4 * vg.Inch

// Charts draws the report's figures from its model.
func Charts(d *explain.Data) ([]Chart, error) {
	var out []Chart
	for _, f := range []func(*explain.Data) (*Chart, error){sizesChart, latencyChart, costChart, batchingChart, paddingChart, scheduleChart} {
		c, err := f(d)
		if err != nil {
			return nil, err
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func unit(d *explain.Data) string {
	if d.Plan.SizeUnit != "" {
		return d.Plan.SizeUnit
	}
	return "size"
}

func sizesChart(d *explain.Data) (*Chart, error) {
	if len(d.Sizes) == 0 {
		return nil, nil
	}
	p := newPlot("Request sizes and buffer boundaries", "request size ("+unit(d)+")", "requests")
	h := &plotter.Histogram{FillColor: palette[0], LineStyle: draw.LineStyle{Width: 0}}
	maxCount := 0
	for _, b := range d.Sizes {
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: b.Lo, Max: b.Hi, Weight: float64(b.Count)})
		maxCount = max(maxCount, b.Count)
	}
	h.Width = d.Sizes[0].Hi - d.Sizes[0].Lo
	p.Add(h)
	for _, cut := range d.Boundaries {
		l, err := plotter.NewLine(plotter.XYs{{X: cut, Y: 0}, {X: cut, Y: float64(maxCount) * 1.05}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: palette[1], Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
	}
	return &Chart{Name: "sizes", Title: "Request sizes", plot: p,
		Caption: fmt.Sprintf("How many requests of each size the trace holds; the dashed lines are the plan's %d buffer boundaries.", len(d.Boundaries))}, nil
}

func latencyChart(d *explain.Data) (*Chart, error) {
	p := newPlot("Latency distribution (replayed)", "latency (s)", "share of requests")
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(4)
	p.Legend.YOffs = vg.Points(4)
	maxS := d.Plan.SLO.LatencyMs / 1000 * 1.3
	for i, c := range d.Curves {
		xy := make(plotter.XYs, len(c.Ms))
		for k := range c.Ms {
			xy[k] = plotter.XY{X: c.Ms[k] / 1000, Y: c.Share[k]}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.6)}
		if i == 0 {
			l.LineStyle.Width = vg.Points(2.4)
		}
		p.Add(l)
		p.Legend.Add(c.Name, l)
	}
	slo := d.Plan.SLO
	sloLine, err := plotter.NewLine(plotter.XYs{{X: slo.LatencyMs / 1000, Y: 0}, {X: slo.LatencyMs / 1000, Y: 1}})
	if err != nil {
		return nil, err
	}
	sloLine.LineStyle = draw.LineStyle{Color: color.Gray{90}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	p.Add(sloLine)
	p.Legend.Add(fmt.Sprintf("SLO %g s", slo.LatencyMs/1000), sloLine)
	pct, err := plotter.NewLine(plotter.XYs{{X: 0, Y: slo.Percentile / 100}, {X: maxS, Y: slo.Percentile / 100}})
	if err != nil {
		return nil, err
	}
	pct.LineStyle = draw.LineStyle{Color: color.Gray{160}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	p.Add(pct)
	p.X.Min, p.X.Max = 0, maxS
	p.Y.Min, p.Y.Max = 0, 1
	return &Chart{Name: "latency", Title: "Latency", plot: p,
		Caption: fmt.Sprintf("Share of requests answered within a latency, for the plan and its baselines; the SLO is p%g ≤ %s (dashed lines).", slo.Percentile, Ms(slo.LatencyMs))}, nil
}

func costChart(d *explain.Data) (*Chart, error) {
	p := newPlot("Cost per million requests", "", "USD per 1M requests")
	var vals plotter.Values
	var names []string
	for _, c := range d.Costs {
		vals = append(vals, c.PerMillionUSD)
		names = append(names, c.Name)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return nil, err
	}
	bars.Color = palette[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	labels := make([]string, len(vals))
	xys := make(plotter.XYs, len(vals))
	for i, v := range vals {
		labels[i] = USD(v)
		xys[i] = plotter.XY{X: float64(i), Y: v}
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].XAlign = draw.XCenter
		lab.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(lab)
	p.Y.Min = 0
	p.Y.Max = maxOf(vals) * 1.15 // room for the labels under the title
	return &Chart{Name: "cost", Title: "Cost", plot: p,
		Caption: "Replayed cost per million requests of the plan and its baselines, beside the ideal bound (every request in a full batch of its own size, no waiting)."}, nil
}

func batchingChart(d *explain.Data) (*Chart, error) {
	p := newPlot("Batch size per buffer", "buffer (request sizes, "+unit(d)+")", "requests per batch")
	var size, mean plotter.Values
	var names []string
	for _, b := range d.Buffers {
		size = append(size, float64(b.BatchSize))
		mean = append(mean, b.MeanBatch)
		names = append(names, b.Label)
	}
	w := vg.Points(14)
	a, err := plotter.NewBarChart(size, w)
	if err != nil {
		return nil, err
	}
	a.Color, a.Offset, a.LineStyle.Width = color.RGBA{174, 199, 232, 255}, -w/2, 0
	m, err := plotter.NewBarChart(mean, w)
	if err != nil {
		return nil, err
	}
	m.Color, m.Offset, m.LineStyle.Width = palette[0], w/2, 0
	p.Add(a, m)
	p.Legend.Add("batch size", a)
	p.Legend.Add("mean batch (replay)", m)
	p.Legend.Top = true
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, maxOf(size)*1.3 // room for the legend
	return &Chart{Name: "batching", Title: "Batching", plot: p,
		Caption: "Each buffer's batch size and the mean size of the batches it actually dispatched in the replay (the rest left at their timeout)."}, nil
}

func paddingChart(d *explain.Data) (*Chart, error) {
	p := newPlot("Padding per buffer", "buffer (request sizes, "+unit(d)+")", "padding (% of real work)")
	var pad plotter.Values
	var names []string
	for _, b := range d.Buffers {
		pad = append(pad, b.PaddingRatio*100)
		names = append(names, b.Label)
	}
	bars, err := plotter.NewBarChart(pad, vg.Points(20))
	if err != nil {
		return nil, err
	}
	bars.Color, bars.LineStyle.Width = palette[2], 0
	p.Add(bars)
	p.NominalX(names...)
	p.Y.Min = 0
	return &Chart{Name: "padding", Title: "Padding", plot: p,
		Caption: "Work spent on padding each buffer's batches up to their largest request, as a share of the real work."}, nil
}

func scheduleChart(d *explain.Data) (*Chart, error) {
	if len(d.Windows) == 0 {
		return nil, nil
	}
	p := newPlot("Cost per window", "time (min)", "USD per 1M requests")
	own, whole := make(plotter.XYs, len(d.Windows)), make(plotter.XYs, len(d.Windows))
	for i, w := range d.Windows {
		mid := (w.StartS + w.EndS) / 2 / 60
		own[i] = plotter.XY{X: mid, Y: w.PerMillionUSD}
		whole[i] = plotter.XY{X: mid, Y: w.WholeTraceUSD}
	}
	for i, s := range []struct {
		name string
		xy   plotter.XYs
	}{{"window's own plan", own}, {"whole-trace plan", whole}} {
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, pts.Color = palette[i], palette[i]
		p.Add(l, pts)
		p.Legend.Add(s.name, l, pts)
	}
	return &Chart{Name: "schedule", Title: "Schedule", plot: p,
		Caption: "Cost per million requests in each window, planned on its own and under the plan for the whole trace."}, nil
}

// SVG renders a chart as SVG.
func (c *Chart) SVG() ([]byte, error) { return c.render("svg") }

// PNG renders a chart as PNG.
func (c *Chart) PNG() ([]byte, error) { return c.render("png") }

func (c *Chart) render(format string) ([]byte, error) {
	wt, err := c.plot.WriterTo(chartW, chartH, format)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteCharts writes every chart to dir as NAME.svg or NAME.png and returns the paths.
func WriteCharts(charts []Chart, dir, format string) ([]string, error) {
	if format != "svg" && format != "png" {
		return nil, fmt.Errorf("chart format %q: want svg or png", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for i := range charts {
		data, err := charts[i].render(format)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, charts[i].Name+"."+format)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func maxOf(vs plotter.Values) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}
