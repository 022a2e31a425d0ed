package plan

import (
	"cmp"
	"fmt"
	"slices"
)

// Diff is what changed between two plans.
type Diff struct {
	Old, New Summary
	Buffers  []BufferChange
	// Pools are cluster plans' instances by type, old and new counts.
	Pools []PoolChange `json:",omitempty"`
}

// PoolChange is how many instances of a type each plan runs.
type PoolChange struct {
	InstanceType string `json:"instance_type"`
	Old          int    `json:"old"`
	New          int    `json:"new"`
}

// Summary is the comparable headline of a plan.
type Summary struct {
	Buffers           int      `json:"buffers"`
	CostPerMillionUSD float64  `json:"cost_per_million_usd"`
	MonthlyUSD        *float64 `json:"monthly_usd,omitempty"`
	SLOPercentile     float64  `json:"slo_percentile"`
	SLOLatencyMs      float64  `json:"slo_latency_ms"`
	SLOAttainment     float64  `json:"slo_attainment"`
	LatencyP95Ms      float64  `json:"latency_p95_ms"`
	LatencyP99Ms      float64  `json:"latency_p99_ms"`
	PaddingRatio      float64  `json:"padding_ratio"`
	InvocationsPerM   float64  `json:"invocations_per_million"`
	Arch              string   `json:"arch"`
	PricesAsOf        string   `json:"prices_as_of"`
	// cluster plans
	Platform       string  `json:"platform,omitempty"`
	CostPerHourUSD float64 `json:"cost_per_hour_usd,omitempty"`
	Instances      int     `json:"instances,omitempty"`
	// MinInstances is a scaled fleet's fewest instances at once (0 for a static fleet).
	MinInstances int `json:"min_instances,omitempty"`
	Services     int `json:"services,omitempty"`
	ServicesMet  int `json:"services_met,omitempty"`
	// PerService is each cluster service's attainment and tail.
	PerService []ServiceSummary `json:"per_service,omitempty"`
}

// ServiceSummary is one service's headline in a cluster plan.
type ServiceSummary struct {
	Name          string  `json:"name"`
	SLOAttainment float64 `json:"slo_attainment"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
}

// BufferChange pairs buffers by size range: Old or New is nil for a range only one plan has.
type BufferChange struct {
	Old     *Buffer  `json:"old,omitempty"`
	New     *Buffer  `json:"new,omitempty"`
	Changes []string `json:"changes"`
}

// Summarize is a plan's headline.
func Summarize(p *Plan) Summary {
	e := p.Estimate
	s := Summary{CostPerMillionUSD: e.CostPerMillionUSD, SLOPercentile: p.SLO.Percentile,
		SLOLatencyMs: p.SLO.LatencyMs, SLOAttainment: e.SLOAttainment, LatencyP95Ms: e.LatencyP95Ms, LatencyP99Ms: e.LatencyP99Ms,
		PaddingRatio: e.PaddingRatio}
	if l := p.Lambda; l != nil {
		s.Buffers, s.Arch, s.PricesAsOf = len(l.Buffers), l.Arch, l.Pricing.AsOf
	}
	if c := p.Cluster; c != nil {
		s.Platform, s.CostPerHourUSD, s.Services = p.Platform, e.CostPerHourUSD, len(c.Services)
		least := 0
		for _, po := range c.Pools {
			s.Instances += po.Count
			least += po.Count
			if po.MinCount > 0 {
				least += po.MinCount - po.Count
			}
		}
		if least < s.Instances {
			s.MinInstances = least
		}
		for _, se := range e.Services {
			if se.Met() {
				s.ServicesMet++
			}
			s.PerService = append(s.PerService, ServiceSummary{se.Name, se.SLOAttainment, se.LatencyP99Ms})
		}
	}
	if e.Requests > 0 {
		s.InvocationsPerM = e.Invocations / float64(e.Requests) * 1e6
	}
	return s
}

// Compare lists what changed from old to new: the headline numbers, and buffer by buffer — buffers covering the
// same size range are compared field by field, others are added or removed.
func Compare(old, new *Plan) Diff {
	d := Diff{Old: Summarize(old), New: Summarize(new)}
	oldBufs, newBufs := old.buffers(), new.buffers()
	type rng struct{ lo, hi float64 }
	oldBy := map[rng]int{}
	for i, b := range oldBufs {
		oldBy[rng{b.MinSize, b.MaxSize}] = i
	}
	matched := map[int]bool{}
	for i := range newBufs {
		nb := Strip(newBufs[i : i+1])[0]
		j, ok := oldBy[rng{nb.MinSize, nb.MaxSize}]
		if !ok {
			d.Buffers = append(d.Buffers, BufferChange{New: &nb, Changes: []string{"added"}})
			continue
		}
		matched[j] = true
		ob := Strip(oldBufs[j : j+1])[0]
		var ch []string
		if ob.BatchSize != nb.BatchSize {
			ch = append(ch, fmt.Sprintf("batch %d → %d", ob.BatchSize, nb.BatchSize))
		}
		if ob.TimeoutMs != nb.TimeoutMs {
			ch = append(ch, fmt.Sprintf("timeout %g → %g ms", ob.TimeoutMs, nb.TimeoutMs))
		}
		if ob.MemoryMB != nb.MemoryMB {
			ch = append(ch, fmt.Sprintf("memory %d → %d MB", ob.MemoryMB, nb.MemoryMB))
		}
		d.Buffers = append(d.Buffers, BufferChange{Old: &ob, New: &nb, Changes: ch})
	}
	for j := range oldBufs {
		if !matched[j] {
			ob := Strip(oldBufs[j : j+1])[0]
			d.Buffers = append(d.Buffers, BufferChange{Old: &ob, Changes: []string{"removed"}})
		}
	}
	slices.SortStableFunc(d.Buffers, func(a, b BufferChange) int { return cmp.Compare(a.lower(), b.lower()) })
	d.Pools = comparePools(old, new)
	return d
}

// comparePools counts each plan's instances by type (cluster plans).
func comparePools(old, new *Plan) []PoolChange {
	if old.Cluster == nil && new.Cluster == nil {
		return nil
	}
	by := map[string]*PoolChange{}
	var order []string
	count := func(p *Plan, set func(*PoolChange, int)) {
		if p.Cluster == nil {
			return
		}
		for _, po := range p.Cluster.Pools {
			c := by[po.InstanceType]
			if c == nil {
				c = &PoolChange{InstanceType: po.InstanceType}
				by[po.InstanceType] = c
				order = append(order, po.InstanceType)
			}
			set(c, po.Count)
		}
	}
	count(old, func(c *PoolChange, n int) { c.Old += n })
	count(new, func(c *PoolChange, n int) { c.New += n })
	slices.Sort(order)
	out := make([]PoolChange, len(order))
	for i, t := range order {
		out[i] = *by[t]
	}
	return out
}

func (c BufferChange) lower() float64 {
	if c.New != nil {
		return c.New.MinSize
	}
	return c.Old.MinSize
}

// Changed reports whether anything about the buffers changed.
func (d Diff) Changed() bool {
	for _, b := range d.Buffers {
		if len(b.Changes) > 0 {
			return true
		}
	}
	return false
}

// buffers are a Lambda plan's buffers (none for other platforms).
func (p *Plan) buffers() []Buffer {
	if p.Lambda == nil {
		return nil
	}
	return p.Lambda.Buffers
}
