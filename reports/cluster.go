package reports

import (
	"fmt"
	"strings"

	"github.com/inferplan/inferplan/planner/plan"
)

// clusterPlanDocument is the human summary of a cluster plan: the fleet worker by worker, every service against
// its SLO, the plan against its baselines, where each latency came from, and why the fleet is what it is.
func clusterPlanDocument(p *plan.Plan) *Document {
	c := p.Cluster
	e := p.Estimate
	met := 0
	for _, s := range e.Services {
		if s.Met() {
			met++
		}
	}
	d := &Document{Title: fmt.Sprintf("Cluster plan for %d service%s (%s): %s an hour, %d of %d SLOs met",
		len(c.Services), plural(len(c.Services)), p.Model, USD(e.CostPerHourUSD), met, len(e.Services))}
	if in := p.Inputs; in != nil {
		d.Lines = append(d.Lines, fmt.Sprintf("Workload: %s (%s requests over %s)", in.Workload, Thousands(float64(in.Requests), 0), Ms(in.SpanS*1000)))
	}
	if s := p.Search; s != nil {
		line := fmt.Sprintf("        seed %d · %s replays", s.Seed, Thousands(float64(s.Replays), 0))
		if s.Seconds > 0 {
			line += fmt.Sprintf(" · %.1f s", s.Seconds)
		}
		d.Lines = append(d.Lines, "Search: "+s.Method, line)
	}
	if m := c.Sharing; m != nil {
		d.Lines = append(d.Lines, fmt.Sprintf("GPU sharing model: time-slice c=%s, MPS c=%s (%s)", Num(m.TimeSlice), Num(m.MPS), m.Source))
	}
	d.Sections = append(d.Sections, fleetSection(c), servicesSection(e.Services))
	if c.Schedule != nil {
		d.Sections = append(d.Sections, forecastSection(c), scheduleTable(c))
	}
	d.Sections = append(d.Sections, clusterBaselinesSection(p), hardwareSection(c))
	if len(c.Decisions) > 0 {
		d.Notes = append(d.Notes, "Why this fleet:")
		for _, s := range c.Decisions {
			d.Notes = append(d.Notes, "  - "+s)
		}
	}
	for _, w := range p.Warnings {
		d.Notes = append(d.Notes, "warning: "+w)
	}
	return d
}

func fleetSection(c *plan.Cluster) Section {
	title := "Fleet (every instance of a pool alike; figures summed over them)"
	if c.Schedule != nil {
		title = "Fleet (every instance of a pool alike; a scaled pool's instances as the schedule below says)"
	}
	s := Section{Title: title, Columns: []Column{
		{"Instances", false}, {"GPU", false}, {"Worker", false}, {"Share", true}, {"Batch", true}, {"Timeout", true},
		{"Requests", true}, {"Mean batch", true}, {"Busy", true}, {"Queue p99", true},
	}}
	for _, p := range c.Pools {
		inst := fmt.Sprintf("%d × %s (%s/h)", p.Count, p.InstanceType, USD(p.USDPerHour))
		if p.MinCount > 0 && p.MinCount < p.Count {
			inst = fmt.Sprintf("%d–%d × %s (%s/h)", p.MinCount, p.Count, p.InstanceType, USD(p.USDPerHour))
		}
		row := func(gpu string, w plan.Worker, share string) {
			r := []string{inst, gpu, w.Service, share, fmt.Sprint(w.BatchSize), Ms(w.TimeoutMs)}
			if st := w.Stats; st != nil {
				r = append(r, Thousands(float64(st.Requests), 0), Num(st.MeanBatch), Pct(st.Utilisation), Ms(st.QueueP99Ms))
			} else {
				r = append(r, "–", "–", "–", "–")
			}
			s.Rows = append(s.Rows, r)
			inst = ""
		}
		for _, g := range p.GPUs {
			gpu := fmt.Sprintf("%s #%d %s", strings.ToUpper(p.GPU), g.Index, g.Sharing)
			if g.Utilisation != nil {
				gpu += fmt.Sprintf(", busy %s", Pct(*g.Utilisation))
			}
			for _, w := range g.Workers {
				share := "all SMs"
				switch {
				case w.MIGProfile != "":
					share = "MIG " + w.MIGProfile
				case w.MPSActiveThreadPct > 0:
					share = fmt.Sprintf("MPS %d%%", w.MPSActiveThreadPct)
				case g.Sharing == plan.SharingTimeSlice:
					share = "time-sliced"
				}
				row(gpu, w, share)
				gpu = ""
			}
		}
		for _, w := range p.CPUWorkers {
			row("CPU", w, fmt.Sprintf("%s vCPUs", Num(w.VCPUs)))
		}
	}
	return s
}

