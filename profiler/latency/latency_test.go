package latency

import (
	"errors"
	"math"
	"testing"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/profiler/profile"
)

func gridProfile(pts ...[3]float64) *profile.Profile {
	p := &profile.Profile{Version: 1}
	for _, x := range pts {
		p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.CPU, Batch: int(x[0]), Size: x[1], LatencyMs: x[2]})
	}
	return p
}

func TestCurveInterpolationByHand(t *testing.T) {
	// batches 1 and 4, sizes 10 and 20
	tab := NewTable(gridProfile([3]float64{1, 10, 100}, [3]float64{1, 20, 200}, [3]float64{4, 10, 160}, [3]float64{4, 20, 400}))
	c, ok := tab.Curve(profile.Key{Platform: profile.CPU})
	if !ok {
		t.Fatal("no curve")
	}
	for _, tc := range []struct {
		n    int
		s    float64
		want float64
	}{
		{1, 10, 100},
		{1, 15, 150},           // between sizes
		{1, 5, 100},            // below the smallest size: its latency
		{1, 30, 300},           // above the largest: extrapolated along 10→20
		{4, 15, 280},           // 160 + (400−160)/2
		{4, 30, 640},           // 400 + 240
		{2, 15, 150 + 130.0/3}, // a third of the way from batch 1 (150) to batch 4 (280)
		{3, 20, 200 + 2*200.0/3},
	} {
		got, err := c.Latency(tc.n, tc.s)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Latency(%d, %v) = %v, %v; want %v", tc.n, tc.s, got, err, tc.want)
		}
	}
	if _, err := c.Latency(5, 10); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("batch 5 > 4: err = %v", err)
	}
	if _, err := c.Latency(0, 10); err == nil {
		t.Error("batch 0: no error")
	}
	if c.MaxBatch() != 4 {
		t.Errorf("MaxBatch = %d", c.MaxBatch())
	}
}

func TestCurveSparseAndDegenerateRows(t *testing.T) {
	// batch 2 measured at one size only, batch 8 at three; batch 1 not measured at all
	tab := NewTable(gridProfile([3]float64{2, 16, 50}, [3]float64{8, 8, 100}, [3]float64{8, 16, 120}, [3]float64{8, 64, 300}))
	c, _ := tab.Curve(profile.Key{Platform: profile.CPU})
	// batch 1 is below the smallest measured batch: batch 2's latency, which is flat in size (one point)
	if got, _ := c.Latency(1, 100); got != 50 {
		t.Errorf("Latency(1, 100) = %v, want 50", got)
	}
	// batch 5 is halfway between 2 (50 at any size) and 8 (at size 40: 120 + (40−16)/48·180 = 210)
	if got, _ := c.Latency(5, 40); math.Abs(got-130) > 1e-9 {
		t.Errorf("Latency(5, 40) = %v, want 130", got)
	}
}

func TestNegativeExtrapolationClamped(t *testing.T) {
	tab := NewTable(gridProfile([3]float64{1, 10, 100}, [3]float64{1, 20, 50}))
	c, _ := tab.Curve(profile.Key{Platform: profile.CPU})
	if got := c.At(1, 100); got != 0 {
		t.Errorf("falling segment extrapolated to %v, want 0", got)
	}
}

func TestColocatedRepeatsAveraged(t *testing.T) {
	p := &profile.Profile{Version: 1, Measurements: []profile.Measurement{
		{Platform: profile.GPU, Colocated: 2, Sharing: "mps", Batch: 8, Size: 128, LatencyMs: 4},
		{Platform: profile.GPU, Colocated: 2, Sharing: "mps", Batch: 8, Size: 128, LatencyMs: 6},
	}}
	c, _ := NewTable(p).Curve(p.Measurements[0].Key())
	if got := c.At(8, 128); got != 5 {
		t.Errorf("mean of the two workers = %v, want 5", got)
	}
}

