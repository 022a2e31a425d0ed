package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/admission"
	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
)

// Priority orders requests at admission (Sequoia-style QoS): under pressure, lower priorities are refused first.
type Priority = admission.Priority

// The priorities; Normal is the zero value, so that options left unset mean normal priority.
const (
	Low    = admission.Low
	Normal = admission.Normal
	High   = admission.High
)

// ParsePriority reads low, normal or high ("" is normal).
func ParsePriority(s string) (Priority, error) { return admission.ParsePriority(s) }

// share of a buffer's queue each priority may fill
var priorityShare = map[Priority]float64{Low: 0.5, Normal: 0.9, High: 1}

// Options tune the gateway.
type Options struct {
	MaxQueue       int           // requests per buffer admitted and not yet dispatched (default 1,024)
	MaxInFlight    int           // batches per buffer at the backend at once (default 64)
	Attempts       int           // backend attempts per batch, first included (default 3)
	Backoff        time.Duration // first retry's delay, doubling (default 20 ms)
	BackendTimeout time.Duration // per attempt (default 60 s)
	Seed           uint64        // seeds the retry jitter
	Logger         *slog.Logger
	Metrics        *Metrics
	// Now stamps arrivals and dispatches (default time.Now); tests set it to place arrivals exactly.
	Now func() time.Time
	// LabelPrefix goes before each buffer's number in metric labels (a cluster gateway's spill buffers).
	LabelPrefix string
}

func (o *Options) defaults() {
	if o.MaxQueue <= 0 {
		o.MaxQueue = 1024
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 20 * time.Millisecond
	}
	if o.BackendTimeout <= 0 {
		o.BackendTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Errors callers see.
var (
	ErrQueueFull = errors.New("the buffer's queue is full")
	ErrDraining  = errors.New("the gateway is shutting down")
	errClosed    = errors.New("buffer closed") // a reload replaced it; the request goes to the new plan
)

// Result is one request's answer.
type Result struct {
	Output    []float32
	Buffer    int           // 0-based; a cluster gateway's worker (in the fleet's order), or its spill buffer
	Spilled   bool          // a cluster gateway sent it to Lambda
	BatchSize int           // requests in its batch
	Arrival   time.Time     // when the gateway admitted it
	Wait      time.Duration // arrival to dispatch
	Service   time.Duration // at the backend
	Err       error
}

// Gateway batches requests by the active plan.
type Gateway struct {
	backend  Backend
	opt      Options
	rt       atomic.Pointer[routing]
	draining atomic.Bool
	mu       sync.Mutex // serialises Reload, Drain and Close
	rngMu    sync.Mutex
	rng      *rand.Rand
	admitted atomic.Int64 // requests let in
	answered atomic.Int64 // requests given their answer (or their batch's error)
	// work counts every batch from the moment it closes until its requests have their answers, across plans; a
	// closed buffer takes no requests, so once Close has closed them all and work is zero, every admitted request
	// has had its answer.
	work sync.WaitGroup
}

// routing is one plan's buffers.
type routing struct {
	plan    *plan.Plan
	ranges  batching.Ranges // the buffers' upper sizes, to route a request by its size
	buffers []*buffer
}

// New starts a gateway serving p on backend.
func New(p *plan.Plan, backend Backend, opt Options) (*Gateway, error) {
	opt.defaults()
	g := &Gateway{backend: backend, opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed))}
	rt, err := g.build(p)
	if err != nil {
		return nil, err
	}
	g.rt.Store(rt)
	return g, nil
}

func (g *Gateway) build(p *plan.Plan) (*routing, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Lambda == nil {
		return nil, fmt.Errorf("the gateway serves buffers of Lambda plans; this plan is for %s", p.Platform)
	}
	if err := g.backend.Check(p); err != nil {
		return nil, fmt.Errorf("backend %s cannot serve the plan: %w", g.backend.Describe(), err)
	}
	rt := &routing{plan: p, ranges: plan.Ranges(p.Lambda.Buffers)}
	for i, b := range p.Lambda.Buffers {
		rt.buffers = append(rt.buffers, g.newBuffer(i, b, p))
	}
	return rt, nil
}

