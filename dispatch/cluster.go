package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/admission"
	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
)

// ErrUnknownService is a request for a service the plan does not serve.
var ErrUnknownService = errors.New("the plan serves no such service")

// ClusterOptions tune a cluster gateway: Options per worker (MaxQueue, Attempts, Backoff, BackendTimeout, Seed,
// Logger, Metrics from NewClusterMetrics, Now), the admission controller, and the Lambda backend of each service
// whose plan spills.
type ClusterOptions struct {
	Options
	Admission *admission.Controller
	// Spill is, per service with a spill rule, the backend its spilled requests go to (a Lambda function with an
	// alias per spill buffer, as `apply` makes them). A service whose rule has no backend here does not spill.
	Spill map[string]Backend
	// SpillPricing prices the spill buffers' Lambda calls in the cost metric.
	SpillPricing map[string]plan.Pricing
}

// ClusterGateway routes each request of a cluster plan to a worker of its service exactly as the cluster
// simulator does (docs/cluster-plan.md §3): by size to the service's worker group, then round-robin within the
// group in arrival order; each worker batches by its batch size and timeout (contract §4) and runs one batch at
// a time. A request whose worker's expected queueing delay is above the service's spill threshold goes to Lambda,
// batched by the spill rule's buffers.
type ClusterGateway struct {
	core     *Gateway // counters, the work group, options; its routing holds every worker buffer
	plan     *plan.Plan
	fleet    *fleet.Fleet
	opt      ClusterOptions
	services map[string]*clusterService
	order    []string // service names in the plan's order
	workers  []*buffer
}

type clusterService struct {
	name      string
	ranges    batching.Ranges
	groups    []*workerGroup
	spill     *Gateway // nil: no spill
	threshold time.Duration
	spilled   func() // counts a spill
}

// workerGroup is a service's workers of one size range; its lock makes the round-robin turn and the arrival stamp
// one step, so that the i-th request stamped goes to worker i mod n, as the simulator routes the stamped arrivals.
type workerGroup struct {
	mu      sync.Mutex
	turn    int
	workers []*buffer
}

// NewCluster starts a gateway for a cluster plan: backends[i] runs the batches of the fleet's worker i (nil for
// a worker of a scaled pool that is not up; every group needs at least one).
func NewCluster(p *plan.Plan, f *fleet.Fleet, backends []Backend, opt ClusterOptions) (*ClusterGateway, error) {
	if opt.Metrics == nil {
		opt.Metrics = NewClusterMetrics()
	}
	if opt.Metrics.svcRequests == nil {
		return nil, errors.New("a cluster gateway counts per service and worker: give it NewClusterMetrics, not NewMetrics")
	}
	opt.defaults()
	if len(backends) != len(f.Workers) {
		return nil, fmt.Errorf("%d backends for %d workers", len(backends), len(f.Workers))
	}
	core := &Gateway{opt: opt.Options, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed))}
	c := &ClusterGateway{core: core, plan: p, fleet: f, opt: opt, services: map[string]*clusterService{},
		workers: make([]*buffer, len(f.Workers))}
	rt := &routing{plan: p}
	for i, w := range f.Workers {
		if backends[i] == nil {
			continue
		}
		svc := f.Services[w.Service]
		b := &buffer{g: core, idx: i, backend: backends[i], load: &workerLoad{}, cfg: plan.Buffer{BatchSize: w.BatchSize, TimeoutMs: w.TimeoutMs},
			timeout: time.Duration(plan.Buffer{TimeoutMs: w.TimeoutMs}.TimeoutMicros()) * time.Microsecond,
			slo:     time.Duration(svc.SLO.LatencyMs * float64(time.Millisecond)), m: opt.Metrics.forBuffer(w.ID),
			slots: make(chan struct{}, 1), maxQueue: int64(opt.MaxQueue)}
		c.workers[i] = b
		rt.buffers = append(rt.buffers, b)
	}
	for si, s := range f.Services {
		cs := &clusterService{name: s.Name, ranges: s.Ranges}
		for gi, g := range s.Groups {
			wg := &workerGroup{}
			for _, wi := range g {
				if c.workers[wi] != nil {
					wg.workers = append(wg.workers, c.workers[wi])
				}
			}
			if len(wg.workers) == 0 {
				return nil, fmt.Errorf("service %s: no worker for sizes up to %g is up (its workers: %v)", s.Name, s.Ranges[gi], workerIDs(f, g))
			}
			cs.groups = append(cs.groups, wg)
		}
		if sp := s.Spill; sp != nil {
			be := opt.Spill[s.Name]
			if be == nil {
				opt.Logger.Warn("the plan spills this service to Lambda, but no Lambda function was given: nothing will spill",
					"service", s.Name, "threshold_ms", sp.ThresholdMs)
			} else {
				lp := &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, Model: s.Name, SLO: s.SLO,
					Lambda: &plan.Lambda{Arch: sp.Arch, Buffers: sp.Buffers, Pricing: opt.SpillPricing[s.Name]}}
				so := opt.Options
				so.LabelPrefix = "lambda:" + s.Name + ":"
				so.Seed = opt.Seed + uint64(si) + 1
				g, err := New(lp, be, so)
				if err != nil {
					return nil, fmt.Errorf("service %s: spill buffers: %w", s.Name, err)
				}
				cs.spill = g
				cs.threshold = time.Duration(sp.ThresholdMs * float64(time.Millisecond))
				spilled := opt.Metrics.spilled.WithLabelValues(s.Name)
				cs.spilled = spilled.Inc
			}
		}
		c.services[s.Name] = cs
		c.order = append(c.order, s.Name)
	}
	core.rt.Store(rt)
	return c, nil
}

