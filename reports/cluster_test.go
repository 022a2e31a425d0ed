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
