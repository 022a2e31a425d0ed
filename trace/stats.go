package trace

import (
	"math"
	"slices"

	"github.com/inferplan/inferplan/quantile"
)

// Stats summarises a trace. Percentiles are nearest-rank; the peak rate counts arrivals in 1-second bins aligned
// to the first arrival; the mean rate is requests / (last − first arrival), as in ../shared/data/README.md.
type Stats struct {
	Requests       int     `json:"requests"`
	SpanS          float64 `json:"span_s"`
	MeanRPS        float64 `json:"mean_rps"`
	PeakRPS        float64 `json:"peak_rps_1s"`
	InterArrivalCV float64 `json:"inter_arrival_cv"`
	SizeMin        float64 `json:"size_min"`
	SizeMean       float64 `json:"size_mean"`
	SizeP50        float64 `json:"size_p50"`
	SizeP90        float64 `json:"size_p90"`
	SizeP99        float64 `json:"size_p99"`
	SizeMax        float64 `json:"size_max"`
}

// Stats computes the summary statistics of the trace.
func (t *Trace) Stats() Stats {
	n := len(t.Requests)
	st := Stats{Requests: n}
	if n == 0 {
		return st
	}
	first := t.Requests[0].At
	span := t.Requests[n-1].At - first
	st.SpanS = float64(span) / 1e6
	if span > 0 {
		st.MeanRPS = float64(n) / st.SpanS
	}

	var (
		peak, inBin int
		bin         int64
		sumGap      float64
		sumGap2     float64
	)
	sizes := make([]float64, n)
	sumSize := 0.0
	for i, r := range t.Requests {
		b := (r.At - first) / 1e6
		if i == 0 || b != bin {
			bin, inBin = b, 0
		}
		inBin++
		peak = max(peak, inBin)
		if i > 0 {
			g := float64(r.At - t.Requests[i-1].At)
			sumGap += g
			sumGap2 += g * g
		}
		sizes[i] = r.Size
		sumSize += r.Size
	}
	st.PeakRPS = float64(peak)
	if n > 1 {
		m := sumGap / float64(n-1)
		if m > 0 {
			v := sumGap2/float64(n-1) - m*m
			st.InterArrivalCV = math.Sqrt(math.Max(v, 0)) / m
		}
	}
	slices.Sort(sizes)
	st.SizeMin, st.SizeMax = sizes[0], sizes[n-1]
	st.SizeMean = sumSize / float64(n)
	st.SizeP50 = quantile.NearestRank(sizes, 50)
	st.SizeP90 = quantile.NearestRank(sizes, 90)
	st.SizeP99 = quantile.NearestRank(sizes, 99)
	return st
}
