// Package fleet expands a cluster plan into the hosts and workers that run it, in the simulator's fixed order,
// and reads and writes the mapping from those workers to the URLs that serve them (`inferplan workers` writes it,
// `inferplan serve --plan` reads it).
//
// The order is the cluster simulator's (docs/cluster-plan.md §3.1): pool by pool, instance 0, 1, … of each pool,
// within an instance GPU by GPU (workers in the order listed), then the CPU workers. Worker i here is worker i of
// the simulator's fleet for a static plan, so the gateway's routing and the simulator's agree worker for worker.
package fleet

import (
	"fmt"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/plan"
)

// Fleet is a cluster plan laid out as hosts and workers.
type Fleet struct {
	Hosts    []Host
	Workers  []Worker // fleet order
	Services []Service
}

// Host is one instance of a pool: the machine a set of workers runs on.
type Host struct {
	Name         string // "p0-1": pool 0, instance 1
	Pool         int
	Instance     int
	InstanceType string
	// AlwaysUp: a static pool's instance, or one of a scaled pool's fewest (the others come and go).
	AlwaysUp bool
	Workers  []int // indexes into Fleet.Workers
}

// Worker is one serving process of the fleet.
type Worker struct {
	ID      string // "p0-1/gpu0/w2", "p0-1/cpu/w0"
	Index   int    // in Fleet.Workers
	Host    string
	Service int // index into Fleet.Services
	Group   int // index into the service's Ranges
	GPU     int // the GPU's index on its host; −1 for a CPU worker
	Sharing string
	plan.Worker
}

// Service is one service of the plan with its workers grouped by size range.
type Service struct {
	Name   string
	SLO    plan.SLO
	Ranges batching.Ranges // upper sizes of its worker groups, ascending
	Groups [][]int         // per range, its workers (indexes into Fleet.Workers) in fleet order
	Spill  *plan.SpillRule
}

// HostName names instance i of pool p.
func HostName(pool, instance int) string { return fmt.Sprintf("p%d-%d", pool, instance) }

// Expand lays a cluster plan out as hosts and workers: every pool's Count instances (a scaled pool's most).
func Expand(p *plan.Plan) (*Fleet, error) {
	c := p.Cluster
	if c == nil {
		return nil, fmt.Errorf("a %s plan has no fleet of workers", p.Platform)
	}
	f := &Fleet{}
	svc := map[string]int{}
	for i, s := range c.Services {
		svc[s.Name] = i
		f.Services = append(f.Services, Service{Name: s.Name, SLO: s.SLO, Ranges: c.ServiceRanges(s.Name), Spill: s.Spill})
		f.Services[i].Groups = make([][]int, len(f.Services[i].Ranges))
	}
	add := func(h *Host, id string, gpu int, sharing string, w plan.Worker) error {
		si, ok := svc[w.Service]
		if !ok {
			return fmt.Errorf("worker %s serves %q, which the plan does not list", id, w.Service)
		}
		s := &f.Services[si]
		g := s.Ranges.Index(w.MaxSize)
		fw := Worker{ID: id, Index: len(f.Workers), Host: h.Name, Service: si, Group: g, GPU: gpu, Sharing: sharing, Worker: w}
		fw.Stats = nil
		s.Groups[g] = append(s.Groups[g], fw.Index)
		h.Workers = append(h.Workers, fw.Index)
		f.Workers = append(f.Workers, fw)
		return nil
	}
	for pi, pool := range c.Pools {
		for in := range pool.Count {
			h := Host{Name: HostName(pi, in), Pool: pi, Instance: in, InstanceType: pool.InstanceType,
				AlwaysUp: pool.MinCount == 0 || in < pool.MinCount}
			for _, g := range pool.GPUs {
				for wi, w := range g.Workers {
					if err := add(&h, fmt.Sprintf("%s/gpu%d/w%d", h.Name, g.Index, wi), g.Index, g.Sharing, w); err != nil {
						return nil, err
					}
				}
			}
			for wi, w := range pool.CPUWorkers {
				if err := add(&h, fmt.Sprintf("%s/cpu/w%d", h.Name, wi), -1, "", w); err != nil {
					return nil, err
				}
			}
			f.Hosts = append(f.Hosts, h)
		}
	}
	return f, nil
}

// Host finds a host by name.
func (f *Fleet) Host(name string) (*Host, bool) {
	for i := range f.Hosts {
		if f.Hosts[i].Name == name {
			return &f.Hosts[i], true
		}
	}
	return nil, false
}

// HostNames lists the hosts' names, in order.
func (f *Fleet) HostNames() []string {
	out := make([]string, len(f.Hosts))
	for i, h := range f.Hosts {
		out[i] = h.Name
	}
	return out
}
