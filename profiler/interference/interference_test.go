package interference

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

func TestLatencyByMode(t *testing.T) {
	m := &Model{TimeSlice: 1.5, MPS: 0.5}
	// solo 10 ms of which 4 ms SM-bound
	for _, tc := range []struct {
		name       string
		mode       Mode
		p          float64
		busy       int
		busyShares float64
		want       float64
	}{
		{"exclusive ignores the others", Exclusive, 1, 3, 3, 10},
		{"time-slice alone", TimeSlice, 1, 1, 1, 10},
		// 10 + 1.5 × (3 − 1) × 4
		{"time-slice with two others busy", TimeSlice, 1, 3, 3, 22},
		// partitioned MPS, 50 % alone: 10 + 0.5 × (max(1, 0.5)/0.5 − 1) × 4 = 12
		{"mps half alone", MPS, 0.5, 1, 0.5, 12},
		// two at 50 %: shares sum to 1, same as alone
		{"mps two halves", MPS, 0.5, 2, 1, 12},
		// two at 100 % oversubscribe: 10 + 0.5 × (2/1 − 1) × 4 = 12
		{"mps two fulls", MPS, 1, 2, 2, 12},
		// a 3/7 MIG slice is isolated: 10 + (7/3 − 1) × 4
		{"mig slice", MIG, 3.0 / 7, 4, 4, 10 + (7.0/3-1)*4},
	} {
		if got := m.Latency(tc.mode, 10, 4, tc.p, tc.busy, tc.busyShares); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWorkIsCappedBySolo(t *testing.T) {
	// 0.0005 ms/token × 8 × 128 = 0.512 ms; 64 × 512 tokens would be 16.384 ms, more than its 16 ms alone
	if got := Work(0.0005, 8, 128, 5); math.Abs(got-0.512) > 1e-12 {
		t.Errorf("work 8×128 = %v", got)
	}
	if got := Work(0.0005, 64, 512, 16); got != 16 {
		t.Errorf("work 64×512 = %v, want the solo 16", got)
	}
}

func TestSlopeOfTheLargeShapes(t *testing.T) {
	// latency = 5 ms flat up to 8,192 tokens, then 0.0005 ms per token: the slope among the points of at least
	// half the largest token count (16,384 of 32,768) is exactly 0.0005
	p := &profile.Profile{Version: 1}
	for _, b := range []int{1, 8, 32, 64} {
		for _, s := range []float64{128, 256, 512} {
			l := math.Max(5, 0.0005*float64(b)*s)
			p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.GPU, Hardware: "h", Batch: b, Size: s, LatencyMs: l})
		}
	}
	tab := latency.NewTable(p)
	c, _ := tab.Curve(tab.Keys()[0])
	if got := Slope(c); math.Abs(got-0.0005) > 1e-12 {
		t.Errorf("slope %v, want 0.0005", got)
	}
}

func TestFitRecoversTheParameters(t *testing.T) {
	truth := &Model{GapMs: 0.3, TimeSlice: 1.2, MPS: 0.7}
	var rows []Row
	for _, shape := range []struct{ solo, work float64 }{{5, 0.5}, {5, 4}, {16, 16}} {
		for _, c := range []struct {
			mode Mode
			n    int
			pct  float64
		}{{TimeSlice, 1, 0}, {TimeSlice, 2, 0}, {TimeSlice, 4, 0}, {MPS, 2, 50}, {MPS, 4, 25}, {MPS, 2, 100}} {
			r := Row{Mode: c.mode, Workers: c.n, MPSPct: c.pct, Batch: 1, Size: 1, SoloMs: shape.solo, WorkMs: shape.work}
			r.Measured = truth.Throughput(&r)
			rows = append(rows, r)
		}
	}
	m, err := Fit(rows, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.GapMs-0.3) > 1e-4 || math.Abs(m.TimeSlice-1.2) > 1e-4 || math.Abs(m.MPS-0.7) > 1e-4 {
		t.Fatalf("fitted %+v, want gap 0.3, c_ts 1.2, c_mps 0.7", m)
	}
	for _, r := range m.Rows {
		if math.Abs(r.LOOError) > 1e-3 {
			t.Errorf("%s × %d: leave-one-out error %v on noiseless rows", r.Mode, r.Workers, r.LOOError)
		}
	}
	if _, err := Fit(rows[:2], "two"); err == nil {
		t.Error("two rows fitted three parameters")
	}
}

// TestDefaultPredictsTheSharedH100Rows is the check on the shared data: each co-location configuration
// with more than one worker, predicted by the model fitted to all the other rows. Eleven of the twelve are within
// 12 %; two MPS workers at 50 % of 8×128 ran faster together (4.1–4.3 ms a batch) than the shape alone
// (5.1 ms), which a model that never speeds a worker up cannot follow (−22 %).
func TestDefaultPredictsTheSharedH100Rows(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 14 {
		t.Fatalf("%d configurations, want 14", len(m.Rows))
	}
	var errs []float64
	within := 0
	t.Logf("fitted: gap %.3f ms, c_ts %.3f, c_mps %.3f", m.GapMs, m.TimeSlice, m.MPS)
	t.Logf("| sharing | workers | MPS %% | shape | solo ms | SM-bound ms | measured batches/s | predicted | leave-one-out |")
	for _, r := range m.Rows {
		pct := "–"
		if r.Mode == MPS {
			pct = fmt.Sprintf("%g", r.MPSPct)
		}
		t.Logf("| %s | %d | %s | %d×%g | %.2f | %.2f | %.1f | %.1f | %+.1f%% |", r.Mode, r.Workers, pct, r.Batch, r.Size, r.SoloMs, r.WorkMs, r.Measured, r.Predicted, r.LOOError*100)
	}
	for _, r := range m.Rows {
		if r.Workers < 2 {
			continue
		}
		e := math.Abs(r.LOOError)
		errs = append(errs, e)
		if e <= 0.15 {
			within++
		}
	}
	slices.Sort(errs)
	if within < len(errs)-1 || errs[len(errs)/2] > 0.08 || errs[len(errs)-1] > 0.25 {
		t.Errorf("leave-one-out |errors| %v: want all but one within 15 %%, median ≤ 8 %%, none above 25 %%", errs)
	}
	if !(m.TimeSlice > 0.5 && m.TimeSlice < 2) || !(m.MPS > 0.5 && m.MPS < 2) {
		t.Errorf("coefficients %+v out of any plausible range", m)
	}
}
