package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/inferplan/inferplan/admission"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/internal/awstest"
	"github.com/inferplan/inferplan/internal/httpx"
	"github.com/inferplan/inferplan/planner/plan"
)

// clusterPlan: service a on two CPU workers for sizes ≤ 128 and one for larger ones; service b on one worker.
func clusterPlan(batch int, timeoutMs float64) *plan.Plan {
	w := func(svc string, lo, hi float64) plan.Worker {
		return plan.Worker{Service: svc, MinSize: lo, MaxSize: hi, BatchSize: batch, TimeoutMs: timeoutMs, Hardware: "cpu", VCPUs: 2, Threads: 1}
	}
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformCluster, Cluster: &plan.Cluster{
		Services: []plan.Service{{Name: "a", SLO: plan.SLO{Percentile: 99, LatencyMs: 1000}}, {Name: "b", SLO: plan.SLO{Percentile: 99, LatencyMs: 1000}}},
		Pools: []plan.Pool{{InstanceType: "c6i.2xlarge", Count: 1, USDPerHour: 0.34, VCPUs: 8,
			CPUWorkers: []plan.Worker{w("a", 1, 128), w("a", 1, 128), w("a", 129, 512), w("b", 1, 512)}}},
	}}
}

func newCluster(t *testing.T, p *plan.Plan, backends []Backend, opt ClusterOptions) *ClusterGateway {
	t.Helper()
	f, err := fleet.Expand(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCluster(p, f, backends, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Error(err)
		}
		if a, n := c.Counts(); a != n {
			t.Errorf("%d admitted, %d answered", a, n)
		}
	})
	return c
}

func echoes(n int) ([]Backend, []*Echo) {
	bs, es := make([]Backend, n), make([]*Echo, n)
	for i := range bs {
		es[i] = &Echo{}
		bs[i] = es[i]
	}
	return bs, es
}

// TestClusterRoutesRoundRobinWithinASizeGroup: with batches of one, service a's small requests alternate between
// its two small workers in arrival order, its large ones go to the third, b's to its own.
func TestClusterRoutesRoundRobinWithinASizeGroup(t *testing.T) {
	bs, es := echoes(4)
	c := newCluster(t, clusterPlan(1, 0), bs, ClusterOptions{})
	var got []int
	for _, r := range []struct {
		svc  string
		size int
	}{{"a", 10}, {"a", 20}, {"a", 300}, {"a", 30}, {"b", 5}, {"a", 128}, {"a", 129}} {
		res := c.Submit(context.Background(), r.svc, ids(1, r.size), Normal)
		if res.Err != nil || res.Spilled || res.Output[1] != float32(r.size) {
			t.Fatalf("%+v", res)
		}
		got = append(got, res.Buffer)
	}
	if fmt.Sprint(got) != "[0 1 2 0 3 1 2]" {
		t.Errorf("workers %v, want [0 1 2 0 3 1 2]", got)
	}
	if es[0].Calls() != 2 || es[1].Calls() != 2 || es[2].Calls() != 2 || es[3].Calls() != 1 {
		t.Errorf("calls %d %d %d %d", es[0].Calls(), es[1].Calls(), es[2].Calls(), es[3].Calls())
	}
	if res := c.Submit(context.Background(), "nobody", ids(1, 3), Normal); !errors.Is(res.Err, ErrUnknownService) {
		t.Errorf("unknown service: %v", res.Err)
	}
}

// TestClusterWorkersBatchAndRunOneBatchAtATime: eight concurrent small requests of a with batch size 2 make two
// full batches on each small worker; a worker never runs two batches at once.
func TestClusterWorkersBatchAndRunOneBatchAtATime(t *testing.T) {
	var running, most atomic.Int64
	hook := func(int64, *Batch) error {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	w0 := &Echo{Hook: hook}
	bs := []Backend{w0, &Echo{}, &Echo{}, &Echo{}}
	c := newCluster(t, clusterPlan(2, 10_000), bs, ClusterOptions{})
	var wg sync.WaitGroup
	sizes := make([]float32, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := c.Submit(context.Background(), "a", ids(1, 5), Normal)
			if res.Err != nil {
				t.Error(res.Err)
				return
			}
			sizes[i] = res.Output[2]
		}()
		time.Sleep(2 * time.Millisecond) // arrivals in order
	}
	wg.Wait()
	// worker 0 takes requests 0, 2, 4, 6: its second batch closes while its first is still running
	if fmt.Sprint(sizes) != "[2 2 2 2 2 2 2 2]" || w0.Calls() != 2 || bs[1].(*Echo).Calls() != 2 {
		t.Errorf("batch sizes %v, worker 0 %d batches, worker 1 %d", sizes, w0.Calls(), bs[1].(*Echo).Calls())
	}
	if most.Load() != 1 {
		t.Errorf("worker 0 ran %d batches at once", most.Load())
	}
	m := c.Metrics()
	if v := testutil.ToFloat64(m.batches.WithLabelValues("p0-0/cpu/w0", "full")); v != 2 {
		t.Errorf("batches metric for p0-0/cpu/w0 = %v", v)
	}
}

