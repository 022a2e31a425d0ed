package plan

import (
	"cmp"
	"math"
	"slices"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/internal/inputerr"
)

// PlatformCluster is a fleet of EC2 instances serving several services (docs/cluster-plan.md).
const PlatformCluster = "cluster"

// Sharing modes of a GPU.
const (
	SharingExclusive = "exclusive"
	SharingTimeSlice = "time-slice"
	SharingMPS       = "mps"
	SharingMIG       = "mig"
)

// Cluster is the body of a cluster plan: the services and their SLOs, the pools of identical instances, and on
// every instance the workers — which service each serves, on which GPU with what share of it (or on how many
// vCPUs), for which request sizes, and how it batches.
type Cluster struct {
	Services []Service
	Pools    []Pool
	// Routing is the rule that sends requests to workers, in words (the rule itself is fixed: docs/cluster-plan.md).
	Routing string
	// Sharing is the interference model the service times under GPU sharing came from.
	Sharing *SharingModel
	// Hardware says where every latency curve the plan could use came from: measured, imported or derived.
	Hardware []HardwareSource
	// Skipped lists instance types the search left out, and why.
	Skipped []Skipped
	// Decisions say why the fleet is what it is, one sentence per pool.
	Decisions []string
	// Schedule is a scaled fleet's instances per window; nil for a static fleet.
	Schedule *Schedule
}

// Schedule says how many instances of each pool run in each window of the traces: provisioned StartupS before
// the window that needs them, stopped when the last window that needs them ends (docs/cluster-plan.md).
type Schedule struct {
	WindowS  float64          `json:"window_s"`
	StartupS float64          `json:"startup_s"`
	PeakBinS float64          `json:"peak_bin_s"` // a window's peak rate is its busiest bin of this length
	Windows  []ScheduleWindow `json:"windows"`
}

// ScheduleWindow is one window: the instances of every pool (in the order of Pools), and per service the
// traffic it saw, the forecast it was provisioned for and what spilled.
type ScheduleWindow struct {
	StartS   float64         `json:"start_s"`
	EndS     float64         `json:"end_s"`
	Counts   []int           `json:"counts"`
	Services []WindowService `json:"services"`
}

// WindowService is one service in one window.
type WindowService struct {
	Name        string  `json:"name"`
	Requests    int     `json:"requests"`
	PeakRPS     float64 `json:"peak_rps"`
	ForecastRPS float64 `json:"forecast_rps"` // the peak rate the window was provisioned for (before headroom)
	CapacityRPS float64 `json:"capacity_rps"` // what its instances serve, at the rate the planner counts per instance
	Spilled     int     `json:"spilled"`
}

// SpillRule sends a service's requests that would wait longer than ThresholdMs for their worker to Lambda,
// batched by Buffers (planned by the Lambda planner for the spilled traffic).
type SpillRule struct {
	ThresholdMs float64  `json:"threshold_ms"`
	Arch        string   `json:"arch"`
	Buffers     []Buffer `json:"buffers"`
}

// Forecasting is how a scaled service's instances follow its traffic.
type Forecasting struct {
	Method      string  `json:"method"`
	Headroom    float64 `json:"headroom"`                  // instances for forecast × headroom
	CapacityRPS float64 `json:"capacity_rps_per_instance"` // the rate one instance is counted for
	// Backtest is every method's one-step-ahead error on the service's own past (the chosen one first).
	Backtest []Backtest `json:"backtest"`
}

// Backtest is a forecasting method's error over a trace's windows.
type Backtest struct {
	Method     string  `json:"method"`
	MAPE       float64 `json:"mape"`
	UnderShare float64 `json:"under_forecast_share"`
	Steps      int     `json:"steps"`
}

// Service is one model served under its own SLO, with the inputs it was planned from.
type Service struct {
	Name     string   `json:"name"`
	Model    string   `json:"model"`
	SLO      SLO      `json:"slo"`
	MaxSize  float64  `json:"max_size,omitempty"` // longer requests are truncated to this
	SizeUnit string   `json:"size_unit,omitempty"`
	Profiles []string `json:"profiles,omitempty"`
	Trace    *Trace   `json:"trace,omitempty"`
	// a scaled fleet's services: how their pool follows the forecast, and what spills to Lambda
	Forecast *Forecasting `json:"forecast,omitempty"`
	Spill    *SpillRule   `json:"spill,omitempty"`
}

