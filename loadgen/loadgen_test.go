package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

func TestParseMetricsAndSub(t *testing.T) {
	const text = `# TYPE inferplan_batches_total counter
inferplan_batches_total{buffer="1",reason="full"} 3
inferplan_batches_total{buffer="1",reason="timeout"} 2
inferplan_batches_total{buffer="2",reason="drain"} 1
# TYPE inferplan_batch_size histogram
inferplan_batch_size_bucket{buffer="1",le="+Inf"} 5
inferplan_batch_size_sum{buffer="1"} 14
inferplan_batch_size_count{buffer="1"} 5
# TYPE inferplan_cost_usd_total counter
inferplan_cost_usd_total{buffer="2"} 0.25
# TYPE inferplan_rejected_total counter
inferplan_rejected_total{buffer="1",reason="queue"} 4
# TYPE go_goroutines gauge
go_goroutines 12
`
	after, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if b := after[1]; b.Batches != 5 || b.Requests != 14 || b.Rejected != 4 {
		t.Errorf("buffer 1 = %+v", b)
	}
	if b := after[2]; b.Batches != 1 || b.CostUSD != 0.25 {
		t.Errorf("buffer 2 = %+v", b)
	}
	before := MetricsSnapshot{1: {Batches: 2, Requests: 4}}
	d := after.Sub(before)
	if d[1].Batches != 3 || d[1].Requests != 10 || d[2].Batches != 1 {
		t.Errorf("Sub = %+v", d)
	}

	for _, bad := range []string{
		"inferplan_batches_total{buffer=\"x\"} 1\n", // not a buffer number
		"inferplan_batches_total{buffer=\"1\" 1\n",  // broken exposition
	} {
		if _, err := ParseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMetrics(%q) accepted it", bad)
		}
	}
}

