package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const clusterWorkload = "../../testdata/cluster/workload.yaml"

// TestPlanClusterEndToEnd plans the cluster scenario, then replays and checks the written plan.
func TestPlanClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("plans the cluster scenario")
	}
	out := filepath.Join(t.TempDir(), "cluster.json")
	r := run(t, "plan", "--platform", "cluster", "--workload", clusterWorkload, "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "plan_cluster.golden", r.stdout)
	var p struct {
		Platform string
		Estimate map[string]any
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil || p.Platform != "cluster" {
		t.Fatalf("plan JSON: %v, platform %q", err, p.Platform)
	}
	for _, k := range []string{"cost_usd", "cost_per_hour_usd", "services"} {
		if _, ok := p.Estimate[k]; !ok {
			t.Errorf("estimate lacks %s", k)
		}
	}
	// simulate reproduces the plan's estimate from the written plan and the workload
	r = run(t, "simulate", "--plan", out, "--workload", clusterWorkload, "--format", "json")
	if r.code != 0 {
		t.Fatalf("simulate: exit %d: %s", r.code, r.stderr)
	}
	var sim map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sim); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cost_usd", "slo_attainment", "latency_p99_ms", "cost_per_hour_usd"} {
		if sim[k] != p.Estimate[k] {
			t.Errorf("simulate %s = %v, plan says %v", k, sim[k], p.Estimate[k])
		}
	}
	// check: the fleet's cost an hour and every service's own SLO
	if r := run(t, "check", "--plan", out, "--max-cost-per-hour", "5"); r.code != exitThreshold || !strings.Contains(r.stdout, "cost per hour") {
		t.Errorf("check over budget: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, "check", "--plan", out, "--max-cost-per-hour", "8", "--min-slo-attainment", "99%"); r.code != exitOK ||
		!strings.Contains(r.stdout, "doc-rerank: SLO p99 ≤ 500 ms met") {
		t.Errorf("check within budget: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPlanClusterUsageErrors(t *testing.T) {
	dir := t.TempDir()
	missing := writeFile(t, dir, "missing.yaml", "services:\n  - name: a\n    profiles: [nope.json]\n    trace: {file: t.csv}\n    slo: {latency_ms: 10}\n")
	for _, tc := range []struct {
		args  []string
		code  int
		words string
	}{
		{[]string{"plan", "--platform", "cluster"}, exitUsage, "needs --workload"},
		{[]string{"plan", "--platform", "cluster", "--workload", clusterWorkload, "--slo-ms", "5"}, exitUsage, "--slo-ms is for --platform lambda"},
		{[]string{"plan", "--platform", "k8s"}, exitUsage, `"k8s" for "--platform" flag: want lambda, cluster or dataparallel`},
		{[]string{"plan", "--profile", "p.json", "--trace", "t.csv", "--slo-ms", "5", "--workload", clusterWorkload}, exitUsage, "--workload is for --platform cluster"},
		{[]string{"plan", "--platform", "cluster", "--workload", missing}, exitUsage, "missing.yaml:3: services[0].profiles[0]"},
		{[]string{"simulate", "--plan", "../../planner/plan/testdata/cluster-plan.json", "--profile", "p.json"}, exitUsage, "workload file"},
		{[]string{"plan", "--platform", "cluster", "--workload", clusterWorkload, "--window", "5m"}, exitUsage, "--autoscale"},
		{[]string{"plan", "--platform", "cluster", "--workload", clusterWorkload, "--autoscale", "--window", "5s"}, exitUsage, "--window"},
		{[]string{"plan", "--platform", "cluster", "--workload", clusterWorkload, "--autoscale", "--startup", "-1s"}, exitUsage, "--startup"},
		{[]string{"report", "../../planner/plan/testdata/cluster-plan.json", "--html", filepath.Join(dir, "r.html"), "--trace", "t.csv"}, exitUsage, "--trace is for Lambda plans"},
	} {
		r := run(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.words) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", tc.args, r.code, r.stderr, tc.code, tc.words)
		}
	}
}

// TestReportScaledClusterPlan writes the HTML page and the charts of a scaled plan from the replay it records.
func TestReportScaledClusterPlan(t *testing.T) {
	dir := t.TempDir()
	page, charts := filepath.Join(dir, "scaled.html"), filepath.Join(dir, "charts")
	r := run(t, "report", "../../planner/plan/testdata/cluster-scaled-plan.json", "--html", page, "--charts", charts)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "(4 charts)") {
		t.Errorf("stderr %q", r.stderr)
	}
	for _, f := range []string{page, filepath.Join(charts, "traffic-code-rerank.svg"), filepath.Join(charts, "cost.svg")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestPlanClusterInfeasibleSLOExits4(t *testing.T) {
	data, err := os.ReadFile(clusterWorkload)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("../../testdata/cluster")
	doc := strings.ReplaceAll(string(data), "file: ", "file: "+dir+"/")
	doc = strings.ReplaceAll(doc, "profiles: [", "profiles: ["+dir+"/")
	doc = strings.ReplaceAll(doc, ", cpu-", ", "+dir+"/cpu-")
	doc = strings.Replace(doc, "latency_ms: 500", "latency_ms: 3", 1)
	path := writeFile(t, t.TempDir(), "tight.yaml", doc)
	r := run(t, "plan", "--platform", "cluster", "--workload", path)
	if r.code != exitInfeasible || !strings.Contains(r.stderr, "services[2].slo.latency_ms") || !strings.Contains(r.stderr, "smallest SLO") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