func workerIDs(f *fleet.Fleet, idx []int) []string {
	out := make([]string, len(idx))
	for i, w := range idx {
		out[i] = f.Workers[w].ID
	}
	return out
}

// Plan is the plan being served.
func (c *ClusterGateway) Plan() *plan.Plan { return c.plan }

// Fleet is the plan's fleet of workers.
func (c *ClusterGateway) Fleet() *fleet.Fleet { return c.fleet }

// Services are the service names, in the plan's order.
func (c *ClusterGateway) Services() []string { return c.order }

// Metrics are the gateway's series.
func (c *ClusterGateway) Metrics() *Metrics { return c.opt.Metrics }

// Admission is the admission controller (nil: none).
func (c *ClusterGateway) Admission() *admission.Controller { return c.opt.Admission }

// Submit routes one request of service to its worker (or to Lambda) and waits for its answer (or ctx).
func (c *ClusterGateway) Submit(ctx context.Context, service string, ids []int64, pr Priority) Result {
	if c.core.draining.Load() {
		return Result{Err: ErrDraining}
	}
	s := c.services[service]
	if s == nil {
		return Result{Err: fmt.Errorf("%w: %q", ErrUnknownService, service)}
	}
	g := s.groups[s.ranges.Index(float64(len(ids)))]
	r := &request{ids: ids, priority: pr, done: make(chan Result, 1)}
	g.mu.Lock()
	b := g.workers[g.turn%len(g.workers)]
	g.turn++
	if s.spill != nil && b.load.expectedWait(c.core.opt.Now()) > s.threshold {
		g.mu.Unlock()
		s.spilled()
		res := s.spill.Submit(ctx, ids, pr)
		res.Spilled = true
		return res
	}
	expired, full, reason, err := b.enqueue(r)
	g.mu.Unlock()
	if errors.Is(err, errClosed) {
		return Result{Buffer: b.idx, Err: ErrDraining}
	}
	if err != nil {
		return Result{Buffer: b.idx, Err: err}
	}
	return b.await(ctx, r, expired, full, reason)
}

// Drain starts a shutdown: open batches leave now (the spill buffers' too), new requests are refused.
func (c *ClusterGateway) Drain() {
	c.core.Drain()
	for _, name := range c.order {
		if sp := c.services[name].spill; sp != nil {
			sp.Drain()
		}
	}
}

// Draining reports whether a shutdown has started.
func (c *ClusterGateway) Draining() bool { return c.core.Draining() }

// Close stops every worker buffer and spill buffer and waits for their batches (or ctx).
func (c *ClusterGateway) Close(ctx context.Context) error {
	err := c.core.Close(ctx)
	for _, name := range c.order {
		if sp := c.services[name].spill; sp != nil {
			err = errors.Join(err, sp.Close(ctx))
		}
	}
	return err
}

// Counts are the requests admitted so far and those answered, spilled ones included; after Close they are
// equal.
func (c *ClusterGateway) Counts() (admitted, answered int64) {
	admitted, answered = c.core.Counts()
	for _, name := range c.order {
		if sp := c.services[name].spill; sp != nil {
			a, n := sp.Counts()
			admitted, answered = admitted+a, answered+n
		}
	}
	return admitted, answered
}

// WorkerLabel is the metric label of the fleet's worker i.
func (c *ClusterGateway) WorkerLabel(i int) string { return c.fleet.Workers[i].ID }

// workerLoad is what a cluster worker has to do, for the spill rule: the batches closed and waiting for it, when
// its running batch started, and a moving average of its batches' service time. Its methods do nothing on nil
// (Lambda buffers keep none).
type workerLoad struct {
	waiting   atomic.Int64
	startedUs atomic.Int64 // Unix µs; 0 when idle
	meanUs    atomic.Int64 // exponentially weighted mean service time of a batch, µs (0 until one has run)
}

func (l *workerLoad) queue(d int64) {
	if l != nil {
		l.waiting.Add(d)
	}
}

func (l *workerLoad) start(t time.Time) {
	if l != nil {
		l.startedUs.Store(t.UnixMicro())
	}
}

// finish records a batch's service time; the mean weighs the latest batch by 1/5.
func (l *workerLoad) finish(d time.Duration) {
	if l == nil {
		return
	}
	l.startedUs.Store(0)
	us := max(d.Microseconds(), 1)
	for {
		old := l.meanUs.Load()
		next := us
		if old > 0 {
			next = old + (us-old)/5
		}
		if l.meanUs.CompareAndSwap(old, next) {
			return
		}
	}
}

// expectedWait is how long a request arriving now would wait for the worker to be free of the batches ahead of
// it: what remains of the running batch plus every waiting batch, each at the worker's mean service time. It is
// the simulator's rule (docs/cluster-plan.md §6) with measured service times in place of the profile's.
func (l *workerLoad) expectedWait(now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	mean := l.meanUs.Load()
	wait := l.waiting.Load() * mean
	if started := l.startedUs.Load(); started > 0 {
		wait += max(started+mean-now.UnixMicro(), 0)
	}
	return time.Duration(wait) * time.Microsecond
}