// Trace names a service's trace and how to read it again.
type Trace struct {
	File     string  `json:"file"`
	TimeCol  string  `json:"time_col,omitempty"`
	SizeCol  string  `json:"size_col,omitempty"`
	TimeUnit string  `json:"time_unit,omitempty"`
	SHA256   string  `json:"sha256,omitempty"`
	Requests int     `json:"requests"`
	SpanS    float64 `json:"span_s"`
}

// Pool is Count identical instances of one type, each laid out the same way.
type Pool struct {
	InstanceType string  `json:"instance_type"`
	Count        int     `json:"count"`               // instances; a scaled pool's most at once
	MinCount     int     `json:"min_count,omitempty"` // a scaled pool's fewest
	USDPerHour   float64 `json:"usd_per_hour"`        // one instance, on demand
	VCPUs        int     `json:"vcpus"`
	GPU          string  `json:"gpu,omitempty"` // EC2's name of its GPU model: t4, a10g, h100, …
	// GPUs is the layout of each instance's GPUs, one entry per GPU used.
	GPUs []GPU `json:"gpus,omitempty"`
	// CPUWorkers run on the instance's vCPUs.
	CPUWorkers []Worker `json:"cpu_workers,omitempty"`
}

// GPU is how one GPU of an instance is shared, and by which workers.
type GPU struct {
	Index   int      `json:"index"`
	Sharing string   `json:"sharing"` // exclusive, time-slice, mps, mig
	Workers []Worker `json:"workers"`
	// Utilisation is the share of the trace this GPU had a batch running, over the pool's instances (replay).
	Utilisation *float64 `json:"utilisation,omitempty"`
}

// Worker is one serving process: it takes a service's requests in [MinSize, MaxSize], batches them (contract §4)
// and runs one batch at a time.
type Worker struct {
	Service   string  `json:"service"`
	MinSize   float64 `json:"min_size"`
	MaxSize   float64 `json:"max_size"`
	BatchSize int     `json:"batch_size"`
	TimeoutMs float64 `json:"timeout_ms"`
	// Hardware is the profile hardware whose latency curve the worker runs at (a GPU or CPU id of a profile).
	Hardware string `json:"hardware"`
	// SMShare is a GPU worker's share of the SMs (1: all of them; MPS and MIG give less), portable across ways of
	// splitting a GPU; MPSActiveThreadPct and MIGProfile say how to apply it.
	SMShare            float64 `json:"sm_share,omitempty"`
	MPSActiveThreadPct int     `json:"mps_active_thread_pct,omitempty"`
	MIGProfile         string  `json:"mig_profile,omitempty"`
	// VCPUs is what a CPU worker is given; Threads the threads its profile measured (what it runs with).
	VCPUs   float64      `json:"vcpus,omitempty"`
	Threads float64      `json:"threads,omitempty"`
	Stats   *WorkerStats `json:"stats,omitempty"`
}

// WorkerStats is one worker's share of a replay, summed over the pool's instances.
type WorkerStats struct {
	Requests    int     `json:"requests"`
	Batches     int     `json:"batches"`
	MeanBatch   float64 `json:"mean_batch"`
	Utilisation float64 `json:"utilisation"`  // busy share of the trace, per instance
	QueueP99Ms  float64 `json:"queue_p99_ms"` // 99th percentile of the wait for the worker to be free
}

// SharingModel is the fitted interference model (package profiler/interference).
type SharingModel struct {
	GapMs     float64 `json:"gap_ms"`
	TimeSlice float64 `json:"time_slice"`
	MPS       float64 `json:"mps"`
	Source    string  `json:"source"`
}

// HardwareSource says where a service's latency on some hardware came from.
type HardwareSource struct {
	Service  string  `json:"service"`
	Hardware string  `json:"hardware"`          // the profile hardware id
	Kind     string  `json:"kind"`              // measured, derived
	Source   string  `json:"source"`            // the profile file, or how it was derived
	Applies  string  `json:"applies_to"`        // the instance types it stands for, and how
	Note     string  `json:"note,omitempty"`    // caveats (TensorRT engines, vCPU mapping, …)
	Profile  string  `json:"profile,omitempty"` // file of a measured profile
	FromHW   string  `json:"derived_from,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"` // derived: the scale applied
}

// Skipped is an instance type the search could not use.
type Skipped struct {
	InstanceType string `json:"instance_type"`
	Reason       string `json:"reason"`
}

