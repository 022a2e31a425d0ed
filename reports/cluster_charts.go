package reports

import (
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/inferplan/inferplan/planner/plan"
)

// ClusterCharts draws a cluster plan's figures from the replay it records: for a scaled plan, each service's
// traffic against its forecast, provisioned capacity and spill over the windows; for every plan, the cost of
// the plan and its baselines and each service's tail latency against its SLO.
func ClusterCharts(p *plan.Plan) ([]Chart, error) {
	c := p.Cluster
	if c == nil {
		return nil, fmt.Errorf("not a cluster plan (platform %q)", p.Platform)
	}
	var out []Chart
	if c.Schedule != nil {
		for i := range c.Services {
			ch, err := trafficChart(c, i)
			if err != nil {
				return nil, err
			}
			if ch != nil {
				out = append(out, *ch)
			}
		}
	}
	for _, f := range []func(*plan.Plan) (*Chart, error){clusterCostChart, clusterLatencyChart} {
		ch, err := f(p)
		if err != nil {
			return nil, err
		}
		out = append(out, *ch)
	}
	return out, nil
}

// trafficChart is one service's windows as steps: the peak rate it saw, the forecast it was provisioned
// for, the capacity its instances were counted for, and the mean rate that spilled to Lambda.
func trafficChart(c *plan.Cluster, svc int) (*Chart, error) {
	name := c.Services[svc].Name
	sc := c.Schedule
	var peak, fc, capac, spill plotter.XYs
	step := func(xy *plotter.XYs, from, to, y float64) {
		*xy = append(*xy, plotter.XY{X: from / 60, Y: y}, plotter.XY{X: to / 60, Y: y})
	}
	hasForecast := false
	for _, w := range sc.Windows {
		for _, ws := range w.Services {
			if ws.Name != name {
				continue
			}
			step(&peak, w.StartS, w.EndS, ws.PeakRPS)
			step(&capac, w.StartS, w.EndS, ws.CapacityRPS)
			if ws.ForecastRPS > 0 {
				hasForecast = true
			}
			step(&fc, w.StartS, w.EndS, ws.ForecastRPS)
			if d := w.EndS - w.StartS; d > 0 {
				step(&spill, w.StartS, w.EndS, float64(ws.Spilled)/d)
			}
		}
	}
	if len(peak) == 0 {
		return nil, nil
	}
	p := newPlot(name+": traffic and capacity", "time (min)", "requests / s")
	lines := []struct {
		label string
		xy    plotter.XYs
		col   color.Color
		width vg.Length
		dash  []vg.Length
	}{
		{fmt.Sprintf("peak rate (busiest %gs)", sc.PeakBinS), peak, palette[0], 1.8, nil},
		{"capacity provisioned", capac, palette[3], 2.2, nil},
		{"forecast", fc, palette[2], 1.4, []vg.Length{vg.Points(4), vg.Points(3)}},
		{"spilled to Lambda (mean rate)", spill, palette[1], 1.4, nil},
	}
	for _, l := range lines {
		if l.label == "forecast" && !hasForecast {
			continue
		}
		ln, err := plotter.NewLine(l.xy)
		if err != nil {
			return nil, err
		}
		ln.LineStyle = draw.LineStyle{Color: l.col, Width: vg.Points(float64(l.width)), Dashes: l.dash}
		p.Add(ln)
		p.Legend.Add(l.label, ln)
	}
	p.Legend.Top = true
	p.Y.Min = 0
	p.Y.Max *= 1.25 // room for the legend
	how := "a constant fleet"
	if f := c.Services[svc].Forecast; f != nil && f.Method != "constant" {
		how = fmt.Sprintf("%s × the %s forecast", Num(f.Headroom), f.Method)
	}
	return &Chart{Name: "traffic-" + fileStem(name), Title: name, plot: p,
		Caption: fmt.Sprintf("%s per %s window: the peak arrival rate, the forecast made before the window, the capacity its instances were counted for (%s, launched %s ahead) and the requests that went to Lambda.",
			name, Duration(sc.WindowS), how, Duration(sc.StartupS))}, nil
}

