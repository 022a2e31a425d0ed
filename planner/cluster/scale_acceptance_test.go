package cluster

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/inferplan/inferplan/planner"
)

// TestAutoscaleAcceptance is issue 11's acceptance on testdata/cluster/autoscale.yaml: bert-large on the Azure
// LLM code trace (CV ≈ 13) and bert-base on the Mooncake conversation trace, both at 4× their rate, 1-minute
// windows, a 30-second start-up. The scaled plan must meet every SLO on replay with fewer instance-hours than
// static-peak, cost less than every baseline that meets the SLOs, report each service's backtests, replay to
// the same estimate from the written plan, and come out byte-identical when planned again.
func TestAutoscaleAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("plans the autoscaling scenario twice with its baselines")
	}
	w, err := ReadWorkload(filepath.Join(scenarioDir, "autoscale.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	startup := 30.0
	opt := Options{Common: planner.Common{Now: fixedNow}, Autoscale: true, WindowS: 60, StartupS: &startup}
	p, err := Plan(context.Background(), w, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Estimate.Services {
		if !s.Met() {
			t.Errorf("%s misses p%g ≤ %g ms: %.2f%% within", s.Name, s.SLO.Percentile, s.SLO.LatencyMs, s.SLOAttainment*100)
		}
	}
	names := map[string]bool{}
	for _, b := range p.Baselines {
		names[b.Name] = true
		met := len(b.Estimate.Services) == len(w.Services)
		for _, s := range b.Estimate.Services {
			met = met && s.Met()
		}
		t.Logf("%-22s $%.2f/h, %.2f instance-hours, %.1f%% to Lambda, SLOs met: %v", b.Name, b.Estimate.CostPerHourUSD,
			b.Estimate.InstanceHours, b.Estimate.SpillShare*100, met)
		if b.Name == BaselineStaticPeak && !(p.Estimate.InstanceHours < b.Estimate.InstanceHours) {
			t.Errorf("plan takes %.3f instance-hours, static-peak %.3f: want fewer", p.Estimate.InstanceHours, b.Estimate.InstanceHours)
		}
		if met && !(p.Estimate.CostUSD < b.Estimate.CostUSD) {
			t.Errorf("plan costs $%.4f, %s (which meets the SLOs) $%.4f: want less", p.Estimate.CostUSD, b.Name, b.Estimate.CostUSD)
		}
	}
	t.Logf("plan                   $%.2f/h, %.2f instance-hours, %.1f%% to Lambda", p.Estimate.CostPerHourUSD, p.Estimate.InstanceHours, p.Estimate.SpillShare*100)
	for _, n := range []string{BaselineStaticPeak, BaselineStaticMeanWithSpill, BaselineLambdaOnly, BaselineReactive} {
		if !names[n] {
			t.Errorf("no %s baseline", n)
		}
	}
	sc := p.Cluster.Schedule
	if sc == nil || len(sc.Windows) != 15 || sc.StartupS != 30 || sc.WindowS != 60 {
		t.Fatalf("schedule %+v: want 15 windows of 60 s, 30 s start-up", sc)
	}
	scales := false
	for _, po := range p.Cluster.Pools {
		scales = scales || po.MinCount < po.Count
	}
	if !scales {
		t.Error("no pool changes size over the day")
	}
	for _, s := range p.Cluster.Services {
		if s.Forecast == nil || len(s.Forecast.Backtest) < 2 || s.Forecast.Backtest[0].Steps == 0 {
			t.Errorf("%s: forecast %+v, want backtests of at least two methods", s.Name, s.Forecast)
		}
	}
	data := replayWritten(t, p, w)
	again, err := Plan(context.Background(), w, opt)
	if err != nil {
		t.Fatal(err)
	}
	data2, err := again.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, data2) {
		t.Error("the same workload planned twice gives two plans")
	}
}
