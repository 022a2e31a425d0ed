package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/inferplan/inferplan/planner/plan"
)

// testPlan is a valid plan with the given buffers.
func testPlan(bufs ...plan.Buffer) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, SLO: plan.SLO{Percentile: 95, LatencyMs: 1000}, Model: "m",
		Lambda: &plan.Lambda{Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}, Buffers: bufs}}
}

// ids returns n token ids, the first being first.
func ids(first int64, n int) []int64 {
	out := make([]int64, n)
	out[0] = first
	for i := 1; i < n; i++ {
		out[i] = 7
	}
	return out
}

func newTestGateway(t *testing.T, p *plan.Plan, be Backend, opt Options) *Gateway {
	t.Helper()
	g, err := New(p, be, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g
}

// submitAll submits the requests at once and returns their results in order.
func submitAll(g *Gateway, reqs [][]int64, pr Priority) []Result {
	out := make([]Result, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = g.Submit(context.Background(), r, pr)
		}()
	}
	wg.Wait()
	return out
}

func TestFullBatchLeavesAtBatchSize(t *testing.T) {
	be := &Echo{}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 60_000, MemoryMB: 1024}), be, Options{})
	res := submitAll(g, [][]int64{ids(1, 3), ids(2, 9), ids(3, 1), ids(4, 5)}, Normal)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("request %d: %v", i, r.Err)
		}
		// its own first id and length, in a batch of 4 padded to 9
		if want := []float32{float32(i + 1), float32([]int{3, 9, 1, 5}[i]), 4, 9}; fmt.Sprint(r.Output) != fmt.Sprint(want) {
			t.Errorf("request %d: output %v, want %v", i, r.Output, want)
		}
		if r.BatchSize != 4 {
			t.Errorf("request %d: batch of %d", i, r.BatchSize)
		}
	}
	m := g.opt.Metrics
	if got := testutil.ToFloat64(m.batches.WithLabelValues("1", "full")); got != 1 {
		t.Errorf("full batches %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.padded.WithLabelValues("1")); got != 4*9-(3+9+1+5) {
		t.Errorf("padding tokens %v, want %d", got, 4*9-18)
	}
	if be.calls.Load() != 1 {
		t.Errorf("%d backend calls, want 1", be.calls.Load())
	}
}

func TestTimeoutDispatchesAPartialBatch(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 40, MemoryMB: 1024}), &Echo{}, Options{})
	start := time.Now()
	res := submitAll(g, [][]int64{ids(1, 2), ids(2, 2)}, Normal)
	took := time.Since(start)
	for _, r := range res {
		if r.Err != nil || r.BatchSize != 2 {
			t.Fatalf("result %+v", r)
		}
	}
	if took < 40*time.Millisecond {
		t.Errorf("a partial batch left after %v, before its 40 ms timeout", took)
	}
	if got := testutil.ToFloat64(g.opt.Metrics.batches.WithLabelValues("1", "timeout")); got != 1 {
		t.Errorf("timeout batches %v, want 1", got)
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(d time.Duration) { c.ns.Store(int64(d)) }
func waitAdmitted(t *testing.T, g *Gateway, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if a, _ := g.Counts(); a == n {
			return
		}
	}
	t.Fatalf("never admitted %d requests", n)
}

// A timer can fire late on a busy machine. Who shares a batch must still follow arrival times alone (contract §4.2):
// an arrival exactly at the deadline joins, one a microsecond after it opens the next batch, whether or not the
// timer has fired.
func TestLateArrivalOpensTheNextBatchEvenIfTheTimerIsLate(t *testing.T) {
	clock := &fakeClock{}
	// an hour's timeout: the real timer never fires during the test, as if it were very late
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 3600e3, MemoryMB: 1024}),
		&Echo{}, Options{Now: clock.now})
	results := make([]chan Result, 3)
	at := []time.Duration{0, time.Hour, time.Hour + time.Microsecond}
	for i := range results {
		results[i] = make(chan Result, 1)
		clock.set(at[i])
		go func() { results[i] <- g.Submit(context.Background(), ids(int64(i), 4), Normal) }()
		waitAdmitted(t, g, int64(i+1))
	}
	for i := range 2 {
		select {
		case r := <-results[i]:
			if r.Err != nil || r.BatchSize != 2 || r.Output[0] != float32(i) {
				t.Errorf("request %d: %+v, want a batch of 2 (it arrived by the deadline)", i, r)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d: the expired batch was never sent", i)
		}
	}
	g.Drain()
	if r := <-results[2]; r.Err != nil || r.BatchSize != 1 {
		t.Errorf("the late request: %+v, want a batch of its own", r)
	}
	m := g.opt.Metrics
	if got := testutil.ToFloat64(m.batches.WithLabelValues("1", "timeout")); got != 1 {
		t.Errorf("timeout batches %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.batches.WithLabelValues("1", "drain")); got != 1 {
		t.Errorf("drain batches %v, want 1", got)
	}
}

func TestZeroTimeoutDispatchesAtOnce(t *testing.T) {
	be := &Echo{}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 0, MemoryMB: 1024}), be, Options{})
	for i := range 3 {
		if r := g.Submit(context.Background(), ids(int64(i), 4), Normal); r.Err != nil || r.BatchSize != 1 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if be.calls.Load() != 3 {
		t.Errorf("%d calls, want 3", be.calls.Load())
	}
}