// TestClusterSpillsWhenTheWorkerIsBusy: b's worker takes 150 ms a batch and the rule spills a request that would
// wait more than 50 ms. The first request finds the worker idle; while the second runs, a third would wait about
// 150 ms and goes to Lambda (a recorded Lambda endpoint), batched by the spill rule's buffer.
func TestClusterSpillsWhenTheWorkerIsBusy(t *testing.T) {
	p := clusterPlan(1, 0)
	p.Cluster.Services[1].Spill = &plan.SpillRule{ThresholdMs: 50, Arch: "x86_64",
		Buffers: []plan.Buffer{{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 2048}}}
	slow := &Echo{Hook: func(int64, *Batch) error { time.Sleep(150 * time.Millisecond); return nil }}
	bs, _ := echoes(4)
	bs[3] = slow
	f, url := awstest.NewRecordedLambda(t)
	var invoked atomic.Int64
	f.Invoke = func(q string, body []byte) (int, map[string]string, string) {
		invoked.Add(1)
		var in lambdaPayload
		_ = json.Unmarshal(body, &in)
		out := make([][]float32, len(in.Inputs))
		for i := range out {
			out[i] = []float32{-1}
		}
		data, _ := json.Marshal(map[string]any{"outputs": out})
		return 200, nil, string(data)
	}
	f.Versions["1"] = 2048
	f.Aliases["inferplan-buffer-1"] = "1"
	lam := NewLambda(NewLambdaClient(awstest.AnonymousConfig(), url), "encoder")
	c := newCluster(t, p, bs, ClusterOptions{Spill: map[string]Backend{"b": lam},
		SpillPricing: map[string]plan.Pricing{"b": {GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002, AsOf: "2026-11-01"}}})
	if res := c.Submit(context.Background(), "b", ids(1, 4), Normal); res.Err != nil || res.Spilled {
		t.Fatalf("first: %+v", res)
	}
	second := make(chan Result, 1)
	go func() { second <- c.Submit(context.Background(), "b", ids(1, 4), Normal) }()
	time.Sleep(30 * time.Millisecond)
	res := c.Submit(context.Background(), "b", ids(1, 4), Normal)
	if res.Err != nil || !res.Spilled || res.Output[0] != -1 || invoked.Load() != 1 {
		t.Fatalf("third: %+v (Lambda invoked %d times), want it spilled", res, invoked.Load())
	}
	if r := <-second; r.Err != nil || r.Spilled {
		t.Errorf("second: %+v", r)
	}
	if v := testutil.ToFloat64(c.Metrics().spilled.WithLabelValues("b")); v != 1 {
		t.Errorf("spilled metric %v", v)
	}
}

