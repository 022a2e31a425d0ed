package cluster

import (
	"fmt"
	"math"
	"strings"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/cluster/replay"
	lreplay "github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

// knobs are a worker's batching.
type knobs struct {
	batch     int
	timeoutMs float64
}

// kind is how a worker runs: on which latency source (and CPU threads), and with what share of a GPU.
type kind struct {
	src     *source
	cv      curve
	mode    interference.Mode
	share   float64 // SM share on a GPU
	mpsPct  int
	migG    int // MIG slices (sevenths)
	perGPU  int // replicas of one service on a GPU (standalone options)
	threads float64
}

func (k kind) gpu() bool { return k.src.platform == profile.GPU }

// vcpus is what a CPU worker of this kind takes of an instance.
func (k kind) vcpus() float64 { return k.threads * k.src.vcpusPerThread() }

// worker is a worker the search places: a service, how it runs and how it batches.
type worker struct {
	svc int
	k   kind
	kn  knobs
}

// gpuLayout is one GPU's sharing and workers.
type gpuLayout struct {
	mode    interference.Mode
	workers []worker
}

// layout is what one instance of a pool runs.
type layout struct {
	t    *itype
	gpus []gpuLayout
	cpu  []worker
}

// pool is count identical instances.
type pool struct {
	l     layout
	count int
}

func (p pool) usdPerHour() float64 { return float64(p.count) * p.l.t.usd }

// fleet builds the simulator's fleet for pools serving the given services (workload indexes, in the order the
// fleet's services take).
func (pl *space) fleet(pools []pool, svcs []int) *replay.Fleet {
	idx := map[int]int{}
	f := &replay.Fleet{Model: pl.model, SpanUs: pl.w.SpanUs}
	for i, s := range svcs {
		idx[s] = i
		f.Services = append(f.Services, pl.svcs[s])
	}
	for _, p := range pools {
		f.Pools = append(f.Pools, replay.Pool{Count: p.count, USDPerHour: p.l.t.usd})
		for range p.count {
			for _, g := range p.l.gpus {
				for _, w := range g.workers {
					f.Workers = append(f.Workers, pl.replayWorker(w, idx[w.svc], f.GPUs, g.mode))
				}
				f.GPUs++
			}
			for _, w := range p.l.cpu {
				f.Workers = append(f.Workers, pl.replayWorker(w, idx[w.svc], -1, interference.Exclusive))
			}
		}
	}
	return f
}

func (pl *space) replayWorker(w worker, svc, gpu int, mode interference.Mode) replay.Worker {
	share := w.k.share
	if share == 0 {
		share = 1
	}
	return replay.Worker{Service: svc, BatchSize: w.kn.batch, TimeoutUs: batching.TimeoutMicros(w.kn.timeoutMs),
		Curve: w.k.cv.c, Slope: w.k.src.slope, GPU: gpu, Mode: mode, Share: share}
}

// planPools turns the search's pools into the plan's.
func (pl *space) planPools(pools []pool) []plan.Pool {
	var out []plan.Pool
	for _, p := range pools {
		pp := plan.Pool{InstanceType: p.l.t.name, Count: p.count, USDPerHour: p.l.t.usd, VCPUs: p.l.t.vcpus, GPU: p.l.t.gpu}
		for gi, g := range p.l.gpus {
			pg := plan.GPU{Index: gi, Sharing: string(g.mode)}
			for _, w := range g.workers {
				pw := pl.planWorker(w)
				pw.SMShare = w.k.share
				if pw.SMShare == 0 {
					pw.SMShare = 1
				}
				pw.SMShare = math.Round(pw.SMShare*1e4) / 1e4
				if g.mode == interference.MPS {
					pw.MPSActiveThreadPct = w.k.mpsPct
				}
				if g.mode == interference.MIG {
					pw.MIGProfile = migProfile(w.k.migG, pl.gpuMemGB(p.l.t))
				}
				pg.Workers = append(pg.Workers, pw)
			}
			pp.GPUs = append(pp.GPUs, pg)
		}
		for _, w := range p.l.cpu {
			pw := pl.planWorker(w)
			pw.VCPUs, pw.Threads = w.k.vcpus(), w.k.threads
			pp.CPUWorkers = append(pp.CPUWorkers, pw)
		}
		out = append(out, pp)
	}
	return out
}

func (pl *space) planWorker(w worker) plan.Worker {
	return plan.Worker{Service: pl.w.Services[w.svc].Name, MinSize: pl.minSize[w.svc], MaxSize: plan.NoUpperBound,
		BatchSize: w.kn.batch, TimeoutMs: w.kn.timeoutMs, Hardware: w.k.src.hw}
}

// gpuMemGB is the memory of one GPU of a type, in GB as MIG profiles name it.
func (pl *space) gpuMemGB(t *itype) int {
	in, ok := pl.opt.Catalog.Instance(t.name)
	if !ok || in.GPU == nil {
		return 0
	}
	return int(math.Round(float64(in.GPU.MemoryMiB) / 1024))
}

// migProfile names a MIG profile of g sevenths of a GPU with memGB of memory: 1g gets an eighth of the memory,
// 2g a quarter, 3g and 4g half, 7g all (A100 40 GB: 1g.5gb … 7g.40gb; H100 80 GB: 1g.10gb … 7g.80gb).
func migProfile(g, memGB int) string {
	frac := map[int]float64{1: 1.0 / 8, 2: 1.0 / 4, 3: 1.0 / 2, 4: 1.0 / 2, 7: 1}[g]
	return fmt.Sprintf("%dg.%dgb", g, int(math.Round(float64(memGB)*frac)))
}

// resolve turns a cluster plan into the simulator's fleet over the workload: every worker's latency curve from
// the workload's profiles (derived ones derived again the same way), its share of its GPU, the services'
// traffic; for a scaled plan the instances its schedule launches and stops, and the spill rules with Lambda
// targets from the plan's buffers.
func (pl *space) resolve(p *plan.Plan) (*replay.Fleet, error) {
	w, cat := pl.w, pl.cat
	c := p.Cluster
	if c == nil {
		return nil, fmt.Errorf("a %s plan has no cluster fleet", p.Platform)
	}
	svcIdx := map[string]int{}
	f := &replay.Fleet{Model: pl.model, SpanUs: w.SpanUs}
	for _, s := range c.Services {
		i := workloadService(w, s.Name)
		if i < 0 {
			return nil, fmt.Errorf("the plan serves %q, which the workload does not have", s.Name)
		}
		svcIdx[s.Name] = len(f.Services)
		rs := replay.Service{Name: s.Name, SLO: s.SLO, Requests: w.Services[i].Trace.Requests, Ranges: c.ServiceRanges(s.Name)}
		if sp := s.Spill; sp != nil {
			tg, err := pl.lambdaTarget(i, sp)
			if err != nil {
				return nil, fmt.Errorf("service %s: spill: %w", s.Name, err)
			}
			rs.Spill = &replay.Spill{ThresholdMs: sp.ThresholdMs, Lambda: tg}
		}
		f.Services = append(f.Services, rs)
	}
	var wd windows
	if sc := c.Schedule; sc != nil {
		wd = windows{w: int64(sc.WindowS * 1e6), startup: int64(sc.StartupS * 1e6)}
	}
	for pi, pp := range c.Pools {
		// a static pool's instances are up all along; a scaled pool's follow its counts in the schedule
		var instances []replay.Instance
		if c.Schedule == nil {
			f.Pools = append(f.Pools, replay.Pool{Count: pp.Count, USDPerHour: pp.USDPerHour})
			instances = make([]replay.Instance, pp.Count)
		} else {
			counts := make([]int, len(c.Schedule.Windows))
			for j, win := range c.Schedule.Windows {
				counts[j] = win.Counts[pi]
			}
			instances = wd.instances(counts, pp.USDPerHour)
		}
		for _, in := range instances {
			id := 0
			if c.Schedule != nil {
				f.Instances = append(f.Instances, in)
				id = len(f.Instances)
			}
			for _, g := range pp.GPUs {
				mode, err := interference.ParseMode(g.Sharing)
				if err != nil {
					return nil, fmt.Errorf("pools[%d]: %w", pi, err)
				}
				for _, pw := range g.Workers {
					rw, err := resolveWorker(pw, svcIdx, f, w, cat, true)
					if err != nil {
						return nil, fmt.Errorf("pools[%d]: %w", pi, err)
					}
					rw.GPU, rw.Mode, rw.Share, rw.Instance = f.GPUs, mode, pw.SMShare, id
					f.Workers = append(f.Workers, rw)
				}
				f.GPUs++
			}
			for _, pw := range pp.CPUWorkers {
				rw, err := resolveWorker(pw, svcIdx, f, w, cat, false)
				if err != nil {
					return nil, fmt.Errorf("pools[%d]: %w", pi, err)
				}
				rw.GPU, rw.Mode, rw.Share, rw.Instance = -1, interference.Exclusive, 1, id
				f.Workers = append(f.Workers, rw)
			}
		}
	}
	return f, nil
}

// lambdaTarget is a spill rule's Lambda target for workload service s: its buffers on the profile Lambda is
// emulated from, at the catalog's prices.
func (pl *space) lambdaTarget(s int, sp *plan.SpillRule) (*lreplay.Target, error) {
	prof, _ := pl.lambdaProfile(s)
	if prof == nil {
		return nil, fmt.Errorf("no profile Lambda can be emulated from")
	}
	lp, ok := pl.opt.Catalog.Lambda(sp.Arch)
	if !ok {
		return nil, fmt.Errorf("no Lambda price for %q", sp.Arch)
	}
	return lreplay.ResolveBuffers(plan.Strip(sp.Buffers), latency.NewTable(prof), sp.Arch, lp.GBSecondUSD(), lp.RequestUSD, pl.w.Services[s].SLO.LatencyMs)
}

func resolveWorker(pw plan.Worker, svcIdx map[string]int, f *replay.Fleet, w *Workload, cat *catalog, gpu bool) (replay.Worker, error) {
	si, ok := svcIdx[pw.Service]
	if !ok {
		return replay.Worker{}, fmt.Errorf("worker of unknown service %q", pw.Service)
	}
	wi := workloadService(w, pw.Service)
	src := cat.sources[wi][pw.Hardware]
	if src == nil {
		return replay.Worker{}, fmt.Errorf("service %s: no profile of the workload measures (or derives) hardware %q", pw.Service, pw.Hardware)
	}
	if gpu != (src.platform == profile.GPU) {
		return replay.Worker{}, fmt.Errorf("service %s: hardware %q is a %s, the worker is placed on a %s", pw.Service, pw.Hardware, src.platform, map[bool]string{true: "GPU", false: "CPU"}[gpu])
	}
	cv := src.curves[0]
	if !gpu {
		found := false
		for _, c := range src.curves {
			if c.threads == pw.Threads {
				cv, found = c, true
			}
		}
		if !found {
			return replay.Worker{}, fmt.Errorf("service %s: hardware %s has no measurements with %g threads", pw.Service, pw.Hardware, pw.Threads)
		}
	}
	if pw.BatchSize > cv.maxBatch {
		return replay.Worker{}, fmt.Errorf("service %s: batch size %d is above the largest batch measured on %s (%d)", pw.Service, pw.BatchSize, pw.Hardware, cv.maxBatch)
	}
	group := 0
	for gi, hi := range f.Services[si].Ranges {
		if hi == pw.MaxSize {
			group = gi
		}
	}
	return replay.Worker{Service: si, Group: group, BatchSize: pw.BatchSize, TimeoutUs: batching.TimeoutMicros(pw.TimeoutMs),
		Curve: cv.c, Slope: src.slope}, nil
}

func workloadService(w *Workload, name string) int {
	for i, s := range w.Services {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// describeLayout says in a few words what an instance runs: "h100: mps 50/50 (bert-base, bert-large)".
func (pl *space) describeLayout(l layout) string {
	var parts []string
	for _, g := range l.gpus {
		var names []string
		for _, w := range g.workers {
			names = append(names, pl.w.Services[w.svc].Name)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", g.mode, strings.Join(names, ", ")))
	}
	if len(l.cpu) > 0 {
		var names []string
		for _, w := range l.cpu {
			names = append(names, fmt.Sprintf("%s on %g vCPUs", pl.w.Services[w.svc].Name, w.k.vcpus()))
		}
		parts = append(parts, "CPU ("+strings.Join(names, ", ")+")")
	}
	return l.t.name + ": " + strings.Join(parts, "; ")
}