func TestRoutingBySize(t *testing.T) {
	p := testPlan(
		plan.Buffer{MinSize: 4, MaxSize: 10, BatchSize: 1, MemoryMB: 1024},
		plan.Buffer{MinSize: 20, MaxSize: 40, BatchSize: 1, MemoryMB: 2048},
		plan.Buffer{MinSize: 41, MaxSize: 50, BatchSize: 1, MemoryMB: 4096})
	g := newTestGateway(t, p, &Echo{}, Options{})
	// below the first min_size → first; between buffers → the upper one; above the last max_size → last (§3.3)
	for _, tc := range []struct{ size, buffer int }{{1, 0}, {10, 0}, {11, 1}, {40, 1}, {41, 2}, {60, 2}} {
		if r := g.Submit(context.Background(), ids(1, tc.size), Normal); r.Err != nil || r.Buffer != tc.buffer {
			t.Errorf("size %d: buffer %d (%v), want %d", tc.size, r.Buffer, r.Err, tc.buffer)
		}
	}
}

// TestFailingBackendAnswersEveryCaller: a backend failing 30 % of its calls yields errors to those callers, never a
// hang or a drop; with retries most of those batches succeed on a later attempt.
func TestFailingBackendAnswersEveryCaller(t *testing.T) {
	for _, retryable := range []bool{false, true} {
		t.Run(fmt.Sprintf("retryable=%v", retryable), func(t *testing.T) {
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(1, 2))
			var failed atomic.Int64
			be := &Echo{Hook: func(_ int64, _ *Batch) error {
				mu.Lock()
				fail := rng.Float64() < 0.3
				mu.Unlock()
				if !fail {
					return nil
				}
				failed.Add(1)
				err := errors.New("model crashed")
				if retryable {
					return Retryable(err)
				}
				return err
			}}
			g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 2, MemoryMB: 1024}),
				be, Options{Backoff: time.Millisecond, Attempts: 3})
			reqs := make([][]int64, 600)
			for i := range reqs {
				reqs[i] = ids(int64(i), 1+i%7)
			}
			done := make(chan []Result)
			go func() { done <- submitAll(g, reqs, Normal) }()
			var res []Result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("requests hung")
			}
			var ok, bad int
			for i, r := range res {
				switch {
				case r.Err == nil && r.Output[0] == float32(i):
					ok++
				case r.Err != nil && r.Output == nil:
					bad++
				default:
					t.Fatalf("request %d: output %v, err %v", i, r.Output, r.Err)
				}
			}
			if ok+bad != len(reqs) {
				t.Fatalf("%d ok + %d errors != %d", ok, bad, len(reqs))
			}
			if failed.Load() == 0 {
				t.Fatal("the backend never failed")
			}
			share := float64(bad) / float64(len(reqs))
			if !retryable && (share < 0.15 || share > 0.45) {
				t.Errorf("%.2f of requests failed, want about 0.3", share)
			}
			// three attempts: about 0.3³ = 2.7 % of batches fail for good
			if retryable && share > 0.1 {
				t.Errorf("%.2f of requests failed despite retries", share)
			}
			if retryable && testutil.ToFloat64(g.opt.Metrics.retries.WithLabelValues("1")) == 0 {
				t.Error("no retries counted")
			}
		})
	}
}

