package replay_test

import (
	"testing"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
)

// BenchmarkReplay replays the real Azure conversation trace (19,366 arrivals, DeepSpeech sizes drawn from the
// MBS mix) through a 4-buffer plan on the real DeepSpeech Lambda profile. Target: ≥ 5 million requests/s on one
// core (run with -cpu 1); the req/s metric is what to read.
func BenchmarkReplay(b *testing.B) {
	prof, err := example.Profile()
	if err != nil {
		b.Fatal(err)
	}
	tr, err := example.Scenario(example.Seed)
	if err != nil {
		b.Fatal(err)
	}
	bufs := []plan.Buffer{
		{MinSize: 1, MaxSize: 48, BatchSize: 8, TimeoutMs: 3000, MemoryMB: 1024},
		{MinSize: 52, MaxSize: 68, BatchSize: 6, TimeoutMs: 2500, MemoryMB: 1536},
		{MinSize: 72, MaxSize: 96, BatchSize: 4, TimeoutMs: 2000, MemoryMB: 2048},
		{MinSize: 100, MaxSize: plan.NoUpperBound, BatchSize: 3, TimeoutMs: 1500, MemoryMB: 3072},
	}
	tg, err := replay.ResolveBuffers(bufs, latency.NewTable(prof), "x86_64", 0.0000166667, 0.0000002, 20000)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := replay.Run(tg, tr, replay.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tr.Len())*float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