// ServiceEstimate is one service's part of a cluster replay (contract §3.3's metrics, per service).
type ServiceEstimate struct {
	Name          string  `json:"name"`
	Requests      int     `json:"requests"`
	SLO           SLO     `json:"slo"`
	SLOAttainment float64 `json:"slo_attainment"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP95Ms  float64 `json:"latency_p95_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	PaddingRatio  float64 `json:"padding_ratio"`
	MeanBatch     float64 `json:"mean_batch"`
	// QueueP99Ms is the 99th percentile of the time requests waited for a busy worker (beyond the wait for their
	// batch to fill).
	QueueP99Ms float64 `json:"queue_p99_ms"`
	CostUSD    float64 `json:"cost_usd,omitempty"` // Lambda baseline: its own bill
	// Spilled requests went to Lambda; SpillCostUSD is what Lambda billed for them.
	Spilled      int     `json:"spilled,omitempty"`
	SpillCostUSD float64 `json:"spill_cost_usd,omitempty"`
}

// Met reports whether the service met its SLO.
func (s ServiceEstimate) Met() bool { return s.SLO.Met(s.SLOAttainment) }

// LambdaService is one service's buffers in the Lambda baseline of a cluster plan.
type LambdaService struct {
	Service string   `json:"service"`
	Arch    string   `json:"arch"`
	Buffers []Buffer `json:"buffers"`
}

// clusterJSON is a cluster plan's layout.
type clusterJSON struct {
	Version   int                   `json:"version"`
	Platform  string                `json:"platform"`
	Model     string                `json:"model,omitempty"`
	SizeUnit  string                `json:"size_unit,omitempty"`
	Services  []Service             `json:"services"`
	Pools     []Pool                `json:"pools"`
	Routing   string                `json:"routing"`
	Decisions []string              `json:"decisions,omitempty"`
	Schedule  *Schedule             `json:"schedule,omitempty"`
	Estimate  Estimate              `json:"estimate"`
	Baselines []clusterBaselineJSON `json:"baselines,omitempty"`
	Sharing   *SharingModel         `json:"sharing_model,omitempty"`
	Hardware  []HardwareSource      `json:"hardware,omitempty"`
	Skipped   []Skipped             `json:"skipped,omitempty"`
	Inputs    *Inputs               `json:"inputs,omitempty"`
	Search    *Search               `json:"search,omitempty"`
	Warnings  []string              `json:"warnings,omitempty"`
}

type clusterBaselineJSON struct {
	Name     string          `json:"name"` // dedicated, time-slice-only, cpu-only, lambda
	Estimate Estimate        `json:"estimate"`
	Pools    []Pool          `json:"pools,omitempty"`
	Lambda   []LambdaService `json:"lambda,omitempty"`
	Note     string          `json:"note,omitempty"`
}

func clusterWire(p *Plan) clusterJSON {
	c := p.Cluster
	w := clusterJSON{Version: p.Version, Platform: p.Platform, Model: p.Model, SizeUnit: p.SizeUnit, Services: c.Services,
		Pools: c.Pools, Routing: c.Routing, Decisions: c.Decisions, Schedule: c.Schedule, Estimate: p.Estimate, Sharing: c.Sharing, Hardware: c.Hardware,
		Skipped: c.Skipped, Inputs: p.Inputs, Search: p.Search, Warnings: p.Warnings}
	for _, b := range p.Baselines {
		w.Baselines = append(w.Baselines, clusterBaselineJSON{Name: b.Name, Estimate: b.Estimate, Pools: b.Pools,
			Lambda: b.Lambda, Note: b.Note})
	}
	return w
}

func (w *clusterJSON) plan() *Plan {
	p := &Plan{Version: w.Version, Platform: w.Platform, Model: w.Model, SizeUnit: w.SizeUnit, Estimate: w.Estimate,
		Inputs: w.Inputs, Search: w.Search, Warnings: w.Warnings,
		Cluster: &Cluster{Services: w.Services, Pools: w.Pools, Routing: w.Routing, Sharing: w.Sharing,
			Hardware: w.Hardware, Skipped: w.Skipped, Decisions: w.Decisions, Schedule: w.Schedule}}
	for _, b := range w.Baselines {
		p.Baselines = append(p.Baselines, Baseline{Name: b.Name, Estimate: b.Estimate, Pools: b.Pools, Lambda: b.Lambda, Note: b.Note})
	}
	return p
}

