package job

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/pricing"
)

const (
	gbs = 0.0000166667 // Lambda x86_64 first-tier price per GB-second (pricing/snapshot.json)
	req = 0.0000002    // Lambda price per request
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

func build(t *testing.T, doc string) (*Plan, error) {
	t.Helper()
	j, err := Parse([]byte(doc), "job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return Build(j, Options{Catalog: pricing.Embedded(), Params: channel.Defaults()})
}

func config(t *testing.T, p *Plan, id string) *Configuration {
	t.Helper()
	for i := range p.Configurations {
		if p.Configurations[i].ID == id {
			return &p.Configurations[i]
		}
	}
	t.Fatalf("no configuration %s", id)
	return nil
}

func TestCatalogPricesTheTestsAssume(t *testing.T) {
	lp, _ := pricing.Embedded().Lambda("x86_64")
	if lp.GBSecondUSD() != gbs || lp.RequestUSD != req {
		t.Fatalf("catalog Lambda prices %v, %v; the hand computations below assume %v, %v", lp.GBSecondUSD(), lp.RequestUSD, gbs, req)
	}
}

// TestLambdaConfigurationByHand: 1.6 GB shuffled over 4 functions of 3,538 MB (two vCPUs each).
func TestLambdaConfigurationByHand(t *testing.T) {
	p, err := build(t, "input_gb: 1.6\nstages: [{op: shuffle, compute_mb_per_s: 100}]\nworkers: [4]\nlambda_memory_mb: [3538]\nchannels: [direct, s3]\n")
	if err != nil {
		t.Fatal(err)
	}
	d := config(t, p, "lambda-4-3538mb-direct")
	// compute: 1.6e9 / 4 workers / (100 MB/s × 2 vCPUs) = 2 s
	// shuffle: partitions of 1.6e9 / 4² = 1e8 bytes, 3 rounds × (0.00034 s + 1e8 / 4e8 B/s) = 0.75102 s
	// set-up: 3 peers × 4 × 0.00034 s = 0.00408 s
	near(t, "direct compute", d.Breakdown.ComputeS, 2, 1e-9)
	near(t, "direct comm", d.Breakdown.CommS, 0.75102, 1e-9)
	near(t, "direct setup", d.Breakdown.SetupS, 0.00408, 1e-9)
	near(t, "direct time", d.TimeS, 2.75510, 1e-6)
	// cost: 4 × (2.756 s billed × 3538/1024 GB × gbs + req) + rendezvous 0.0134 $/h × 2.7551 s
	wantCost := 4*(2.756*3538.0/1024*gbs+req) + 0.0134*2.7551/3600
	near(t, "direct cost", d.CostUSD, wantCost, 2e-9)
	near(t, "direct vCPUs", d.VCPUs, 8, 1e-9)
	s := config(t, p, "lambda-4-3538mb-s3")
	// shuffle over S3: 3 messages × (0.0404 + 0.1/2 poll + 1e8 / 5e7) = 6.2712 s; no set-up
	near(t, "s3 time", s.TimeS, 2+6.2712, 1e-6)
	// 12 PUTs and 12 × 5 GETs
	near(t, "s3 requests", s.Cost.RequestsUSD, 12*0.0000054+60*0.00000043, 1e-9)
	near(t, "s3 cost", s.CostUSD, 4*(8.272*3538.0/1024*gbs+req)+12*0.0000054+60*0.00000043, 2e-9)
	if s.Cost.ServerUSD != 0 {
		t.Errorf("S3 has no server to pay for: %v", s.Cost.ServerUSD)
	}
}

// TestEC2ConfigurationByHand: 8 and 16 workers on c6in.2xlarge (8 vCPUs, 16 GiB, 12.5 Gbit/s, $0.4536/h).
func TestEC2ConfigurationByHand(t *testing.T) {
	p, err := build(t, "input_gb: 1.6\nstages: [{op: shuffle, compute_mb_per_s: 100}]\nworkers: [8, 16]\nlambda_memory_mb: []\nec2_types: [c6in.2xlarge]\n")
	if err != nil {
		t.Fatal(err)
	}
	ll, lb := channel.LocalLatencyS, channel.LocalBandwidthBps
	one := config(t, p, "ec2-8-c6in.2xlarge")
	// one instance: compute 1.6e9/8/1e8 = 2 s; 7 loopback rounds of 1.6e9/64 = 2.5e7 bytes; 7 loopback handshakes
	want := 2 + 7*(ll+2.5e7/lb) + 7*2*ll
	near(t, "8 workers time", one.TimeS, want, 1e-6)
	if one.Instances != 1 {
		t.Errorf("instances %d", one.Instances)
	}
	// EC2 bills a minute at least: 1 × $0.4536/h × 60 s
	near(t, "8 workers cost", one.CostUSD, 0.4536*60/3600, 1e-9)
	two := config(t, p, "ec2-16-c6in.2xlarge")
	// two instances of 8: partitions 1.6e9/256 = 6.25e6; 7 local rounds, 8 remote at min(5 Gbit/s flow, 12.5 Gbit/s / 8 workers)
	remote := math.Min(5e9/8, 12500e6/8/8)
	want = 1 + 7*(ll+6.25e6/lb) + 8*(0.00034+6.25e6/remote) + 7*2*ll + 8*2*0.00034
	near(t, "16 workers time", two.TimeS, want, 1e-6)
	if two.Instances != 2 {
		t.Errorf("instances %d", two.Instances)
	}
	near(t, "16 workers efficiency", two.Efficiency, math.Round(one.TimeS*8/(two.TimeS*16)*1e4)/1e4, 1e-4)
}

func TestFeasibility(t *testing.T) {
	// 10 GB over 8 functions: 1.25 GB partitions need 2.5 GB of working memory, more than 1,769 MB
	p, err := build(t, "input_gb: 10\nstages: [{op: shuffle, compute_mb_per_s: 150}]\nworkers: [8, 16]\nlambda_memory_mb: [1769, 3538]\nchannels: [direct]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c := config(t, p, "lambda-8-1769mb-direct"); c.Feasible || !strings.Contains(strings.Join(c.Reasons, " "), "working memory") {
		t.Errorf("8 × 1769 MB: feasible %v, reasons %v", c.Feasible, c.Reasons)
	}
	if c := config(t, p, "lambda-8-3538mb-direct"); !c.Feasible {
		t.Errorf("8 × 3538 MB has room for 2.5 GB: %v", c.Reasons)
	}
	// 10 GB at 0.01 MB/s per vCPU takes longer than Lambda's 15 minutes
	p, err = build(t, "input_gb: 10\nstages: [{op: shuffle, compute_mb_per_s: 0.01}]\nworkers: [64]\nchannels: [direct]\n")
	var ie *InfeasibleError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "no configuration can run the job") {
		t.Fatalf("err = %v", err)
	}
	if c := p.Configurations[0]; c.Feasible || !strings.Contains(c.Reasons[0], "Lambda's 900 s limit") {
		t.Errorf("%+v", c)
	}
}

const choice = "input_gb: 2\nstages: [{op: shuffle, compute_mb_per_s: 100}]\nworkers: [4, 16, 64]\nlambda_memory_mb: [1769, 10240]\nchannels: [direct, s3]\nec2_types: [c6in.8xlarge]\n"

func TestRecommendation(t *testing.T) {
	// no constraint: the cheapest
	p, err := build(t, choice)
	if err != nil {
		t.Fatal(err)
	}
	cheapest := p.Configurations[0]
	for _, c := range p.Configurations {
		if c.Feasible && c.CostUSD < cheapest.CostUSD {
			cheapest = c
		}
	}
	if p.Recommended == nil || p.Recommended.ID != cheapest.ID || !strings.Contains(p.Objective, "cheapest") {
		t.Errorf("recommended %v (%s), want the cheapest %s", p.Recommended, p.Objective, cheapest.ID)
	}
	// a deadline: the cheapest that meets it
	p, err = build(t, choice+"deadline_s: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	var best *Configuration
	for i, c := range p.Configurations {
		if c.MeetsDeadline == nil {
			t.Fatalf("%s: meets_deadline unset", c.ID)
		}
		if c.Feasible && c.TimeS <= 2 && (best == nil || c.CostUSD < best.CostUSD) {
			best = &p.Configurations[i]
		}
	}
	if best == nil || p.Recommended.ID != best.ID || p.Recommended.TimeS > 2 {
		t.Errorf("deadline 2 s: recommended %+v, want %v", p.Recommended, best)
	}
	// a budget: the fastest within it
	p, err = build(t, choice+"budget_usd: 0.001\n")
	if err != nil {
		t.Fatal(err)
	}
	best = nil
	for i, c := range p.Configurations {
		if c.Feasible && c.CostUSD <= 0.001 && (best == nil || c.TimeS < best.TimeS) {
			best = &p.Configurations[i]
		}
	}
	if best == nil || p.Recommended.ID != best.ID || !strings.Contains(p.Objective, "fastest") {
		t.Errorf("budget: recommended %+v, want %v", p.Recommended, best)
	}
}

func TestInfeasibleDeadlineNamesTheFastest(t *testing.T) {
	p, err := build(t, choice+"deadline_s: 0.01\n")
	var ie *InfeasibleError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an InfeasibleError", err)
	}
	if p == nil || p.Recommended != nil {
		t.Fatal("the plan must still come back, with nothing recommended")
	}
	fastest := p.Configurations[0]
	for _, c := range p.Configurations {
		if c.Feasible && c.TimeS < fastest.TimeS {
			fastest = c
		}
	}
	if !strings.Contains(err.Error(), fastest.ID) || !strings.Contains(err.Error(), "0.01 s deadline") || !strings.Contains(err.Error(), seconds(fastest.TimeS)) {
		t.Errorf("%v: want the deadline, the fastest configuration %s and its %s", err, fastest.ID, seconds(fastest.TimeS))
	}
	_, err = build(t, choice+"budget_usd: 0.0000001\n")
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "budget") || !strings.Contains(err.Error(), "cheapest") {
		t.Errorf("budget: %v", err)
	}
}