func servicesSection(ss []plan.ServiceEstimate) Section {
	s := Section{Title: "Services (replayed)", Columns: []Column{
		{"Service", false}, {"Requests", true}, {"SLO", true}, {"Met", true}, {"Within SLO", true}, {"p50", true},
		{"p95", true}, {"p99", true}, {"Mean batch", true}, {"Padding", true}, {"Queue p99", true},
	}}
	spills := false
	for _, e := range ss {
		spills = spills || e.Spilled > 0
	}
	if spills {
		s.Columns = append(s.Columns, Column{"To Lambda", true}, Column{"Lambda $", true})
	}
	for _, e := range ss {
		met := "yes"
		if !e.Met() {
			met = "NO"
		}
		s.Rows = append(s.Rows, []string{e.Name, Thousands(float64(e.Requests), 0), fmt.Sprintf("p%g ≤ %s", e.SLO.Percentile, Ms(e.SLO.LatencyMs)),
			met, Pct(e.SLOAttainment), Ms(e.LatencyP50Ms), Ms(e.LatencyP95Ms), Ms(e.LatencyP99Ms), Num(e.MeanBatch),
			Pct(e.PaddingRatio), Ms(e.QueueP99Ms)})
		if spills {
			row := &s.Rows[len(s.Rows)-1]
			*row = append(*row, Pct(float64(e.Spilled)/float64(max(e.Requests, 1))), USD(e.SpillCostUSD))
		}
	}
	return s
}

// forecastSection says how each scaled service's pool follows its traffic: the method, the headroom, what an
// instance is counted for, the spill rule, and how every forecasting method did on the service's own past.
func forecastSection(c *plan.Cluster) Section {
	s := Section{Title: "How the pools follow the traffic (one-step-ahead backtests on each trace's own windows)", Columns: []Column{
		{"Service", false}, {"Sizing", false}, {"Spill to Lambda", false}, {"Method", false}, {"Windows", true}, {"MAPE", true}, {"Under-forecast", true},
	}}
	for _, svc := range c.Services {
		f := svc.Forecast
		if f == nil {
			continue
		}
		sizing := fmt.Sprintf("%s × %s forecast, %s req/s an instance", Num(f.Headroom), f.Method, Num(f.CapacityRPS))
		if f.Method == "constant" {
			sizing = fmt.Sprintf("constant, %s req/s an instance", Num(f.CapacityRPS))
		}
		spill := "none"
		if sp := svc.Spill; sp != nil {
			spill = fmt.Sprintf("expected wait > %s (%d Lambda buffer%s)", Ms(sp.ThresholdMs), len(sp.Buffers), plural(len(sp.Buffers)))
		}
		for i, b := range f.Backtest {
			name, sz, sp := svc.Name, sizing, spill
			if i > 0 {
				name, sz, sp = "", "", ""
			}
			m := b.Method
			if m == f.Method {
				m += " (chosen)"
			}
			s.Rows = append(s.Rows, []string{name, sz, sp, m, fmt.Sprint(b.Steps), Pct(b.MAPE), Pct(b.UnderShare)})
		}
	}
	s.Notes = append(s.Notes, "Windows: how many windows each method was scored on; MAPE and under-forecast share of each window's peak rate, predicted from the windows before it. The planner replays every method's schedule and keeps the cheapest that meets the SLO (marked chosen).")
	return s
}

