package cluster

import (
	"math"
	"testing"

	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

func TestGPUNameFromAProfilesHardware(t *testing.T) {
	known := []string{"l40s", "a100", "a10g", "h100", "h200", "l4", "t4"}
	for hw, want := range map[string]string{
		"nvidia-h100-80gb-hbm3": "h100", "nvidia-l40s": "l40s", "NVIDIA-L4": "l4", "nvidia-a10g": "a10g",
		"nvidia-a100-40gb": "a100", "nvidia-a30": "", "x86_64-host-16core": "",
	} {
		if got := gpuName(hw, known); got != want {
			t.Errorf("gpuName(%q) = %q, want %q", hw, got, want)
		}
	}
	if exactType("ec2-c6i.2xlarge") != "c6i.2xlarge" || exactType("x86_64-host") != "" {
		t.Error("exactType")
	}
}

func curveOf(t *testing.T, f func(n int, s float64) float64) *latency.Curve {
	t.Helper()
	p := &profile.Profile{Version: 1}
	for _, n := range []int{1, 8, 64} {
		for _, s := range []float64{64, 256, 512} {
			p.Measurements = append(p.Measurements, profile.Measurement{Platform: profile.GPU, Hardware: "h", Batch: n, Size: s, LatencyMs: f(n, s)})
		}
	}
	tab := latency.NewTable(p)
	c, _ := tab.Curve(tab.Keys()[0])
	return c
}

func TestShapeRatioIsTheMedianOverTheLargeShapes(t *testing.T) {
	a := curveOf(t, func(n int, s float64) float64 { return 5 + 0.001*float64(n)*s })
	b := curveOf(t, func(n int, s float64) float64 { return 2 * (5 + 0.001*float64(n)*s) })
	if r := shapeRatio(b, a); math.Abs(r-2) > 1e-12 {
		t.Errorf("ratio %v, want 2", r)
	}
	// only shapes of at least half the largest token count (64 × 512): 64 × 256 and 64 × 512, whose ratios are
	// 3 and 5; their median is 4, whatever the small shapes say
	c := curveOf(t, func(n int, s float64) float64 {
		switch {
		case n == 64 && s == 512:
			return 5 * (5 + 0.001*float64(n)*s)
		case n == 64 && s == 256:
			return 3 * (5 + 0.001*float64(n)*s)
		}
		return 100
	})
	if r := shapeRatio(c, a); math.Abs(r-4) > 1e-12 {
		t.Errorf("ratio over the large shapes %v, want 4", r)
	}
}