// clusterCostChart is the cost an hour of the plan and its baselines; a baseline that misses an SLO or has
// no fleet is named so.
func clusterCostChart(p *plan.Plan) (*Chart, error) {
	pl := newPlot("Cost an hour (replayed)", "", "USD per hour")
	var vals plotter.Values
	var names, labels []string
	add := func(name string, e plan.Estimate) {
		v, label := e.CostPerHourUSD, USD(e.CostPerHourUSD)
		if e.Requests == 0 {
			v, label = 0, "none"
		} else if missed(e, len(p.Cluster.Services)) {
			label += " (misses SLO)"
		}
		vals, names, labels = append(vals, v), append(names, name), append(labels, label)
	}
	add("plan", p.Estimate)
	for _, b := range p.Baselines {
		add(b.Name, b.Estimate)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return nil, err
	}
	bars.Color, bars.LineStyle.Width = palette[0], 0
	pl.Add(bars)
	pl.NominalX(names...)
	xys := make(plotter.XYs, len(vals))
	for i, v := range vals {
		xys[i] = plotter.XY{X: float64(i), Y: v}
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range lab.TextStyle {
		lab.TextStyle[i].XAlign, lab.TextStyle[i].YAlign = draw.XCenter, draw.YBottom
	}
	pl.Add(lab)
	pl.Y.Min, pl.Y.Max = 0, max(maxOf(vals), 0.01)*1.15
	return &Chart{Name: "cost", Title: "Cost", plot: pl,
		Caption: "What the plan and each baseline cost an hour over the replayed traces: instances from launch to termination, plus Lambda for what it served."}, nil
}

// clusterLatencyChart is each service's replayed p99 (its SLO's percentile) beside the SLO.
func clusterLatencyChart(p *plan.Plan) (*Chart, error) {
	pl := newPlot("Tail latency against the SLO (replayed)", "", "ms")
	var got, slo plotter.Values
	var names []string
	for _, s := range p.Estimate.Services {
		q, v := nearestRecorded(s)
		got = append(got, v)
		slo = append(slo, s.SLO.LatencyMs)
		names = append(names, fmt.Sprintf("%s (p%g)", s.Name, q))
	}
	w := vg.Points(18)
	a, err := plotter.NewBarChart(got, w)
	if err != nil {
		return nil, err
	}
	a.Color, a.Offset, a.LineStyle.Width = palette[0], -w/2, 0
	b, err := plotter.NewBarChart(slo, w)
	if err != nil {
		return nil, err
	}
	b.Color, b.Offset, b.LineStyle.Width = color.Gray{190}, w/2, 0
	pl.Add(a, b)
	pl.Legend.Add("replayed", a)
	pl.Legend.Add("SLO", b)
	pl.Legend.Top = true
	pl.NominalX(names...)
	pl.Y.Min, pl.Y.Max = 0, max(maxOf(got), maxOf(slo))*1.3
	return &Chart{Name: "latency", Title: "Latency", plot: pl,
		Caption: "Each service's replayed tail latency (at its SLO's percentile, or the next recorded one above it: p50, p95 or p99), beside the SLO's latency."}, nil
}

// nearestRecorded is the recorded percentile (50, 95, 99) at or above the SLO's, and the latency there.
func nearestRecorded(s plan.ServiceEstimate) (float64, float64) {
	switch {
	case s.SLO.Percentile <= 50:
		return 50, s.LatencyP50Ms
	case s.SLO.Percentile <= 95:
		return 95, s.LatencyP95Ms
	}
	return 99, s.LatencyP99Ms
}

// missed reports whether an estimate leaves out a service or misses one's SLO.
func missed(e plan.Estimate, services int) bool {
	if len(e.Services) < services {
		return true
	}
	for _, s := range e.Services {
		if !s.Met() {
			return true
		}
	}
	return false
}

// fileStem makes a service name safe as a chart file name.
func fileStem(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