// Plan is the plan being served.
func (g *Gateway) Plan() *plan.Plan { return g.rt.Load().plan }

// Submit admits one request of the given token ids and waits for its answer (or ctx). No buffer goroutine sits in
// between: the request that completes a batch starts it, on a goroutine of its own when others share the batch
// (so that its caller can still give up), on the caller's own goroutine when it is alone in it.
func (g *Gateway) Submit(ctx context.Context, ids []int64, pr Priority) Result {
	if g.draining.Load() {
		return Result{Err: ErrDraining}
	}
	r := &request{ids: ids, priority: pr, done: make(chan Result, 1)}
	for {
		rt := g.rt.Load()
		k := rt.ranges.Index(float64(len(ids)))
		b := rt.buffers[k]
		expired, full, reason, err := b.enqueue(r)
		if errors.Is(err, errClosed) {
			if g.draining.Load() {
				return Result{Buffer: k, Err: ErrDraining}
			}
			continue // replaced by a reload a moment ago: the new plan takes it
		}
		if err != nil {
			return Result{Buffer: k, Err: err}
		}
		return b.await(ctx, r, expired, full, reason)
	}
}

// await starts the batches an enqueue closed and waits for r's answer (or ctx).
func (b *buffer) await(ctx context.Context, r *request, expired, full []*request, reason string) Result {
	if expired != nil {
		go b.run(context.Background(), expired, "timeout")
	}
	switch {
	case len(full) == 1:
		// a batch of this request alone: its caller waits for it anyway, so it runs here, bounded by the
		// caller's context, and no goroutine is started (on a VM, waking another thread for one costs more
		// than the rest of the request)
		b.run(ctx, full, reason)
	case full != nil:
		go b.run(context.Background(), full, reason)
	}
	select {
	case res := <-r.done:
		return res
	case <-ctx.Done():
		// the caller left; the batch still runs and its answer is dropped here, not lost in the gateway
		return Result{Buffer: b.idx, Err: ctx.Err()}
	}
}

// Reload switches to a new plan: new requests go to its buffers at once; the old buffers dispatch what they hold
// immediately and stop. No request is dropped.
func (g *Gateway) Reload(p *plan.Plan) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining.Load() {
		return ErrDraining
	}
	rt, err := g.build(p)
	if err != nil {
		return err
	}
	old := g.rt.Swap(rt)
	for _, b := range old.buffers {
		b.close()
	}
	g.opt.Metrics.reloads.Inc() // the caller logs the reload, with where the plan came from
	return nil
}

// Drain starts a shutdown: every open batch leaves now, and requests already inside are dispatched at once.
// New requests are refused (ErrDraining).
func (g *Gateway) Drain() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.draining.Swap(true) {
		return
	}
	for _, b := range g.rt.Load().buffers {
		b.drain()
	}
}

// Counts are the requests admitted so far and those answered; after Close they are equal.
func (g *Gateway) Counts() (admitted, answered int64) { return g.admitted.Load(), g.answered.Load() }

// Draining reports whether a shutdown has started.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// Close stops the buffers and waits for every batch at the backend (or ctx).
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	g.draining.Store(true)
	for _, b := range g.rt.Load().buffers {
		b.close()
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.work.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("batches still at the backend: %w", ctx.Err())
	}
}

type request struct {
	ids      []int64
	arrival  time.Time
	priority Priority
	done     chan Result // buffered (1): delivery never blocks, whether or not the caller still waits
}

