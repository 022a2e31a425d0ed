package explain

import (
	"math"
	"testing"

	"github.com/inferplan/inferplan/trace"
)

func TestHistogramDistinctAndBinned(t *testing.T) {
	tr := &trace.Trace{Requests: []trace.Request{{Size: 12}, {Size: 24}, {Size: 24}, {Size: 36}}}
	h := histogram(tr, 40)
	// three distinct sizes, 12 apart: one bar each, ±0.4 × 12 wide
	if len(h) != 3 || h[1].Count != 2 || math.Abs(h[0].Lo-7.2) > 1e-9 || math.Abs(h[2].Hi-40.8) > 1e-9 {
		t.Fatalf("%+v", h)
	}
	var reqs []trace.Request
	for i := 0; i < 100; i++ {
		reqs = append(reqs, trace.Request{Size: float64(i)})
	}
	h = histogram(&trace.Trace{Requests: reqs}, 10)
	// 100 distinct sizes 0…99 in 10 bins of width 9.9: the last takes 99
	total := 0
	for _, b := range h {
		total += b.Count
	}
	if len(h) != 10 || total != 100 || h[0].Count != 10 || h[9].Count != 10 {
		t.Fatalf("%+v", h)
	}
}

func TestCDFNearestRank(t *testing.T) {
	c := cdf("x", []float64{4, 1, 3, 2}, 4)
	// shares 0.25 … 1: nearest-rank values 1, 2, 3, 4
	if len(c.Ms) != 4 || c.Ms[0] != 1 || c.Ms[3] != 4 || c.Share[1] != 0.5 {
		t.Fatalf("%+v", c)
	}
}
