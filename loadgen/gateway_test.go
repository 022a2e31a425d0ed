package loadgen

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/planner/plan"
)

// testPlan is a valid Lambda plan with the given buffers.
func testPlan(bufs ...plan.Buffer) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, SLO: plan.SLO{Percentile: 95, LatencyMs: 1000}, Model: "m",
		Lambda: &plan.Lambda{Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}, Buffers: bufs}}
}

// newTestGateway runs a gateway for the test, closed (and its requests drained) when the test ends.
func newTestGateway(t *testing.T, p *plan.Plan, be dispatch.Backend, opt dispatch.Options) *dispatch.Gateway {
	t.Helper()
	g, err := dispatch.New(p, be, opt)
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

// newTestServer serves the gateway's v2 API for model "m" over loopback HTTP.
func newTestServer(t *testing.T, g *dispatch.Gateway) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(dispatch.NewServer(g, dispatch.ServerOptions{ModelName: "m"}))
	t.Cleanup(srv.Close)
	return srv
}
