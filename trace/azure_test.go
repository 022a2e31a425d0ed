package trace_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/trace"
)

// TestAzureConvStats checks the reader and Stats against the summary table in ../shared/data/README.md, which was
// computed independently from the same file: 19,366 rows, span 3,502 s, mean 5.53 rps, peak 16 in 1 s, CV 1.09,
// input tokens p50/p90/p99/max 1,020 / 2,735 / 4,142 / 14,050, min 2, mean 1,155.
func TestAzureConvStats(t *testing.T) {
	tr, err := example.AzureConv()
	if err != nil {
		t.Fatal(err)
	}
	st := tr.Stats()
	near := func(name string, got, want, tol float64) {
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %v, want %v ± %v", name, got, want, tol)
		}
	}
	if st.Requests != 19366 {
		t.Errorf("requests = %d, want 19366", st.Requests)
	}
	near("span", st.SpanS, 3502, 0.5)
	near("mean rps", st.MeanRPS, 5.53, 0.005)
	near("peak rps", st.PeakRPS, 16, 0)
	near("CV", st.InterArrivalCV, 1.09, 0.005)
	near("p50", st.SizeP50, 1020, 0)
	near("p90", st.SizeP90, 2735, 0)
	near("p99", st.SizeP99, 4142, 0)
	near("max", st.SizeMax, 14050, 0)
	near("min", st.SizeMin, 2, 0)
	near("mean", st.SizeMean, 1155, 0.5)
}

// BenchmarkReadAzureConv measures loading the 19k-row Azure conversation trace (target: < 100 ms).
func BenchmarkReadAzureConv(b *testing.B) {
	data := example.AzureConvCSV()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := trace.Read(bytes.NewReader(data), "conv.csv", trace.Options{TimeCol: "TIMESTAMP", SizeCol: "ContextTokens"}); err != nil {
			b.Fatal(err)
		}
	}
}
