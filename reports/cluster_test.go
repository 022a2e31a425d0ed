package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/planner/plan"
)

func TestClusterDiffComparesFleetsAndServices(t *testing.T) {
	old, err := plan.ReadFile("../planner/plan/testdata/cluster-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	nw, _ := plan.ReadFile("../planner/plan/testdata/cluster-plan.json")
	nw.Cluster.Pools[0].Count = 2
	nw.Estimate.CostPerHourUSD *= 2
	nw.Estimate.Services[2].LatencyP99Ms *= 2
	var b bytes.Buffer
	if err := RenderDiff(&b, Table, "old.json", "new.json", plan.Compare(old, nw), 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"$ / hour", "+100.0%", "p5.4xlarge", "doc-rerank within SLO", "Instances"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Buffers") || strings.Contains(out, "p0 ≤ 0 ms") {
		t.Errorf("a cluster diff shows Lambda rows:\n%s", out)
	}
}

func TestClusterPlanSummaryNamesEverySection(t *testing.T) {
	p, err := plan.ReadFile("../planner/plan/testdata/cluster-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := RenderPlan(&b, Markdown, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Cluster plan for 3 services", "**Fleet", "**Services (replayed)**", "**Plan vs baselines",
		"**Where the latencies come from**", "Why this fleet:", "| dedicated "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}

func TestScaledClusterReportChartsEveryService(t *testing.T) {
	p, err := plan.ReadFile("../planner/plan/testdata/cluster-scaled-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	charts, err := ClusterCharts(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); got != "traffic-code-rerank traffic-chat-embed cost latency" {
		t.Errorf("charts %q", got)
	}
	var b bytes.Buffer
	if err := RenderClusterHTML(&b, p, charts); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<figure id="chart-traffic-code-rerank">`, "<svg", "capacity provisioned", "spilled to Lambda",
		"Schedule (1m windows", "How the pools follow the traffic", "recent-max", "</html>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("page has a script")
	}
	// a static plan has no traffic charts, and a Lambda plan is refused
	static, err := plan.ReadFile("../planner/plan/testdata/cluster-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if charts, err := ClusterCharts(static); err != nil || len(charts) != 2 {
		t.Errorf("static plan: %d charts, %v; want cost and latency", len(charts), err)
	}
	if _, err := ClusterCharts(&plan.Plan{Platform: plan.PlatformLambda}); err == nil {
		t.Error("a Lambda plan was charted as a cluster plan")
	}
}

func TestScaledClusterSummaryShowsScheduleAndBacktests(t *testing.T) {
	p, err := plan.ReadFile("../planner/plan/testdata/cluster-scaled-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := RenderPlan(&b, Table, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Instance-hours", "To Lambda", "static-peak", "reactive", "(chosen)", "MAPE", "Under-forecast", "1–4 × g5.xlarge"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