// TestReplayMeasuresWhatTheSimulatorPredicts replays a trace whose clusters are far apart (so wall-clock jitter
// cannot move a request into another batch) through a real gateway and server, and checks the load report: every
// request answered once, and the gateway's batches per buffer exactly the simulator's.
func TestReplayMeasuresWhatTheSimulatorPredicts(t *testing.T) {
	p := testPlan(
		plan.Buffer{MinSize: 1, MaxSize: 16, BatchSize: 4, TimeoutMs: 40, MemoryMB: 1024},
		plan.Buffer{MinSize: 17, MaxSize: plan.NoUpperBound, BatchSize: 3, TimeoutMs: 25, MemoryMB: 1024})
	g := newTestGateway(t, p, &dispatch.Echo{}, dispatch.Options{})
	srv := newTestServer(t, g)

	// 12 clusters 400 ms apart in trace time (200 ms at speed-up 2): in each, 5 small requests 1 ms apart (a full
	// batch of 4 and a timed-out batch of 1) and, in every other cluster, 2 large ones (one timed-out batch of 2).
	tr := &trace.Trace{Source: "clusters"}
	for c := range 12 {
		at := int64(c) * 400_000
		for i := range 5 {
			tr.Requests = append(tr.Requests, trace.Request{At: at + int64(i)*1000, Size: float64(2 + i)})
		}
		if c%2 == 0 {
			tr.Requests = append(tr.Requests, trace.Request{At: at + 6000, Size: 40}, trace.Request{At: at + 7000, Size: 20})
		}
	}
	prof := &profile.Profile{Version: 1, Model: "m", SizeUnit: "tokens"}
	for _, n := range []int{1, 2, 3, 4} {
		for _, s := range []float64{1, 64} {
			prof.Measurements = append(prof.Measurements, profile.Measurement{Platform: profile.Lambda, Hardware: "lambda-x86_64",
				MemoryMB: 1024, Batch: n, Size: s, LatencyMs: 1})
		}
	}

	opt := Options{URL: srv.URL, Speedup: 2, Seed: 3}
	var progressed bool
	opt.Progress = func(sent, answered, total int) { progressed = total == tr.Len() }
	run, err := Replay(context.Background(), tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	if run.Model != "m" || run.Plan == nil || len(run.Plan.Lambda.Buffers) != 2 {
		t.Fatalf("run: model %q plan %+v", run.Model, run.Plan)
	}
	if !progressed {
		t.Error("progress was never reported")
	}
	rep, err := Summarize(run, tr, opt, latency.NewTable(prof))
	if err != nil {
		t.Fatal(err)
	}
	n := tr.Len()
	if rep.Requests != n || rep.OK != n || rep.Errors != 0 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Dispatched != n {
		t.Fatalf("report counts: sent %d ok %d errors %d lost %d duplicates %d dispatched %d (want %d)",
			rep.Requests, rep.OK, rep.Errors, rep.Lost, rep.Duplicates, rep.Dispatched, n)
	}
	if rep.Codes["200"] != n || rep.SLOAttainment != 1 || rep.Speedup != 2 || rep.Seed != 3 {
		t.Errorf("codes %v attainment %v speed-up %v seed %v", rep.Codes, rep.SLOAttainment, rep.Speedup, rep.Seed)
	}
	if !(rep.LatencyP50Ms > 0 && rep.LatencyP50Ms <= rep.LatencyP95Ms && rep.LatencyP95Ms <= rep.LatencyP99Ms) {
		t.Errorf("percentiles %v %v %v", rep.LatencyP50Ms, rep.LatencyP95Ms, rep.LatencyP99Ms)
	}
	// small: 12 × (full 4 + timeout 1) = 24 batches of 60; large: 6 × 2 = 6 batches of 12
	want := []struct{ reqs, batches int }{{60, 24}, {12, 6}}
	for k, b := range rep.Buffers {
		if b.Requests != want[k].reqs || b.Batches != want[k].batches || b.PredRequests != want[k].reqs || b.PredBatches != want[k].batches ||
			b.PredBatchesAsArrived != want[k].batches {
			t.Errorf("buffer %d: measured %d requests in %d batches, predicted %d in %d (%d at the gateway's arrival times); want %d in %d",
				b.Buffer, b.Requests, b.Batches, b.PredRequests, b.PredBatches, b.PredBatchesAsArrived, want[k].reqs, want[k].batches)
		}
		if math.Abs(b.MeanBatch-b.PredMeanBatch) > 1e-9 {
			t.Errorf("buffer %d: mean batch %v vs predicted %v", b.Buffer, b.MeanBatch, b.PredMeanBatch)
		}
	}
	if rep.Predicted == nil || rep.Predicted.Method != "replay" || rep.Predicted.Invocations != 30 {
		t.Errorf("predicted = %+v", rep.Predicted)
	}
	// the gateway's cost estimate is the simulator's: same batches, same per-ms pricing. The simulator bills the
	// profile's 1 ms per batch; the echo backend answers within it, but on a loaded machine (or under -race) a batch
	// can take longer and be billed whole extra milliseconds (7 seen under -race on two busy cores): never a
	// fraction, never less, and an extra or missing batch would show as a fraction (its request price).
	perMs := p.Lambda.Pricing.GBSecondUSD / 1000 // one billed ms at 1,024 MB
	extra := (rep.CostUSD - rep.Predicted.CostPerMillionUSD*float64(n)/1e6) / perMs
	if extra < -1e-6 || math.Abs(extra-math.Round(extra)) > 1e-6 || extra > float64(rep.Predicted.Invocations)*5 {
		t.Errorf("cost %v vs predicted %v per million × %d: %.6f billed ms apart, want whole ones at most",
			rep.CostUSD, rep.Predicted.CostPerMillionUSD, n, extra)
	}
}

func TestReplayCountsErrorsAndLostRequests(t *testing.T) {
	p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024})
	g := newTestGateway(t, p, &dispatch.Echo{Hook: func(call int64, _ *dispatch.Batch) error {
		if call%2 == 0 {
			return errors.New("backend says no")
		}
		return nil
	}}, dispatch.Options{Attempts: 1})
	inner := dispatch.NewServer(g, dispatch.ServerOptions{ModelName: "m"})
	// a front that never answers request r3: the generator must count it lost after its timeout, not wait forever
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/models/m/infer" && r.ContentLength > 0 {
			buf, _ := io.ReadAll(r.Body)
			if strings.Contains(string(buf), `"id":"r3"`) {
				<-r.Context().Done()
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(buf))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr := &trace.Trace{}
	for i := range 8 {
		tr.Requests = append(tr.Requests, trace.Request{At: int64(i) * 20_000, Size: 3})
	}
	opt := Options{URL: srv.URL, Timeout: 300 * time.Millisecond}
	run, err := Replay(context.Background(), tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Summarize(run, tr, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 8 || rep.Lost != 1 || rep.OK+rep.Errors != 7 || rep.Errors == 0 || rep.Codes["502"] != rep.Errors {
		t.Fatalf("sent %d ok %d errors %d lost %d codes %v", rep.Requests, rep.OK, rep.Errors, rep.Lost, rep.Codes)
	}
	if rep.Duplicates != 0 || rep.Predicted != nil || len(rep.Errs) == 0 {
		t.Errorf("duplicates %d predicted %v error samples %v", rep.Duplicates, rep.Predicted, rep.Errs)
	}
	if want := float64(rep.OK) / 8; rep.SLOAttainment != want {
		t.Errorf("attainment %v, want %v (lost and failed requests miss the SLO)", rep.SLOAttainment, want)
	}
}

func TestRequestBodyIsDeterministicAndSized(t *testing.T) {
	a, b := string(RequestBody(7, 4.4, 1)), string(RequestBody(7, 4.4, 1))
	if a != b || !strings.Contains(a, `"id":"r7"`) || !strings.Contains(a, `"shape":[1,4]`) {
		t.Fatalf("body %s", a)
	}
	if string(RequestBody(7, 4.4, 2)) == a {
		t.Error("the seed does not change the token ids")
	}
	if !strings.Contains(string(RequestBody(0, 0.2, 1)), `"shape":[1,1]`) {
		t.Error("a size below one must still send one token")
	}
}