func TestUnknownEC2TypeIsAnInputError(t *testing.T) {
	_, err := build(t, "input_gb: 1\nstages: [{op: shuffle}]\nworkers: [4]\nec2_types:\n  - c6in.8xlarge\n  - c9z.huge\n")
	if !inputerr.Is(err) || !strings.HasPrefix(err.Error(), "job.yaml:6: ec2_types[1]: \"c9z.huge\"") {
		t.Errorf("err = %v", err)
	}
}

func TestUnknownNetworkWarns(t *testing.T) {
	p, err := build(t, "input_gb: 1\nstages: [{op: shuffle}]\nworkers: [4]\nlambda_memory_mb: []\nec2_types: [c5.xlarge]\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "c5.xlarge: network bandwidth unknown") {
		t.Errorf("warnings %v", p.Warnings)
	}
}

func TestPlanDocument(t *testing.T) {
	p, err := build(t, choice+"deadline_s: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := build(t, choice+"deadline_s: 2\n")
	data2, _ := again.Marshal()
	if string(data) != string(data2) {
		t.Error("two plans of the same job differ")
	}
	if !IsPlan(data) || IsPlan([]byte(`{"version": 1, "platform": "lambda"}`)) || IsPlan([]byte("not json")) {
		t.Error("IsPlan")
	}
	back, err := ParsePlan(data)
	if err != nil {
		t.Fatal(err)
	}
	data3, _ := back.Marshal()
	if string(data3) != string(data) {
		t.Error("Marshal(ParsePlan(x)) != x")
	}
	for _, bad := range []string{`{"version": 1, "platform": "lambda", "configurations": [{}]}`, `{"version": 2, "platform": "dataparallel", "configurations": [{}]}`, `{"version": 1, "platform": "dataparallel"}`} {
		if _, err := ParsePlan([]byte(bad)); err == nil {
			t.Errorf("ParsePlan accepted %s", bad)
		}
	}
	for _, c := range p.Configurations {
		if c.Platform == "ec2" && (c.EC2Type == "" || c.Channel != "ec2" || c.MemoryMB != 0) || c.Platform == "lambda" && (c.MemoryMB == 0 || c.EC2Type != "") {
			t.Errorf("%s: platform fields %+v", c.ID, c)
		}
	}
}