// MIG profiles by the share of the GPU's compute they get (sevenths), for the GPUs that support MIG.
var MIGProfiles = map[string]float64{"1g": 1.0 / 7, "2g": 2.0 / 7, "3g": 3.0 / 7, "4g": 4.0 / 7, "7g": 1}

// validate checks a cluster body: services with valid SLOs and distinct names; pools of at least one instance;
// workers of known services with a batch size, a timeout, a size range and a sharing setting that make sense; and
// every service served, its workers' size ranges either equal or disjoint.
func (c *Cluster) validate() error {
	if len(c.Services) == 0 {
		return inputerr.New("", 0, "services", "no services")
	}
	known := map[string]bool{}
	for i, s := range c.Services {
		if s.Name == "" {
			return inputerr.New("", 0, fieldf("services", i, "name"), "missing")
		}
		if known[s.Name] {
			return inputerr.New("", 0, fieldf("services", i, "name"), "%q is named twice", s.Name)
		}
		known[s.Name] = true
		if err := s.SLO.validate(fieldf("services", i, "slo")); err != nil {
			return err
		}
	}
	if len(c.Pools) == 0 {
		return inputerr.New("", 0, "pools", "no pools")
	}
	ranges := map[string][][2]float64{}
	check := func(pi int, w Worker, gpu *GPU) error {
		f := func(k string) string { return fieldf("pools", pi, k) }
		switch {
		case !known[w.Service]:
			return inputerr.New("", 0, f("service"), "worker of unknown service %q", w.Service)
		case w.BatchSize < 1:
			return inputerr.New("", 0, f("batch_size"), "%d is below 1", w.BatchSize)
		case !(w.TimeoutMs >= 0) || math.IsInf(w.TimeoutMs, 0):
			return inputerr.New("", 0, f("timeout_ms"), "%v is not a non-negative number", w.TimeoutMs)
		case math.IsNaN(w.MinSize) || math.IsNaN(w.MaxSize) || w.MinSize > w.MaxSize:
			return inputerr.New("", 0, f("max_size"), "min_size %v is above max_size %v", w.MinSize, w.MaxSize)
		case w.Hardware == "":
			return inputerr.New("", 0, f("hardware"), "a worker needs the profile hardware it runs at")
		}
		if gpu != nil {
			if !(w.SMShare > 0 && w.SMShare <= 1) {
				return inputerr.New("", 0, f("sm_share"), "%v is not a share in (0, 1]", w.SMShare)
			}
			if gpu.Sharing == SharingMIG {
				if _, ok := MIGProfiles[migSlices(w.MIGProfile)]; !ok {
					return inputerr.New("", 0, f("mig_profile"), "%q is not a MIG profile (1g…7g)", w.MIGProfile)
				}
			}
		} else if !(w.VCPUs > 0) {
			return inputerr.New("", 0, f("vcpus"), "a CPU worker needs vCPUs")
		}
		r := [2]float64{w.MinSize, w.MaxSize}
		if !slices.Contains(ranges[w.Service], r) {
			ranges[w.Service] = append(ranges[w.Service], r)
		}
		return nil
	}
	for i, p := range c.Pools {
		f := func(k string) string { return fieldf("pools", i, k) }
		if p.InstanceType == "" {
			return inputerr.New("", 0, f("instance_type"), "missing")
		}
		if p.Count < 1 {
			return inputerr.New("", 0, f("count"), "%d is below 1", p.Count)
		}
		if !(p.USDPerHour > 0) || math.IsInf(p.USDPerHour, 0) {
			return inputerr.New("", 0, f("usd_per_hour"), "%v is not a positive price", p.USDPerHour)
		}
		if len(p.GPUs) == 0 && len(p.CPUWorkers) == 0 {
			return inputerr.New("", 0, f("gpus"), "an instance with no workers")
		}
		for _, g := range p.GPUs {
			switch g.Sharing {
			case SharingExclusive, SharingTimeSlice, SharingMPS, SharingMIG:
			default:
				return inputerr.New("", 0, f("sharing"), "%q: want exclusive, time-slice, mps or mig", g.Sharing)
			}
			if len(g.Workers) == 0 || g.Sharing == SharingExclusive && len(g.Workers) != 1 {
				return inputerr.New("", 0, f("workers"), "GPU %d (%s) has %d workers", g.Index, g.Sharing, len(g.Workers))
			}
			for _, w := range g.Workers {
				if err := check(i, w, &g); err != nil {
					return err
				}
			}
		}
		for _, w := range p.CPUWorkers {
			if err := check(i, w, nil); err != nil {
				return err
			}
		}
	}
	if sc := c.Schedule; sc != nil {
		if !(sc.WindowS > 0) || math.IsInf(sc.WindowS, 0) || !(sc.StartupS >= 0) || math.IsInf(sc.StartupS, 0) {
			return inputerr.New("", 0, "schedule", "window_s %v and startup_s %v must be a positive and a non-negative number", sc.WindowS, sc.StartupS)
		}
		for j, w := range sc.Windows {
			if len(w.Counts) != len(c.Pools) {
				return inputerr.New("", 0, fieldf("schedule.windows", j, "counts"), "%d counts for %d pools", len(w.Counts), len(c.Pools))
			}
			for pi, n := range w.Counts {
				if n < max(c.Pools[pi].MinCount, 1) || n > c.Pools[pi].Count {
					return inputerr.New("", 0, fieldf("schedule.windows", j, "counts"), "pool %d: %d instances, outside its %d…%d", pi, n, max(c.Pools[pi].MinCount, 1), c.Pools[pi].Count)
				}
			}
		}
	}
	for i, s := range c.Services {
		if sp := s.Spill; sp != nil {
			if !(sp.ThresholdMs >= 0) || math.IsInf(sp.ThresholdMs, 0) {
				return inputerr.New("", 0, fieldf("services", i, "spill"), "threshold_ms %v is not a non-negative number", sp.ThresholdMs)
			}
			if err := ValidateBuffers(sp.Buffers); err != nil {
				return inputerr.New("", 0, fieldf("services", i, "spill"), "%v", err)
			}
		}
		rs := ranges[s.Name]
		if len(rs) == 0 {
			return inputerr.New("", 0, fieldf("services", i, "name"), "service %q has no workers", s.Name)
		}
		slices.SortFunc(rs, func(a, b [2]float64) int { return cmp.Compare(a[0], b[0]) })
		for j := 1; j < len(rs); j++ {
			if rs[j][0] <= rs[j-1][1] {
				return inputerr.New("", 0, fieldf("services", i, "name"), "service %q has workers for overlapping sizes %v and %v", s.Name, rs[j-1], rs[j])
			}
		}
	}
	return nil
}

