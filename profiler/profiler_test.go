package profiler

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

// scripted returns latencies from a list, to check the measurement discipline by hand.
type scripted struct {
	lat  []float64
	cold []bool
	i    int
	err  error
}

func (s *scripted) Info() Info {
	return Info{Platform: profile.CPU, VCPUs: 2, Model: "m", SizeUnit: "tokens"}
}
func (s *scripted) Run(context.Context, int, int) (Sample, error) {
	if s.err != nil && s.i >= len(s.lat) {
		return Sample{}, s.err
	}
	l := s.lat[s.i%len(s.lat)]
	cold := s.cold != nil && s.cold[s.i%len(s.cold)]
	s.i++
	return Sample{LatencyMs: l, Cold: cold, InitMs: 250}, nil
}
func (s *scripted) Close() error { return nil }

func fixed() time.Time { return time.Unix(0, 0) }

func TestMeasureStopsWhenMedianIsStable(t *testing.T) {
	// warm-up 100 is discarded; then 10, 12, 11: medians 10 → 11 → 11 (stable within 2%) → stop after 3 runs
	s := &scripted{lat: []float64{100, 10, 12, 11, 50, 50}}
	ms, err := Measure(context.Background(), s, []Point{{4, 64}}, Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	if m.LatencyMs != 11 || m.Optional["latency_min_ms"] != 10 || m.Optional["latency_max_ms"] != 12 || m.Optional["latency_p95_ms"] != 12 {
		t.Fatalf("measurement %+v %v", m, m.Optional)
	}
	if string(m.Extra["runs"]) != "3" || string(m.Extra["warmup_runs"]) != "1" || m.Batch != 4 || m.Size != 64 || m.VCPUs != 2 {
		t.Fatalf("counts/config: %+v %s", m, m.Extra)
	}
}

func TestMeasureCapsRunsAndSeparatesColdStarts(t *testing.T) {
	// alternating 10 and 20 never settles: stops at MaxRuns; every third run is cold and kept apart
	s := &scripted{lat: []float64{10, 20, 30}, cold: []bool{false, false, true}}
	ms, err := Measure(context.Background(), s, []Point{{1, 8}}, Options{Warmup: -1, MaxRuns: 6, Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	if string(m.Extra["runs"]) != "6" || m.Optional["cold_start_ms"] != 250 || string(m.Extra["cold_runs"]) != "2" || m.Optional["latency_max_ms"] != 20 {
		t.Fatalf("%+v %v %s", m, m.Optional, m.Extra)
	}
}

func TestMeasureReportsTheFailingPointAndKeepsTheRest(t *testing.T) {
	s := &scripted{lat: []float64{5, 5, 5, 5}, err: errors.New("boom")}
	ms, err := Measure(context.Background(), s, []Point{{1, 8}, {2, 8}}, Options{Now: fixed})
	var pe *PointError
	if !errors.As(err, &pe) || pe.Point != (Point{2, 8}) || len(ms) != 1 {
		t.Fatalf("err %v, %d kept", err, len(ms))
	}
}

func adaptiveAgainstFullGrid(t *testing.T, c *latency.Curve, info Info) (measured, grid int, mape float64) {
	t.Helper()
	var batches, sizes []int
	batches = append(batches, c.Batches()...)
	for _, s := range c.Sizes() {
		sizes = append(sizes, int(s))
	}
	rec := &Recorded{Curve: c, Desc: info}
	ms, rep, err := MeasureAdaptive(context.Background(), rec, batches, sizes, Options{Warmup: -1, MinRuns: 1, MaxRuns: 1, Now: fixed}, AdaptiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pts []latency.Point
	for _, m := range ms {
		pts = append(pts, latency.Point{N: m.Batch, Size: m.Size, LatencyMs: m.LatencyMs})
	}
	fit, err := latency.FitPoints(pts, latency.Shape)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, b := range batches {
		for _, s := range sizes {
			truth := c.At(b, float64(s))
			sum += math.Abs(fit.Predict(latency.Point{N: b, Size: float64(s)})-truth) / truth
		}
	}
	return rep.Measured, rep.Grid, sum / float64(len(batches)*len(sizes)) * 100
}

// TestAdaptiveOnBuiltinMeasurements samples the full 64-point grid of the built-in bert-mini measured on the build
// machine (testdata/builtin-bert-mini-64.json).
func TestAdaptiveOnBuiltinMeasurements(t *testing.T) {
	p, err := profile.ReadFile("testdata/builtin-bert-mini-64.json")
	if err != nil {
		t.Fatal(err)
	}
	tab := latency.NewTable(p)
	c, _ := tab.Curve(tab.Keys()[0])
	measured, grid, mape := adaptiveAgainstFullGrid(t, c, Info{Platform: profile.CPU, VCPUs: 1})
	t.Logf("measured %d of %d points; MAPE against all of them %.2f%%", measured, grid, mape)
	if measured > grid/4 || mape > 5 {
		t.Errorf("measured %d of %d points with MAPE %.2f%%; want ≤ a quarter and ≤ 5%%", measured, grid, mape)
	}
}

// TestAdaptiveOnRealLambdaData samples the measured DeepSpeech curve at 1,024 MB (25 batch sizes × 32 audio sizes
// = 800 points, measured on AWS Lambda by the MBS authors): the fitted model must be within 5% MAPE of all 800
// recorded points while measuring at most a quarter of them.
func TestAdaptiveOnRealLambdaData(t *testing.T) {
	prof, err := example.Profile()
	if err != nil {
		t.Fatal(err)
	}
	curves, _ := latency.NewTable(prof).Lambda("x86_64")
	measured, grid, mape := adaptiveAgainstFullGrid(t, curves[0], Info{Platform: profile.Lambda, MemoryMB: 1024})
	t.Logf("measured %d of %d points (%.1f%%); MAPE against all recorded points %.2f%%", measured, grid, 100*float64(measured)/float64(grid), mape)
	if measured > grid/4 || mape > 5 {
		t.Errorf("measured %d of %d points with MAPE %.2f%%; want ≤ a quarter and ≤ 5%%", measured, grid, mape)
	}
}

// slowTarget sleeps through each run, so telemetry readings fall inside it.
type slowTarget struct{ d time.Duration }

func (s slowTarget) Info() Info { return Info{Platform: profile.GPU, Hardware: "test-gpu"} }
func (s slowTarget) Run(context.Context, int, int) (Sample, error) {
	time.Sleep(s.d)
	return Sample{LatencyMs: float64(s.d.Milliseconds())}, nil
}
func (s slowTarget) Close() error { return nil }

// gpuReadings is a GPU source whose utilisation reads 90% at batch size 8 and 30% otherwise.
type gpuReadings struct{ busy *atomic.Bool }

func (g gpuReadings) List() ([]hw.GPU, error) { return nil, nil }
func (g gpuReadings) Driver() string          { return "" }
func (g gpuReadings) Close() error            { return nil }
func (g gpuReadings) Sample(int) (hw.Telemetry, error) {
	if g.busy.Load() {
		return hw.Telemetry{UtilPct: 90, SMClockMHz: 1980, MemUsedMiB: 2048, PowerW: 350}, nil
	}
	return hw.Telemetry{UtilPct: 30, SMClockMHz: 1410, MemUsedMiB: 1024, PowerW: 120}, nil
}

func TestTelemetryAttributesReadingsToPoints(t *testing.T) {
	var busy atomic.Bool
	tel := WithTelemetry(slowTarget{20 * time.Millisecond}, gpuReadings{&busy}, 0, 2*time.Millisecond)
	ms1, err := Measure(context.Background(), tel, []Point{{1, 128}}, Options{MaxRuns: 3, Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	busy.Store(true)
	ms8, err := Measure(context.Background(), tel, []Point{{8, 128}}, Options{MaxRuns: 3, Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	tel.Close()
	ms := append(ms1, ms8...)
	tel.Annotate(ms)
	if string(ms[0].Extra["gpu_util_pct"]) != "30" || string(ms[1].Extra["gpu_util_pct"]) != "90" || string(ms[1].Extra["power_max_w"]) != "350" {
		t.Fatalf("telemetry %s / %s", ms[0].Extra, ms[1].Extra)
	}
}