// scheduleTable is a scaled plan's schedule: per window and service, the traffic, the forecast, the capacity
// provisioned and what spilled.
func scheduleTable(c *plan.Cluster) Section {
	sc := c.Schedule
	s := Section{Title: fmt.Sprintf("Schedule (%s windows, instances launched %s before they are needed)", Duration(sc.WindowS), Duration(sc.StartupS)),
		Columns: []Column{{"Window", false}, {"Service", false}, {"Requests", true}, {"Peak req/s", true}, {"Forecast", true},
			{"Instances", true}, {"Capacity req/s", true}, {"Spilled", true}}}
	for _, w := range sc.Windows {
		for i, ws := range w.Services {
			win := ""
			if i == 0 {
				win = Duration(w.StartS) + "–" + Duration(w.EndS)
			}
			fc := "–"
			if ws.ForecastRPS > 0 {
				fc = Num(ws.ForecastRPS)
			}
			n := "–"
			if i < len(w.Counts) {
				n = fmt.Sprint(w.Counts[i])
			}
			s.Rows = append(s.Rows, []string{win, ws.Name, Thousands(float64(ws.Requests), 0), Num(ws.PeakRPS), fc, n, Num(ws.CapacityRPS), fmt.Sprint(ws.Spilled)})
		}
	}
	s.Notes = append(s.Notes, fmt.Sprintf("Peak req/s: the window's busiest %s; instances: ceil(headroom × forecast / an instance's rate), within the pool's limits.", Duration(sc.PeakBinS)))
	return s
}

func clusterBaselinesSection(p *plan.Plan) (s Section) {
	s = Section{Title: "Plan vs baselines (each replayed the same way)", Columns: []Column{
		{"", false}, {"$ / hour", true}, {"$ / 1M req", true}, {"SLOs met", true}, {"Within SLO", true}, {"GPU busy", true},
		{"Instance-hours", true}, {"To Lambda", true}, {"Instances", false}, {"Plan saves", true},
	}}
	row := func(name string, e plan.Estimate, pools []plan.Pool, lambdas int, saves string) []string {
		met := 0
		for _, s := range e.Services {
			if s.Met() {
				met++
			}
		}
		gpu := "–"
		if e.GPUUtilisation != nil {
			gpu = Pct(*e.GPUUtilisation)
		}
		var inst []string
		for _, po := range pools {
			if po.MinCount > 0 && po.MinCount < po.Count {
				inst = append(inst, fmt.Sprintf("%d–%d × %s", po.MinCount, po.Count, po.InstanceType))
				continue
			}
			inst = append(inst, fmt.Sprintf("%d × %s", po.Count, po.InstanceType))
		}
		toLambda := Pct(e.SpillShare)
		if len(inst) == 0 {
			inst = []string{"–"}
			if lambdas > 0 {
				toLambda = "all served"
				inst = []string{fmt.Sprintf("Lambda: %d of %d services", lambdas, len(p.Cluster.Services))}
			}
		}
		return []string{name, USD(e.CostPerHourUSD), USD(e.CostPerMillionUSD), fmt.Sprintf("%d/%d", met, len(p.Cluster.Services)),
			Pct(e.SLOAttainment), gpu, Num(e.InstanceHours), toLambda, strings.Join(inst, ", "), saves}
	}
	// Instance-hours and the share sent to Lambda only vary when some fleet scales or spills.
	scaling := p.Cluster.Schedule != nil || p.Estimate.SpillShare > 0
	for _, b := range p.Baselines {
		scaling = scaling || b.Estimate.SpillShare > 0
	}
	defer func() {
		if scaling {
			return
		}
		s.Columns = append(s.Columns[:6:6], s.Columns[8:]...)
		for i, r := range s.Rows {
			s.Rows[i] = append(r[:6:6], r[8:]...)
		}
	}()
	s.Rows = append(s.Rows, row("plan", p.Estimate, p.Cluster.Pools, 0, "–"))
	for _, b := range p.Baselines {
		if b.Estimate.Requests == 0 {
			s.Rows = append(s.Rows, []string{b.Name, "–", "–", "0/" + fmt.Sprint(len(p.Cluster.Services)), "–", "–", "–", "–", "–", "–"})
		} else {
			pools := b.Pools
			saves := Savings(b.Estimate.CostUSD, p.Estimate.CostUSD)
			met := 0
			for _, se := range b.Estimate.Services {
				if se.Met() {
					met++
				}
			}
			if met < len(p.Cluster.Services) {
				saves = "– (misses SLOs)"
			}
			s.Rows = append(s.Rows, row(b.Name, b.Estimate, pools, len(b.Lambda), saves))
		}
		if b.Note != "" {
			s.Notes = append(s.Notes, b.Name+": "+b.Note+".")
		}
	}
	return s
}

