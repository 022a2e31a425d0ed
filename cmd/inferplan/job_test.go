package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/redisproc"
	"github.com/inferplan/inferplan/planner/job"
	"github.com/inferplan/inferplan/planner/job/channel"
)

// worker processes started by profile network and bench shuffle are this test binary acting as the CLI
func init() { workerEnv = []string{"INFERPLAN_TEST_MAIN=1"} }

const exampleJob = "testdata/job/example.yaml"

func TestPlanDataparallelExample(t *testing.T) {
	r := run(t, "plan", "--platform", "dataparallel", "--job", exampleJob)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "job/plan_example.golden", r.stdout)
	r = run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "--format", "markdown")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "job/plan_example_md.golden", r.stdout)
}

func TestPlanDataparallelJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "-o", out, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(file) {
		t.Fatal("--format json on stdout differs from the -o file")
	}
	var doc struct {
		Platform       string           `json:"platform"`
		Configurations []map[string]any `json:"configurations"`
		Recommended    map[string]any   `json:"recommended"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Platform != "dataparallel" || len(doc.Configurations) != 5*3*3+5*2 || doc.Recommended == nil {
		t.Fatalf("platform %q, %d configurations, recommended %v", doc.Platform, len(doc.Configurations), doc.Recommended)
	}
	var lambda, ec2 bool
	for _, c := range doc.Configurations {
		for _, k := range []string{"workers", "channel", "time_s", "cost_usd", "efficiency"} {
			if _, ok := c[k]; !ok {
				t.Fatalf("configuration %v lacks %q", c["id"], k)
			}
		}
		_, hasMem := c["memory_mb"]
		_, hasType := c["ec2_type"]
		lambda = lambda || hasMem && c["platform"] == "lambda"
		ec2 = ec2 || hasType && c["channel"] == "ec2"
		if c["id"] == doc.Recommended["id"] && c["cost_usd"] != doc.Recommended["cost_usd"] {
			t.Error("recommended is not a copy of its configuration")
		}
	}
	if !lambda || !ec2 {
		t.Error("want Lambda configurations with memory_mb and EC2 ones with ec2_type and channel ec2")
	}
	// -o - puts the plan on stdout and the table on stderr
	r = run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "-o", "-")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "{") || !strings.Contains(r.stderr, "Strong scaling") {
		t.Fatalf("-o -: exit %d, stdout %.30q, stderr %.30q", r.code, r.stdout, r.stderr)
	}
}

// TestPlanDataparallelInfeasible: a deadline nothing meets exits 4 naming the fastest configuration, after
// printing the table and writing the plan.
func TestPlanDataparallelInfeasible(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, "plan", "--platform", "dataparallel", "--job", "testdata/job/tight.yaml", "-o", out)
	if r.code != exitInfeasible {
		t.Fatalf("exit %d, want 4: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := job.ParsePlan(data)
	if err != nil {
		t.Fatal(err)
	}
	fastest := p.Configurations[0]
	for _, c := range p.Configurations {
		if c.Feasible && c.TimeS < fastest.TimeS {
			fastest = c
		}
	}
	if !strings.Contains(r.stderr, "no configuration meets the 0.50 s deadline") || !strings.Contains(r.stderr, fastest.ID) {
		t.Errorf("stderr %q: want the deadline and the fastest configuration %s", r.stderr, fastest.ID)
	}
	if !strings.Contains(r.stdout, "Strong scaling") || p.Recommended != nil {
		t.Error("the table must still be printed, with nothing recommended")
	}
}

func TestPlanDataparallelBadJobFilesExit2(t *testing.T) {
	for file, want := range map[string]string{
		"bad_op.yaml":       "testdata/job/bad_op.yaml:4: stages[1].op: unknown op \"sort\"",
		"bad_negative.yaml": "testdata/job/bad_negative.yaml:3: stages[0].mb: -64 is negative",
		"bad_workers.yaml":  "testdata/job/bad_workers.yaml:4: workers: no workers",
		"bad_memory.yaml":   "testdata/job/bad_memory.yaml:5: lambda_memory_mb[1]: 16384 is out of range",
		"bad_key.yaml":      "testdata/job/bad_key.yaml:5: dedline_s: unknown key",
	} {
		r := run(t, "plan", "--platform", "dataparallel", "--job", "testdata/job/"+file)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", file, r.code, r.stderr, want)
		}
	}
}

func TestPlanDataparallelFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform", "dataparallel"}, "needs --job FILE"},
		{[]string{"--platform", "dataparallel", "--job", exampleJob, "--slo-ms", "100"}, "--slo-ms does not apply"},
		{[]string{"--platform", "dataparallel", "--job", exampleJob, "--channel-params", "testdata/job/none.json"}, "no such file"},
		{[]string{"--platform", "dataparallel", "--job", exampleJob, "--arch", "sparc"}, `"sparc" for "--arch"`},
		{[]string{"--platform", "dataparallel", "--job", exampleJob, "--format", "yaml"}, `"yaml" for "--format"`},
		{[]string{"--job", exampleJob, "--example"}, "--job and --channel-params are for --platform dataparallel"},
		{[]string{"--platform", "gpu"}, "want lambda, cluster or dataparallel"},
		{[]string{"--platform", "dataparallel", "--job", "testdata/job/absent.yaml"}, "absent.yaml"},
	} {
		r := run(t, append([]string{"plan"}, c.args...)...)
		if r.code != exitUsage && !(c.want == "absent.yaml" && r.code == exitFailure) || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a usage error mentioning %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

func TestPlanDataparallelChannelParams(t *testing.T) {
	out := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "--channel-params", "testdata/job/slow_direct.json", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, _ := os.ReadFile(out)
	p, err := job.ParsePlan(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.ChannelParams.Source != "testdata/job/slow_direct.json" || p.ChannelParams.Direct.LatencyS != 0.05 || p.Inputs.ChannelParamsSHA256 == "" {
		t.Errorf("channel params %+v, inputs %+v", p.ChannelParams.Direct, p.Inputs)
	}
	// a 50 ms, 50 MB/s direct channel: 63 rounds of 10e9/64² bytes at 64 workers
	for _, c := range p.Configurations {
		if c.ID == "lambda-64-1769mb-direct" {
			want := 63 * (0.05 + 10e9/4096/5e7)
			if c.Breakdown.Stages[0].CommS < want*0.999 || c.Breakdown.Stages[0].CommS > want*1.001 {
				t.Errorf("shuffle comm %g, want %g from the file's parameters", c.Breakdown.Stages[0].CommS, want)
			}
		}
	}
}

func TestReportDataparallelPlan(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "plan.json")
	if r := run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "-o", out); r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	html := filepath.Join(dir, "plan.html")
	r := run(t, "report", out, "--html", html, "--charts", filepath.Join(dir, "charts"))
	if r.code != 0 {
		t.Fatalf("report: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, want := range []string{"<!DOCTYPE html>", "id=\"chart-scaling-time\"", "id=\"chart-scaling-efficiency\"", "<svg", "Strong scaling", "lambda 1769 MB direct", "ec2 c6in.8xlarge"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the report must be self-contained, without scripts")
	}
	for _, f := range []string{"scaling-time.svg", "scaling-efficiency.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", f)); err != nil {
			t.Error(err)
		}
	}
}

func TestProfileNetworkDirect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "net.json")
	r := run(t, "profile", "network", "--channel", "direct", "--peers", "2", "--sizes", "131072,1048576,4194304", "--reps", "3",
		"--ping-pongs", "50", "--message-bytes", "1048576", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Network measurement: direct, 2 worker processes") || !strings.Contains(r.stdout, "connection set-up per pair") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	p, err := channel.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	def := channel.Defaults()
	if p.Direct.LatencyS == def.Direct.LatencyS || p.Direct.BandwidthBps == def.Direct.BandwidthBps || p.S3 != def.S3 || len(p.Measured) == 0 {
		t.Errorf("direct %+v, s3 %+v: want the direct section measured and the rest FMI's", p.Direct, p.S3)
	}
	// the file plans
	if r := run(t, "plan", "--platform", "dataparallel", "--job", exampleJob, "--channel-params", out, "--format", "json"); r.code != 0 {
		t.Fatalf("planning with the measured parameters: exit %d: %s", r.code, r.stderr)
	}
}

func TestProfileNetworkRedis(t *testing.T) {
	srv := redisproc.ForTest(t)
	r := run(t, "profile", "network", "--channel", "redis", "--redis-url", "redis://"+srv.Addr, "--peers", "3", "--sizes", "131072,1048576,4194304",
		"--reps", "3", "--ping-pongs", "50", "--message-bytes", "1048576", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res struct {
		Channel      string  `json:"channel"`
		LatencyS     float64 `json:"latency_s"`
		AggregateBps float64 `json:"aggregate_bytes_per_s"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Channel != "redis" || !(res.LatencyS > 0) || !(res.AggregateBps > 0) {
		t.Errorf("result %+v, %v", res, err)
	}
}

func TestProfileNetworkFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--channel", "s3"}, "want direct or redis"},
		{[]string{"--channel", "direct", "--peers", "1"}, "--peers 1"},
		{[]string{"--channel", "direct", "--redis-url", "redis://x"}, "--redis-url is for --channel redis"},
		{[]string{"--channel", "direct", "--sizes", "1024"}, "at least two sizes"},
		{[]string{"--channel", "redis", "--redis-url", "http://x"}, "redis:// scheme"},
	} {
		r := run(t, append([]string{"profile", "network"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestBenchShuffle runs the real benchmark through the CLI, over direct TCP and through a private
// redis-server the command starts itself, and checks the JSON a script reads.
func TestBenchShuffle(t *testing.T) {
	channels := []string{"direct"}
	if _, err := exec.LookPath("redis-server"); err == nil || redisproc.Required() {
		channels = append(channels, "redis")
	} else {
		t.Log("redis-server not installed: the redis run is skipped here (CI installs it)")
	}
	for _, ch := range channels {
		r := run(t, "bench", "shuffle", "--workers", "3", "--rows", "150000", "--channel", ch, "--repeat", "1",
			"--calibration-rows", "100000", "--calibration-peers", "2", "--format", "json")
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", ch, r.code, r.stderr)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("%s: %v\n%s", ch, err, r.stdout)
		}
		m, ok1 := res["measured_s"].(float64)
		p, ok2 := res["predicted_s"].(float64)
		if !ok1 || !ok2 || !(m > 0) || !(p > 0) || res["verified"] != true || res["channel"] != ch {
			t.Errorf("%s: measured_s %v, predicted_s %v, verified %v", ch, res["measured_s"], res["predicted_s"], res["verified"])
		}
		if ch == "redis" && !strings.Contains(r.stderr, "started a private redis-server") {
			t.Errorf("redis without --redis-url must start its own server: %s", r.stderr)
		}
	}
	r := run(t, "bench", "shuffle", "--workers", "2", "--rows", "50000", "--channel", "direct", "--repeat", "1", "--calibration-rows", "50000", "--calibration-peers", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "Shuffle benchmark: 50,000 rows") || !strings.Contains(r.stdout, "exchange") {
		t.Errorf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchShuffleFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--channel", "s3"}, "want direct or redis"},
		{[]string{"--channel", "direct", "--workers", "1"}, "--workers 1"},
		{[]string{"--channel", "direct", "--rows", "3", "--workers", "4"}, "at least one row per worker"},
		{[]string{"--channel", "direct", "--redis-url", "redis://localhost"}, "--redis-url is for --channel redis"},
		{[]string{"--channel", "direct", "--repeat", "0"}, "must be positive"},
		{[]string{"--channel", "redis", "--workers", "2", "--rows", "40000000"}, "512 MB value limit"},
		{[]string{"--channel", "direct", "--format", "csv"}, `"csv" for "--format"`},
		{[]string{"--channel", "direct", "--rows", "999999999999"}, "more than this host's"},
	} {
		r := run(t, append([]string{"bench", "shuffle"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