// migSlices is the compute part of a MIG profile name: "3g" of "3g.40gb".
func migSlices(profile string) string {
	for i, r := range profile {
		if r == '.' {
			return profile[:i]
		}
	}
	return profile
}

// MIGShare is the share of the GPU a MIG profile gets ("3g.40gb": 3/7), false for a name that is not one.
func MIGShare(profile string) (float64, bool) {
	s, ok := MIGProfiles[migSlices(profile)]
	return s, ok
}

// ServiceRanges are the size ranges a service's workers take, ascending, for routing its requests (the rule of
// batching.Ranges: the first range whose upper size is at least the request's, else the last).
func (c *Cluster) ServiceRanges(service string) batching.Ranges {
	var r batching.Ranges
	seen := map[float64]bool{}
	c.EachWorker(func(_ WorkerRef, w *Worker) {
		if w.Service == service && !seen[w.MaxSize] {
			seen[w.MaxSize] = true
			r = append(r, w.MaxSize)
		}
	})
	slices.Sort(r)
	return r
}

// WorkerRef locates a worker in a fleet: pool, instance of the pool, GPU index (−1 on the CPU) and worker.
type WorkerRef struct {
	Pool, Instance, GPU, Worker int
}

// EachWorker visits the workers of one instance of every pool in the fleet's fixed order — pool, GPU (CPU
// workers last), worker — which is also the order round-robin routing takes (docs/cluster-plan.md). The
// instance in the reference is 0.
func (c *Cluster) EachWorker(visit func(WorkerRef, *Worker)) {
	for pi := range c.Pools {
		p := &c.Pools[pi]
		for gi := range p.GPUs {
			for wi := range p.GPUs[gi].Workers {
				visit(WorkerRef{pi, 0, gi, wi}, &p.GPUs[gi].Workers[wi])
			}
		}
		for wi := range p.CPUWorkers {
			visit(WorkerRef{pi, 0, -1, wi}, &p.CPUWorkers[wi])
		}
	}
}

// CostPerHourUSD is what the fleet costs an hour.
func (c *Cluster) CostPerHourUSD() float64 {
	sum := 0.0
	for _, p := range c.Pools {
		sum += float64(p.Count) * p.USDPerHour
	}
	return sum
}
