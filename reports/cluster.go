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
	d.Sections = append(d.Sections, fleetSection(c), servicesSection(e.Services), clusterBaselinesSection(p), hardwareSection(c))
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
	s := Section{Title: "Fleet (every instance of a pool alike; figures summed over them)", Columns: []Column{
		{"Instances", false}, {"GPU", false}, {"Worker", false}, {"Share", true}, {"Batch", true}, {"Timeout", true},
		{"Requests", true}, {"Mean batch", true}, {"Busy", true}, {"Queue p99", true},
	}}
	for _, p := range c.Pools {
		inst := fmt.Sprintf("%d × %s (%s/h)", p.Count, p.InstanceType, USD(p.USDPerHour))
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
	for _, e := range ss {
		met := "yes"
		if !e.Met() {
			met = "NO"
		}
		s.Rows = append(s.Rows, []string{e.Name, Thousands(float64(e.Requests), 0), fmt.Sprintf("p%g ≤ %s", e.SLO.Percentile, Ms(e.SLO.LatencyMs)),
			met, Pct(e.SLOAttainment), Ms(e.LatencyP50Ms), Ms(e.LatencyP95Ms), Ms(e.LatencyP99Ms), Num(e.MeanBatch),
			Pct(e.PaddingRatio), Ms(e.QueueP99Ms)})
	}
	return s
}

func clusterBaselinesSection(p *plan.Plan) Section {
	s := Section{Title: "Plan vs baselines (each replayed the same way)", Columns: []Column{
		{"", false}, {"$ / hour", true}, {"$ / 1M req", true}, {"SLOs met", true}, {"Within SLO", true}, {"GPU busy", true},
		{"Instances", false}, {"Plan saves", true},
	}}
	row := func(name string, e plan.Estimate, pools []plan.Pool, saves string) []string {
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
			inst = append(inst, fmt.Sprintf("%d × %s", po.Count, po.InstanceType))
		}
		if len(inst) == 0 {
			inst = []string{"–"}
		}
		return []string{name, USD(e.CostPerHourUSD), USD(e.CostPerMillionUSD), fmt.Sprintf("%d/%d", met, len(p.Cluster.Services)),
			Pct(e.SLOAttainment), gpu, strings.Join(inst, ", "), saves}
	}
	s.Rows = append(s.Rows, row("plan", p.Estimate, p.Cluster.Pools, "–"))
	for _, b := range p.Baselines {
		if b.Estimate.Requests == 0 {
			s.Rows = append(s.Rows, []string{b.Name, "–", "–", "0/" + fmt.Sprint(len(p.Cluster.Services)), "–", "–", "–", "–"})
		} else {
			pools := b.Pools
			if b.Name == "lambda" && len(b.Lambda) > 0 {
				pools = []plan.Pool{{Count: len(b.Lambda), InstanceType: "Lambda plans"}}
			}
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
			s.Rows = append(s.Rows, row(b.Name, b.Estimate, pools, saves))
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