func TestBackendTimeoutIsRetriedThenReported(t *testing.T) {
	be := &Echo{Hook: func(_ int64, b *Batch) error { time.Sleep(50 * time.Millisecond); return nil }}
	be.Hook = func(call int64, b *Batch) error {
		if call <= 2 {
			time.Sleep(30 * time.Millisecond) // past the 10 ms attempt timeout
			return context.DeadlineExceeded
		}
		return nil
	}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}),
		be, Options{BackendTimeout: 10 * time.Millisecond, Backoff: time.Millisecond, Attempts: 3})
	if r := g.Submit(context.Background(), ids(5, 3), Normal); r.Err != nil || r.Output[0] != 5 {
		t.Fatalf("third attempt should succeed: %+v", r)
	}
	be.calls.Store(0)
	be.Hook = func(int64, *Batch) error { return context.DeadlineExceeded }
	r := g.Submit(context.Background(), ids(5, 3), Normal)
	if !errors.Is(r.Err, context.DeadlineExceeded) || be.calls.Load() != 3 {
		t.Fatalf("err %v after %d calls, want a deadline after 3", r.Err, be.calls.Load())
	}
}

// TestOverloadRefusesThenRecovers: with the backend stuck and the queue full, new requests are refused at once
// (429 upstairs); once the backend moves, every admitted request is answered and new ones are admitted again.
func TestOverloadRefusesThenRecovers(t *testing.T) {
	release := make(chan struct{})
	be := &Echo{Hook: func(int64, *Batch) error { <-release; return nil }}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 0, MemoryMB: 1024}),
		be, Options{MaxQueue: 10, MaxInFlight: 1})
	var wg sync.WaitGroup
	results := make(chan Result, 100)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- g.Submit(context.Background(), ids(int64(i), 2), Normal)
		}()
	}
	// wait until every request is either refused or admitted
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(g.opt.Metrics.rejected.WithLabelValues("1", "queue_full"))+float64(g.rt.Load().buffers[0].queued.Load()) < 39 {
		if time.Now().After(deadline) {
			t.Fatal("requests neither admitted nor refused")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)
	var ok, full int
	for r := range results {
		switch {
		case r.Err == nil:
			ok++
		case errors.Is(r.Err, ErrQueueFull):
			full++
		default:
			t.Fatalf("unexpected %v", r.Err)
		}
	}
	// one batch at the backend (≤ 2 requests, out of the queue) + 9 queued (90 % of 10 for normal priority)
	if full == 0 || ok < 9 || ok > 11 || ok+full != 40 {
		t.Fatalf("%d answered, %d refused", ok, full)
	}
	if r := g.Submit(context.Background(), ids(1, 2), Normal); r.Err != nil {
		t.Fatalf("after the overload: %v", r.Err)
	}
	if d := testutil.ToFloat64(g.opt.Metrics.queueDepth.WithLabelValues("1")); d != 0 {
		t.Errorf("queue depth %v after everything was answered", d)
	}
}

func TestPriorityShares(t *testing.T) {
	release := make(chan struct{})
	be := &Echo{Hook: func(int64, *Batch) error { <-release; return nil }}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 600_000, MemoryMB: 1024}),
		be, Options{MaxQueue: 10, MaxInFlight: 1})
	defer close(release)
	admitted := func(pr Priority, n int) int {
		var got atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				if r := g.Submit(ctx, ids(1, 1), pr); !errors.Is(r.Err, ErrQueueFull) {
					got.Add(1)
				}
			}()
		}
		wg.Wait()
		return int(got.Load())
	}
	// a batch of two takes the backend's only slot; everything after it stays queued behind it (callers give up
	// after 200 ms; their requests stay in, in batches of two that wait for the slot, or in the open batch)
	go g.Submit(context.Background(), ids(1, 1), High)
	go g.Submit(context.Background(), ids(1, 1), High)
	for testutil.ToFloat64(g.opt.Metrics.inflight.WithLabelValues("1")) != 1 {
		time.Sleep(time.Millisecond)
	}
	if n := admitted(Low, 20); n != 5 {
		t.Errorf("low priority: %d admitted into an empty queue of 10, want 5", n)
	}
	if n := admitted(Normal, 20); n != 4 {
		t.Errorf("normal: %d more admitted, want 4 (up to 90 %%)", n)
	}
	if n := admitted(High, 20); n != 1 {
		t.Errorf("high: %d more admitted, want 1 (the last slot)", n)
	}
}

