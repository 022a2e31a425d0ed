package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/planner/plan"
)

// v2Worker is an upstream v2 model server that takes ms to run any batch and answers a row per input.
func v2Worker(t *testing.T, ms time.Duration) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Inputs []struct {
				Shape []int `json:"shape"`
			} `json:"inputs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		time.Sleep(ms)
		rows := req.Inputs[0].Shape[0]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"outputs": []map[string]any{{"name": "o", "shape": []int{rows, 1}, "datatype": "FP32", "data": make([]float32, rows)}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestClusterReplayMatchesTheSimulatorWorkerForWorker replays the e2e workload (two services, three CPU workers,
// two minutes of real traces) at 30× against a cluster gateway in front of v2 workers: nothing is lost, and every
// worker dispatches exactly the batches the cluster simulator forms over the gateway's arrival stamps.
func TestClusterReplayMatchesTheSimulatorWorkerForWorker(t *testing.T) {
	w, err := cluster.ReadWorkload("../testdata/cluster/e2e/workload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.ReadFile("../testdata/cluster/e2e/plan.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Expand(p)
	if err != nil {
		t.Fatal(err)
	}
	backends := make([]dispatch.Backend, len(f.Workers))
	for i, wk := range f.Workers {
		if backends[i], err = dispatch.NewUpstream(v2Worker(t, 2*time.Millisecond), f.Services[wk.Service].Name, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	g, err := dispatch.NewCluster(p, f, backends, dispatch.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	srv := httptest.NewServer(dispatch.NewClusterServer(g, dispatch.ServerOptions{}))
	t.Cleanup(srv.Close)
	opt := Options{URL: srv.URL, Speedup: 30, Seed: 1}
	run, err := ReplayCluster(context.Background(), w, opt)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := SummarizeCluster(run, w, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 519 || rep.OK != 519 || rep.Lost+rep.Errors+rep.Duplicates != 0 {
		t.Fatalf("sent %d: %d OK, %d errors, %d lost, %d duplicates (%v)", rep.Requests, rep.OK, rep.Errors, rep.Lost, rep.Duplicates, rep.Errs)
	}
	if len(rep.Services) != 2 || rep.Services[0].Requests != 63 || rep.Services[1].Requests != 456 {
		t.Errorf("services %+v", rep.Services)
	}
	if rep.BatchesMatch == nil || !*rep.BatchesMatch || len(rep.Workers) != 3 {
		t.Errorf("workers %+v, match %v", rep.Workers, rep.BatchesMatch)
	}
	for _, wr := range rep.Workers {
		if wr.Batches == 0 || wr.PredBatchesAsArrived == nil {
			t.Errorf("worker %+v", wr)
			continue
		}
		t.Logf("%s: %d requests, %d batches, simulated %d, as arrived %d", wr.ID, wr.Requests, wr.Batches, wr.PredBatches, *wr.PredBatchesAsArrived)
	}
}