// TestClusterFlakyAndHangingWorkers: a worker failing every third call is retried and answers; one that always
// fails gives its callers 502 after the retries; one that hangs gives 504 — and the other workers' callers are
// not affected. Through the HTTP server, with real upstream workers.
func TestClusterFlakyAndHangingWorkers(t *testing.T) {
	var calls [3]atomic.Int64
	worker := func(i int, fail func(call int64) bool, hang bool) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls[i].Add(1)
			if hang {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return
			}
			if fail(n) {
				http.Error(w, `{"error":"flaky"}`, http.StatusInternalServerError)
				return
			}
			var req struct {
				Inputs []struct {
					Shape []int `json:"shape"`
				} `json:"inputs"`
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			rows := req.Inputs[0].Shape[0]
			data := make([]float32, rows)
			httpx.WriteJSON(w, 200, map[string]any{"outputs": []map[string]any{{"name": "o", "shape": []int{rows, 1}, "datatype": "FP32", "data": data}}})
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	urls := []string{
		worker(0, func(n int64) bool { return n%3 == 0 }, false), // a, flaky: every third call fails
		worker(1, func(int64) bool { return true }, false),       // a, always 500
		worker(2, nil, true), // a large: hangs
	}
	var bs []Backend
	for _, u := range urls {
		up, err := NewUpstream(u, "a", "", &http.Client{})
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, up)
	}
	bs = append(bs, &Echo{}) // b
	c := newCluster(t, clusterPlan(1, 0), bs, ClusterOptions{Options: Options{Backoff: time.Millisecond, BackendTimeout: 100 * time.Millisecond}})
	srv := httptest.NewServer(NewClusterServer(c, ServerOptions{}))
	defer srv.Close()
	post := func(svc string, n int) (int, ResponseParameters) {
		body := fmt.Sprintf(`{"inputs":[{"name":"input_ids","shape":[1,%d],"datatype":"INT64","data":%s}]}`, n, strings.ReplaceAll(fmt.Sprint(ids(1, n)), " ", ","))
		resp, err := http.Post(srv.URL+"/v2/models/"+svc+"/infer", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out InferResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Parameters
	}
	codes := map[string]int{}
	for range 6 {
		code, par := post("a", 8)
		codes[fmt.Sprintf("%s %d", par.Worker, code)]++
	}
	// small requests alternate: three to the flaky worker (all answered after retries), three to the failing one
	if codes["p0-0/cpu/w0 200"] != 3 || codes[" 502"] != 3 {
		t.Errorf("answers %v, want 3 OK from p0-0/cpu/w0 and 3 × 502", codes)
	}
	if calls[1].Load() != 9 { // three attempts each
		t.Errorf("the failing worker was called %d times, want 9", calls[1].Load())
	}
	if code, _ := post("a", 200); code != http.StatusGatewayTimeout {
		t.Errorf("hanging worker: %d, want 504", code)
	}
	if code, par := post("b", 3); code != 200 || par.Worker != "p0-0/cpu/w3" {
		t.Errorf("service b: %d %+v", code, par)
	}
	if code, _ := post("zzz", 3); code != http.StatusNotFound {
		t.Errorf("unknown service: %d", code)
	}
}

// TestClusterAdmission: over the service's concurrency cap or the tenant's rate, 429 with Retry-After.
func TestClusterAdmission(t *testing.T) {
	pol, err := admission.ParsePolicy([]byte("services:\n  b:\n    max_concurrency: 1\n    priority: high\n  a:\n    tenants:\n      slow: {rate_per_s: 0.5, burst: 1}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	bs, _ := echoes(4)
	bs[3] = &Echo{Hook: func(int64, *Batch) error { <-release; return nil }}
	c := newCluster(t, clusterPlan(1, 0), bs, ClusterOptions{Admission: admission.New(pol, nil)})
	srv := httptest.NewServer(NewClusterServer(c, ServerOptions{}))
	defer srv.Close()
	post := func(svc, tenant string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/v2/models/"+svc+"/infer",
			strings.NewReader(`{"inputs":[{"name":"input_ids","shape":[1,2],"datatype":"INT64","data":[1,2]}]}`))
		if tenant != "" {
			req.Header.Set(admission.DefaultTenantHeader, tenant)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	first := make(chan int)
	go func() { first <- post("b", "").StatusCode }()
	time.Sleep(50 * time.Millisecond)
	if r := post("b", ""); r.StatusCode != 429 || r.Header.Get("Retry-After") != "1" {
		t.Errorf("over the cap: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("first: %d", code)
	}
	if r := post("a", "slow"); r.StatusCode != 200 {
		t.Errorf("slow tenant's first: %d", r.StatusCode)
	}
	if r := post("a", "slow"); r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" {
		t.Errorf("slow tenant's second: %d, Retry-After %q (want 2 s for a token at 0.5/s)", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := post("a", "other"); r.StatusCode != 200 {
		t.Errorf("another tenant: %d", r.StatusCode)
	}
	m := c.Metrics()
	if testutil.ToFloat64(m.admission.WithLabelValues("b", "concurrency")) != 1 || testutil.ToFloat64(m.admission.WithLabelValues("a", "rate_limit")) != 1 {
		t.Error("admission metrics not counted")
	}
}

// TestExpectedWaitByHand: two batches of 100 ms and 200 ms make a mean of 100 + (200 − 100)/5 = 120 ms; a batch
// that started 30 ms ago with two more waiting leaves 90 + 2 × 120 = 330 ms.
func TestExpectedWaitByHand(t *testing.T) {
	l := &workerLoad{}
	t0 := time.Unix(100, 0)
	if l.expectedWait(t0) != 0 {
		t.Error("an idle worker with no history has a wait")
	}
	l.finish(100 * time.Millisecond)
	l.finish(200 * time.Millisecond)
	l.start(t0)
	l.queue(2)
	if got := l.expectedWait(t0.Add(30 * time.Millisecond)); got != 330*time.Millisecond {
		t.Errorf("expected wait %v, want 330ms", got)
	}
	if got := l.expectedWait(t0.Add(500 * time.Millisecond)); got != 240*time.Millisecond {
		t.Errorf("an overdue batch counts nothing more: %v, want 240ms", got)
	}
	var none *workerLoad
	none.queue(1)
	none.start(t0)
	none.finish(time.Second)
	if none.expectedWait(t0) != 0 {
		t.Error("nil load")
	}
}