// buffer forms batches of one size range: a batch opens at its first request's arrival and leaves when it holds
// batch_size requests or timeout has passed since that arrival (contract §4.1–2); with the timeout at 0, or while
// draining, at once. There is no goroutine per buffer: the request that fills a batch starts it, and a timer
// starts a batch that times out.
type buffer struct {
	g        *Gateway
	idx      int
	backend  Backend
	load     *workerLoad // a cluster worker's queue, for the spill rule; nil for Lambda buffers
	cfg      plan.Buffer
	timeout  time.Duration
	slo      time.Duration
	prices   plan.Pricing
	m        bufferMetrics
	slots    chan struct{} // the in-flight limit
	maxQueue int64
	queued   atomic.Int64 // admitted, not yet at the backend

	mu       sync.Mutex
	pending  []*request
	timer    *time.Timer
	batchSeq uint64 // which open batch the timer is for, so that a late timer cannot send the next one early
	closed   bool   // replaced by a reload or stopped by Close: takes no more requests
	draining bool
}

func (g *Gateway) newBuffer(i int, b plan.Buffer, p *plan.Plan) *buffer {
	return &buffer{g: g, idx: i, backend: g.backend, cfg: b, timeout: time.Duration(b.TimeoutMicros()) * time.Microsecond,
		slo: time.Duration(p.SLO.LatencyMs * float64(time.Millisecond)), prices: p.Lambda.Pricing,
		m: g.opt.Metrics.forBuffer(g.opt.LabelPrefix + strconv.Itoa(i+1)), slots: make(chan struct{}, g.opt.MaxInFlight),
		maxQueue: int64(g.opt.MaxQueue)}
}

// enqueue admits r into the open batch, stamping its arrival under the lock so that arrivals are in order. When r
// completes the batch, the batch is returned for the caller to start. When r arrives after the open batch's
// deadline and the timer has not sent it yet (a timer runs late on a busy machine), that batch is closed without r
// and returned as expired, and r opens the next one: who shares a batch depends on arrival times only (contract
// §4.2), never on how promptly a timer fires.
func (b *buffer) enqueue(r *request) (expired, full []*request, reason string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, "", errClosed
	}
	limit := int64(float64(b.maxQueue) * priorityShare[r.priority])
	if q := b.queued.Add(1); q > max(limit, 1) {
		b.queued.Add(-1)
		b.m.rejectedFull.Inc()
		return nil, nil, "", ErrQueueFull
	}
	b.m.queueDepth.Inc()
	b.g.admitted.Add(1)
	r.arrival = b.g.opt.Now()
	// in whole microseconds, as the contract and the simulator count
	if len(b.pending) > 0 && b.timeout > 0 && r.arrival.UnixMicro()-b.pending[0].arrival.UnixMicro() > b.timeout.Microseconds() {
		expired = b.take()
	}
	b.pending = append(b.pending, r)
	switch {
	case b.draining:
		return expired, b.take(), "drain", nil
	case len(b.pending) >= b.cfg.BatchSize:
		return expired, b.take(), "full", nil
	case b.timeout == 0:
		return expired, b.take(), "timeout", nil
	case len(b.pending) == 1:
		seq := b.batchSeq
		b.timer = time.AfterFunc(b.timeout, func() { b.expire(seq) })
	}
	return expired, nil, "", nil
}

// take closes the open batch (under b.mu) and counts it as work until it has run.
func (b *buffer) take() []*request {
	reqs := b.pending
	b.pending = nil
	b.batchSeq++
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(reqs) > 0 {
		b.g.work.Add(1)
	}
	return reqs
}

// expire sends the open batch if it is still the one the timer was set for.
func (b *buffer) expire(seq uint64) {
	b.mu.Lock()
	if seq != b.batchSeq {
		b.mu.Unlock()
		return
	}
	reqs := b.take()
	b.mu.Unlock()
	if len(reqs) > 0 {
		b.run(context.Background(), reqs, "timeout")
	}
}

// flush sends the open batch now (drain or close), on a goroutine of its own so that the caller does not wait.
func (b *buffer) flush(stop bool) {
	b.mu.Lock()
	b.draining = true
	b.closed = b.closed || stop
	reqs := b.take()
	b.mu.Unlock()
	if len(reqs) > 0 {
		go b.run(context.Background(), reqs, "drain")
	}
}