func TestDrainDispatchesOpenBatchesAndRefusesNewOnes(t *testing.T) {
	be := &Echo{}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 100, TimeoutMs: 600_000, MemoryMB: 1024}), be, Options{})
	done := make(chan []Result)
	go func() { done <- submitAll(g, [][]int64{ids(1, 2), ids(2, 2), ids(3, 2)}, Normal) }()
	for g.rt.Load().buffers[0].queued.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	g.Drain()
	select {
	case res := <-done:
		for _, r := range res {
			if r.Err != nil || r.BatchSize != 3 {
				t.Fatalf("drained request: %+v", r)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not dispatch the open batch (its timeout is 10 minutes)")
	}
	if r := g.Submit(context.Background(), ids(1, 1), Normal); !errors.Is(r.Err, ErrDraining) {
		t.Fatalf("after drain: %v", r.Err)
	}
	if err := g.Reload(g.Plan()); !errors.Is(err, ErrDraining) {
		t.Fatalf("reload while draining: %v", err)
	}
	if got := testutil.ToFloat64(g.opt.Metrics.batches.WithLabelValues("1", "drain")); got != 1 {
		t.Errorf("drain batches %v", got)
	}
}

// TestDrainUnderLoadLosesNothing: senders keep submitting while the gateway drains and closes; every request is
// either refused before admission or answered with its own output.
func TestDrainUnderLoadLosesNothing(t *testing.T) {
	be := &Echo{Hook: func(int64, *Batch) error { time.Sleep(2 * time.Millisecond); return nil }}
	g, err := New(testPlan(plan.Buffer{MinSize: 1, MaxSize: 8, BatchSize: 8, TimeoutMs: 30, MemoryMB: 1024},
		plan.Buffer{MinSize: 9, MaxSize: plan.NoUpperBound, BatchSize: 3, TimeoutMs: 5, MemoryMB: 2048}), be, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var answered, refused, sent atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := int64(w*1_000_000 + i)
				sent.Add(1)
				r := g.Submit(context.Background(), ids(id, 1+i%16), Normal)
				switch {
				case r.Err == nil && r.Output[0] == float32(id):
					answered.Add(1)
				case errors.Is(r.Err, ErrDraining):
					refused.Add(1)
				default:
					t.Errorf("request %d: %+v", id, r)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	g.Drain()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if answered.Load() == 0 || refused.Load() == 0 || answered.Load()+refused.Load() != sent.Load() {
		t.Fatalf("sent %d, answered %d, refused %d", sent.Load(), answered.Load(), refused.Load())
	}
}

// TestReloadUnderLoadDropsNothing swaps plans back and forth while requests flow.
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	be := &Echo{Hook: func(int64, *Batch) error { time.Sleep(time.Millisecond); return nil }}
	a := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 20, MemoryMB: 1024})
	b := testPlan(plan.Buffer{MinSize: 1, MaxSize: 5, BatchSize: 2, TimeoutMs: 1000, MemoryMB: 1024},
		plan.Buffer{MinSize: 6, MaxSize: plan.NoUpperBound, BatchSize: 16, TimeoutMs: 1000, MemoryMB: 2048})
	g := newTestGateway(t, a, be, Options{})
	var ok atomic.Int64
	var wg sync.WaitGroup
	const workers, each = 6, 150
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := int64(w*1000 + i)
				if r := g.Submit(context.Background(), ids(id, 1+i%10), Normal); r.Err != nil || r.Output[0] != float32(id) {
					t.Errorf("request %d: %+v", id, r)
					return
				}
				ok.Add(1)
			}
		}()
	}
	for i := range 20 {
		time.Sleep(5 * time.Millisecond)
		next := a
		if i%2 == 0 {
			next = b
		}
		if err := g.Reload(next); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if ok.Load() != workers*each {
		t.Fatalf("%d of %d answered", ok.Load(), workers*each)
	}
	if got := testutil.ToFloat64(g.opt.Metrics.reloads); got != 20 {
		t.Errorf("reloads %v", got)
	}
}

func TestReloadRefusesABadPlan(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), &Echo{}, Options{})
	bad := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 0, MemoryMB: 1024})
	if err := g.Reload(bad); err == nil {
		t.Fatal("a plan with batch size 0 was loaded")
	}
	if r := g.Submit(context.Background(), ids(1, 1), Normal); r.Err != nil {
		t.Fatalf("the old plan stopped serving: %v", r.Err)
	}
}

