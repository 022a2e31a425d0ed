package lambda

import (
	"context"
	"testing"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/trace"
)

// longTrace is hours of the issue-3 scenario end to end: hour h is the Azure conversation hour's arrivals shifted
// by h hours, with DeepSpeech sizes drawn at seed h+1 — a long trace with real burstiness (104 hours: 2,014,064
// requests).
func longTrace(tb testing.TB, hours int) *trace.Trace {
	tb.Helper()
	out := &trace.Trace{Source: "azure conversation hour × hours"}
	for h := range hours {
		tr, err := example.Scenario(uint64(h + 1))
		if err != nil {
			tb.Fatal(err)
		}
		for _, q := range tr.Requests {
			out.Requests = append(out.Requests, trace.Request{At: q.At + int64(h)*3600e6, Size: q.Size})
		}
	}
	return out
}

// BenchmarkPlan2M plans a 2-million-request trace as `inferplan plan` does by default (calibrated margin, BO
// refinement): issue 14's target is at most 60 s on two cores.
//
//	go test ./planner/lambda -run '^$' -bench Plan2M -benchtime 1x
func BenchmarkPlan2M(b *testing.B) {
	prof, err := example.Profile()
	if err != nil {
		b.Fatal(err)
	}
	tr := longTrace(b, 104)
	opt := slo(95, 20000)
	opt.AutoMargin = true
	b.ResetTimer()
	for range b.N {
		p, err := Plan(context.Background(), Input{Profile: prof, Trace: tr}, opt)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(tr.Len()), "requests")
		b.ReportMetric(p.Estimate.CostPerMillionUSD, "$/M")
		b.ReportMetric(float64(p.Search.Replays), "replays")
	}
}