func (b *buffer) drain() { b.flush(false) }
func (b *buffer) close() { b.flush(true) }

// run sends one batch to the backend, waiting for an in-flight slot first, and gives every request its answer.
// The batch was counted in g.work by take. ctx is the caller's for a batch of one run on its caller's goroutine
// (nobody else waits for it), and context.Background() for a batch shared by several callers.
func (b *buffer) run(ctx context.Context, reqs []*request, reason string) {
	g, m := b.g, b.m
	defer g.work.Done()
	n := len(reqs)
	m.batches(reason).Inc()
	m.batchSize.Observe(float64(n))
	b.load.queue(1)
	select {
	case b.slots <- struct{}{}: // a batch waits here (still queued) for a slot
	case <-ctx.Done():
		b.load.queue(-1)
		b.queued.Add(int64(-n))
		m.queueDepth.Sub(float64(n))
		for _, r := range reqs {
			r.done <- Result{Buffer: b.idx, BatchSize: n, Arrival: r.arrival, Wait: g.opt.Now().Sub(r.arrival), Err: ctx.Err()}
			g.answered.Add(1)
		}
		return
	}
	b.queued.Add(int64(-n))
	m.queueDepth.Sub(float64(n))
	m.inflight.Inc()
	sent := g.opt.Now()
	b.load.queue(-1)
	b.load.start(sent)
	defer func() {
		<-b.slots
		m.inflight.Dec()
	}()
	batch := &Batch{Buffer: b.idx, MemoryMB: b.cfg.MemoryMB, Inputs: make([][]int64, n)}
	var sum int
	for i, r := range reqs {
		batch.Inputs[i] = r.ids
		batch.PadTo = max(batch.PadTo, len(r.ids))
		sum += len(r.ids)
		m.wait.Observe(sent.Sub(r.arrival).Seconds())
	}
	m.tokens.Add(float64(sum))
	m.padded.Add(float64(n*batch.PadTo - sum))
	out, err := b.call(ctx, batch)
	service := g.opt.Now().Sub(sent)
	b.load.finish(service)
	m.service.Observe(service.Seconds())
	svcMs := float64(service.Microseconds()) / 1000
	m.cost.Add(awslambda.InvocationUSD(svcMs, b.cfg.MemoryMB, b.prices.GBSecondUSD, b.prices.RequestUSD))
	now := g.opt.Now()
	for i, r := range reqs {
		res := Result{Buffer: b.idx, BatchSize: n, Arrival: r.arrival, Wait: sent.Sub(r.arrival), Service: service, Err: err}
		if err == nil {
			res.Output = out[i]
		}
		lat := now.Sub(r.arrival)
		m.latency.Observe(lat.Seconds())
		if lat > b.slo {
			m.sloMisses.Inc()
		}
		r.done <- res
		g.answered.Add(1)
	}
}

// call calls the backend, retrying retryable failures with exponential backoff and jitter, until ctx ends.
func (b *buffer) call(ctx context.Context, batch *Batch) ([][]float32, error) {
	g, m := b.g, b.m
	delay := g.opt.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, g.opt.BackendTimeout)
		var out [][]float32
		out, err = b.backend.Infer(actx, batch)
		cancel()
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err() // the only caller left: not the backend's failure
		}
		retry := IsRetryable(err)
		m.errors(retry).Inc()
		if !retry || attempt >= g.opt.Attempts {
			g.opt.Logger.Warn("batch failed", "buffer", b.idx+1, "requests", len(batch.Inputs), "attempts", attempt, "err", err)
			if retry {
				return nil, fmt.Errorf("backend failed %d times: %w", attempt, err)
			}
			return nil, err
		}
		m.retries.Inc()
		g.rngMu.Lock()
		jitter := time.Duration(g.rng.Int64N(int64(delay)/2 + 1))
		g.rngMu.Unlock()
		t := time.NewTimer(delay + jitter)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		delay *= 2
	}
}
