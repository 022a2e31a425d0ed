package job

import (
	"math"
	"testing"

	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/pricing"
)

func buildFile(t *testing.T, path string) *Plan {
	t.Helper()
	j, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j.DeadlineS = 0 // the findings are about every configuration, not the recommendation
	p, err := Build(j, Options{Catalog: pricing.Embedded(), Params: channel.Defaults()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSeedFindingsWithFMIDefaults reproduces, with FMI's published parameters, what Cylon on serverless
// (arXiv 2511.12185) and the Moyer thesis report: direct TCP between functions is far faster and cheaper than
// S3 (Moyer: 4.7× faster at about half the cost for 100+ functions) or Redis for a 10 GB shuffle on 64 workers.
func TestSeedFindingsWithFMIDefaults(t *testing.T) {
	p := buildFile(t, "testdata/shuffle10gb.yaml")
	direct := config(t, p, "lambda-64-1769mb-direct")
	for _, other := range []string{"lambda-64-1769mb-s3", "lambda-64-1769mb-redis"} {
		o := config(t, p, other)
		t.Logf("64 workers: direct %.2f s $%.5f, %s %.2f s $%.5f: %.1f× faster, %.1f× cheaper",
			direct.TimeS, direct.CostUSD, other, o.TimeS, o.CostUSD, o.TimeS/direct.TimeS, o.CostUSD/direct.CostUSD)
		// a wide margin: at least three times faster and three times cheaper
		if o.TimeS < 3*direct.TimeS || o.CostUSD < 3*direct.CostUSD {
			t.Errorf("%s: %.2f s, $%.5f against direct's %.2f s, $%.5f: not a wide margin", other, o.TimeS, o.CostUSD, direct.TimeS, direct.CostUSD)
		}
	}
}

// TestStrongScalingAgainstEC2 compares direct's strong-scaling efficiency from 8 to 64 one-vCPU workers
// (1,769 MB) with an EC2 cluster of as many vCPUs (one worker per vCPU on c6in.8xlarge), for the issue's
// example job: Cylon on serverless reports Lambda within 6.5 % of EC2 at 64 nodes; the model puts them within
// 10 points. For the shuffle alone the model has Lambda ahead by more: EC2's 8 workers share one instance and
// exchange over loopback, so its baseline has little communication to amortise (the README shows both).
func TestStrongScalingAgainstEC2(t *testing.T) {
	p := buildFile(t, "testdata/example.yaml")
	l := config(t, p, "lambda-64-1769mb-direct")
	e := config(t, p, "ec2-64-c6in.8xlarge")
	if e.VCPUs != l.VCPUs {
		t.Fatalf("not equal vCPUs: %v and %v", e.VCPUs, l.VCPUs)
	}
	t.Logf("efficiency 8→64: lambda direct %.3f, ec2 c6in.8xlarge %.3f", l.Efficiency, e.Efficiency)
	if d := math.Abs(l.Efficiency - e.Efficiency); d > 0.10 {
		t.Errorf("efficiency 8→64: lambda direct %.3f, EC2 %.3f: %.1f points apart, want within 10", l.Efficiency, e.Efficiency, 100*d)
	}
	s := buildFile(t, "testdata/shuffle10gb.yaml")
	ls, es := config(t, s, "lambda-64-1769mb-direct"), config(t, s, "ec2-64-c6in.8xlarge")
	t.Logf("shuffle alone, efficiency 8→64: lambda direct %.3f, ec2 c6in.8xlarge %.3f", ls.Efficiency, es.Efficiency)
	if !(ls.Efficiency > es.Efficiency) {
		t.Errorf("shuffle alone: the model should have Lambda direct ahead (%.3f vs %.3f)", ls.Efficiency, es.Efficiency)
	}
}
