package replay_test

import (
	"testing"

	"github.com/inferplan/inferplan/batching"
	"github.com/inferplan/inferplan/planner/cluster/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// BenchmarkClusterReplay replays the three real traces of the cluster scenario (30 minutes of Azure code and
// conversation and Mooncake conversation, 21,567 requests) through a fleet of one H100 time-sliced between three
// workers and two CPU workers, on the measured H100 bert-base profile. Target: ≥ 2 million requests/s on one core
// (run with -cpu 1); read the req/s metric.
func BenchmarkClusterReplay(b *testing.B) {
	prof, err := profile.ReadFile("../../../testdata/cluster/gpu-h100-bert-base-float16.json")
	if err != nil {
		b.Fatal(err)
	}
	tab := latency.NewTable(prof)
	c, _ := tab.Curve(tab.Keys()[0])
	model, err := interference.Default()
	if err != nil {
		b.Fatal(err)
	}
	f := &replay.Fleet{Model: model, GPUs: 1, Pools: []replay.Pool{{Count: 1, USDPerHour: 6.88}}}
	n := 0
	for i, file := range []string{"azure-code-30m.csv", "azure-conv-30m.csv", "mooncake-conv-30m.csv"} {
		tr, err := trace.ReadFile("../../../testdata/cluster/"+file, trace.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tr = trace.Cut(tr, 0, 0, 512, 1)
		n += tr.Len()
		f.SpanUs = max(f.SpanUs, tr.Span())
		f.Services = append(f.Services, replay.Service{Name: file, SLO: plan.SLO{Percentile: 99, LatencyMs: 100},
			Requests: tr.Requests, Ranges: batching.Ranges{batching.NoUpperBound}})
		f.Workers = append(f.Workers, replay.Worker{Service: i, BatchSize: 8, TimeoutUs: 5000, Curve: c,
			Slope: interference.Slope(c), GPU: 0, Mode: interference.TimeSlice, Share: 1})
	}
	for range 2 {
		f.Workers = append(f.Workers, replay.Worker{Service: 1, BatchSize: 4, TimeoutUs: 2000, Curve: c, GPU: -1, Share: 1})
	}
	f.Workers[1], f.Workers[3] = f.Workers[3], f.Workers[1] // the conversation service round-robins GPU and CPU workers
	b.ResetTimer()
	for b.Loop() {
		if _, err := replay.Run(f, replay.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