func hardwareSection(c *plan.Cluster) Section {
	s := Section{Title: "Where the latencies come from", Columns: []Column{
		{"Service", false}, {"Hardware", false}, {"Kind", false}, {"Stands for", false}, {"Source", false},
	}}
	notes := map[string]int{}
	var order []string
	for _, h := range c.Hardware {
		applies := h.Applies
		if parts := strings.Split(applies, ", "); len(parts) > 3 {
			applies = strings.Join(parts[:3], ", ") + fmt.Sprintf(" and %d more", len(parts)-3)
		}
		src := h.Source
		if h.Kind == "derived" {
			src = fmt.Sprintf("%s × %s (see the plan JSON)", h.FromHW, Num(h.Ratio))
		}
		if h.Note != "" {
			if _, seen := notes[h.Note]; !seen {
				notes[h.Note] = len(order) + 1
				order = append(order, h.Note)
			}
			src += fmt.Sprintf(" [%d]", notes[h.Note])
		}
		s.Rows = append(s.Rows, []string{h.Service, h.Hardware, h.Kind, applies, src})
	}
	for i, n := range order {
		s.Notes = append(s.Notes, fmt.Sprintf("[%d] %s.", i+1, n))
	}
	if n := len(c.Skipped); n > 0 {
		var ex []string
		for _, sk := range c.Skipped[:min(n, 3)] {
			ex = append(ex, sk.InstanceType+": "+sk.Reason)
		}
		s.Notes = append(s.Notes, fmt.Sprintf("%d groups of instance types skipped (in the plan JSON), e.g. %s.", n, strings.Join(ex, "; ")))
	}
	return s
}

// clusterSimulationDocument summarises a replay of a cluster plan.
func clusterSimulationDocument(p *plan.Plan, e plan.Estimate, workload string) *Document {
	d := &Document{Title: fmt.Sprintf("Replay of %s through the plan's fleet: %s an hour", workload, USD(e.CostPerHourUSD))}
	d.Lines = append(d.Lines, fmt.Sprintf("%s requests, %s batches, %s in all (%s per 1M requests)", Thousands(float64(e.Requests), 0),
		Thousands(e.Invocations, 0), USD(e.CostUSD), USD(e.CostPerMillionUSD)))
	d.Sections = append(d.Sections, servicesSection(e.Services))
	for _, s := range e.Services {
		if !s.Met() {
			d.Notes = append(d.Notes, fmt.Sprintf("%s misses its SLO: %s of requests within %s, p%g wanted.", s.Name, Pct(s.SLOAttainment), Ms(s.SLO.LatencyMs), s.SLO.Percentile))
		}
	}
	return d
}
