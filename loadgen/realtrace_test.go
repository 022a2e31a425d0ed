//go:build !race

// The race detector slows the built-in encoder several times over, so that it could not keep up with the trace;
// the gateway's concurrency is covered under -race by the other tests.

package loadgen

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// TestRealTraceThroughTheBuiltinBackend is issue 6's acceptance run at CI size: a minute of the Azure conversation
// trace (at 2× speed) through the gateway on the built-in encoder. Nothing may be lost or duplicated, and the
// batches per buffer must be exactly the replay simulator's for the same plan and the arrival times the gateway
// stamped, and close to its prediction from the trace times (the 10-minute run in the README holds 3 % against
// those, on a quiet machine).
func TestRealTraceThroughTheBuiltinBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a minute of a real trace")
	}
	p, err := plan.ReadFile("testdata/azure-conv-bert-tiny-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.ReadFile("testdata/bert-tiny-1thread-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trace.ReadFile("testdata/azure-conv-2x-60s.csv", trace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be, err := dispatch.NewBuiltin("bert-tiny", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	g := newTestGateway(t, p, be, dispatch.Options{})
	srv := httptest.NewServer(dispatch.NewServer(g, dispatch.ServerOptions{ModelName: "bert-tiny", MaxInput: be.MaxSize()}))
	defer srv.Close()

	opt := Options{URL: srv.URL, Seed: 1}
	run, err := Replay(context.Background(), tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Summarize(run, tr, opt, latency.NewTable(prof))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != tr.Len() || rep.OK != rep.Requests || rep.Lost != 0 || rep.Duplicates != 0 || rep.Dispatched != rep.Requests {
		t.Fatalf("sent %d ok %d errors %d lost %d duplicates %d dispatched %d; errors: %v",
			rep.Requests, rep.OK, rep.Errors, rep.Lost, rep.Duplicates, rep.Dispatched, rep.Errs)
	}
	for _, b := range rep.Buffers {
		if b.Requests != b.PredRequests {
			t.Errorf("buffer %d: %d requests, the simulator routes %d", b.Buffer, b.Requests, b.PredRequests)
		}
		t.Logf("buffer %d: %d batches; simulated %d at trace times, %d at the gateway's arrival times", b.Buffer, b.Batches, b.PredBatches, b.PredBatchesAsArrived)
		// the gateway's own fidelity: the simulator over the arrivals as the gateway stamped them gives exactly its
		// batches (contract §4 counts whole microseconds, and so does the gateway)
		if b.Batches != b.PredBatchesAsArrived {
			t.Errorf("buffer %d: %d batches, simulated %d at the gateway's arrival times", b.Buffer, b.Batches, b.PredBatchesAsArrived)
		}
		// against the trace itself only a guard against a generator that bunches its sends: on a shared CI machine
		// it runs milliseconds late (logged below, 65 ms seen), and this trace has 7 arrivals within 50 ms after a
		// buffer's deadline, any of which may cross it
		if math.Abs(float64(b.Batches-b.PredBatches)) > max(0.1*float64(b.PredBatches), 5) {
			t.Errorf("buffer %d: %d batches, simulated %d", b.Buffer, b.Batches, b.PredBatches)
		}
	}
	t.Logf("p95 measured %.0f ms, simulated %.0f ms; max send lag %.1f ms", rep.LatencyP95Ms, rep.Predicted.LatencyP95Ms, rep.MaxSendLagMs)
}