func TestCostAccruesAtThePlansPrices(t *testing.T) {
	be := &Echo{Hook: func(int64, *Batch) error { time.Sleep(5 * time.Millisecond); return nil }}
	p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 2048})
	g := newTestGateway(t, p, be, Options{})
	g.Submit(context.Background(), ids(1, 1), Normal)
	got := testutil.ToFloat64(g.opt.Metrics.cost.WithLabelValues("1"))
	// ≥ 5 ms at 2 GB plus the request price; well under a second's worth
	lo := 0.005*2*p.Lambda.Pricing.GBSecondUSD + p.Lambda.Pricing.RequestUSD
	hi := 0.5*2*p.Lambda.Pricing.GBSecondUSD + p.Lambda.Pricing.RequestUSD
	if got < lo || got > hi {
		t.Fatalf("cost %g, want in [%g, %g]", got, lo, hi)
	}
}

func TestBuiltinBackendAnswersWithHiddenStates(t *testing.T) {
	be, err := NewBuiltin("bert-tiny", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 3, TimeoutMs: 5, MemoryMB: 1024}), be, Options{})
	res := submitAll(g, [][]int64{ids(5, 3), ids(6, 12), ids(9, 4)}, Normal)
	for i, r := range res {
		if r.Err != nil || len(r.Output) != be.OutputWidth() || r.BatchSize != 3 {
			t.Fatalf("request %d: %v, %d values, batch %d", i, r.Err, len(r.Output), r.BatchSize)
		}
	}
	// the mask keeps padding out: a request padded to 12 inside the batch gets what it gets alone
	alone := g.Submit(context.Background(), ids(5, 3), Normal)
	if alone.BatchSize != 1 {
		t.Fatalf("alone: batch of %d", alone.BatchSize)
	}
	for j := range alone.Output {
		if d := alone.Output[j] - res[0].Output[j]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("unit %d: %v alone, %v in a padded batch", j, alone.Output[j], res[0].Output[j])
		}
	}
	if fmt.Sprint(res[0].Output) == fmt.Sprint(res[1].Output) {
		t.Error("different inputs got the same output")
	}
	if _, err := NewBuiltin("gpt-17", 1, 1); err == nil {
		t.Error("an unknown model was accepted")
	}
}

// A batch of one runs on its caller's goroutine under the caller's context: when the caller leaves, the request
// gives up its queue place and the backend call is cancelled, and the request is still answered (counted).
func TestLoneRequestFollowsItsCallersContext(t *testing.T) {
	release := make(chan struct{})
	be := &ctxBackend{release: release}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}),
		be, Options{MaxQueue: 2, MaxInFlight: 2})
	go g.Submit(context.Background(), ids(1, 1), Normal)
	for testutil.ToFloat64(g.opt.Metrics.inflight.WithLabelValues("1")) != 1 {
		time.Sleep(time.Millisecond)
	}
	// the backend call of a request whose caller leaves is cancelled, and not retried
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	res := g.Submit(ctx, ids(2, 1), Normal)
	cancel()
	if !errors.Is(res.Err, context.DeadlineExceeded) || be.cancelled.Load() != 1 {
		t.Fatalf("caller timed out: err %v, backend calls cancelled %d", res.Err, be.cancelled.Load())
	}
	// with both slots held, a request waits in the queue; when its caller leaves, its place is free again
	go g.Submit(context.Background(), ids(1, 1), Normal)
	for testutil.ToFloat64(g.opt.Metrics.inflight.WithLabelValues("1")) != 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	res = g.Submit(ctx, ids(3, 1), Normal)
	cancel()
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("queued caller timed out: err %v", res.Err)
	}
	if q := testutil.ToFloat64(g.opt.Metrics.queueDepth.WithLabelValues("1")); q != 0 {
		t.Errorf("queue depth %v after the caller left, want 0", q)
	}
	close(release)
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if admitted, answered := g.Counts(); admitted != 4 || answered != 4 {
		t.Errorf("admitted %d answered %d, want 4 and 4", admitted, answered)
	}
}

// ctxBackend holds requests whose first id is 1 until release, and those with 2 until their context ends.
type ctxBackend struct {
	Echo
	release   chan struct{}
	cancelled atomic.Int64
}

func (c *ctxBackend) Infer(ctx context.Context, b *Batch) ([][]float32, error) {
	switch b.Inputs[0][0] {
	case 1:
		<-c.release
	case 2:
		<-ctx.Done()
		c.cancelled.Add(1)
		return nil, ctx.Err()
	}
	return c.Echo.Infer(ctx, b)
}