func TestFitRecoversKnownModel(t *testing.T) {
	// exact data from t = 5 + 0.1·s + 2·n + 0.03·n·s + 0.0001·n·s²
	var pts []Point
	for _, n := range []int{1, 2, 4, 8, 16} {
		for _, s := range []float64{16, 32, 64, 128, 256} {
			pts = append(pts, Point{N: n, Size: s, LatencyMs: 5 + 0.1*s + 2*float64(n) + 0.03*float64(n)*s + 0.0001*float64(n)*s*s})
		}
	}
	f, err := FitPoints(pts, Shape)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{5, 0.1, 2, 0.03, 0.0001}
	for j, w := range want {
		if math.Abs(f.Coef[j]-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("coef[%d] = %v, want %v", j, f.Coef[j], w)
		}
	}
	if f.HeldOutMAPE > 1e-9 || f.MAPE > 1e-9 {
		t.Errorf("errors on exact data: %v", f)
	}
}

func TestFitLambdaMemoryKnownModel(t *testing.T) {
	// t = (100 + 10·n·s)·1769/min(M,1769) + 50·n: single-threaded work plus a memory-independent part
	var pts []Point
	for _, m := range []int{512, 1024, 1769, 2048, 4096} {
		for _, n := range []int{1, 3, 5} {
			for _, s := range []float64{10, 50, 90} {
				v1 := 1769 / math.Min(float64(m), 1769)
				pts = append(pts, Point{MemoryMB: m, N: n, Size: s, LatencyMs: (100+10*float64(n)*s)*v1 + 50*float64(n)})
			}
		}
	}
	f, err := FitPoints(pts, LambdaMemory)
	if err != nil {
		t.Fatal(err)
	}
	probe := Point{MemoryMB: 3000, N: 2, Size: 70}
	if got, want := f.Predict(probe), 100+10*2*70.0+50*2; math.Abs(got-want) > 1e-6 {
		t.Errorf("Predict(%+v) = %v, want %v", probe, got, want)
	}
	if f.HeldOutMaxAPE > 1e-6 {
		t.Errorf("held-out error on exact data: %v", f)
	}
}

func TestFitTooFewPoints(t *testing.T) {
	if _, err := FitPoints([]Point{{N: 1, Size: 1, LatencyMs: 1}}, Shape); !errors.Is(err, ErrTooFewPoints) {
		t.Fatalf("err = %v", err)
	}
}

// TestFitDeepSpeech fits the memory-scaled model to the real Lambda profile: 19,200 measured points. The bound
// is what the form achieves on this data (measured: see the log line), so a regression in the fit shows.
func TestFitDeepSpeech(t *testing.T) {
	p, err := example.Profile()
	if err != nil {
		t.Fatal(err)
	}
	tab := NewTable(p)
	curves, src := tab.Lambda("x86_64")
	if src != Measured || len(curves) != 24 {
		t.Fatalf("got %d Lambda curves (source %v), want 24 measured", len(curves), src)
	}
	var pts []Point
	for _, c := range curves {
		pts = append(pts, CurvePoints(c)...)
	}
	f, err := FitPoints(pts, LambdaMemory)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DeepSpeech on Lambda: %v", f)
	if f.HeldOutMAPE > 5 { // measured 2.5% (2026-11-23)
		t.Errorf("held-out MAPE %.1f%% > 5%%", f.HeldOutMAPE)
	}
}

func TestLambdaEmulatedFromCPU(t *testing.T) {
	p := &profile.Profile{Version: 1}
	for _, v := range []float64{1, 2, 6, 0.5} {
		p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.CPU, VCPUs: v, Batch: 1, Size: 16, LatencyMs: 100 / v})
	}
	curves, src := NewTable(p).Lambda("arm64")
	if src != EmulatedFromCPU || len(curves) != 3 {
		t.Fatalf("%d curves from %v", len(curves), src)
	}
	// 1 vCPU → 1,769 MB; 2 → 3,538 MB; 6 → 10,614 MB capped at Lambda's 10,240; 0.5 vCPU is not a thread count
	for i, want := range []int{1769, 3538, 10240} {
		if c := curves[i]; c.Key.MemoryMB != want || c.Key.Platform != profile.Lambda || c.Key.Hardware != "lambda-arm64" {
			t.Errorf("curve %d: %+v", i, c.Key)
		}
	}
	if got := curves[1].At(1, 16); got != 50 {
		t.Errorf("2 vCPU latency %v", got)
	}
	if _, src := NewTable(&profile.Profile{Version: 1, Measurements: []profile.Measurement{{Platform: profile.GPU, Batch: 1, Size: 1, LatencyMs: 1}}}).Lambda("x86_64"); src != NoLambda {
		t.Errorf("a GPU-only profile: %v", src)
	}
}
