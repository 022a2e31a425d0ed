package ec2

import (
	"math"
	"testing"
)

func TestBilledSeconds(t *testing.T) {
	for in, want := range map[float64]float64{0: 60, 59.9: 60, 60: 60, 60.2: 61, 3600: 3600, 3600 + 1e-12: 3600} {
		if got := BilledSeconds(in); got != want {
			t.Errorf("BilledSeconds(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestFleetUSD(t *testing.T) {
	// 3 × p5.4xlarge ($6.88/h) for half an hour: 3 × 1800 s × 6.88/3600 = 10.32
	if got := FleetUSD(3, 1800, 6.88); math.Abs(got-10.32) > 1e-12 {
		t.Errorf("FleetUSD = %v, want 10.32", got)
	}
	// a 10-second run bills the 60-second minimum: 0.526 × 60/3600
	if got := RunUSD(10, 0.526); math.Abs(got-0.526/60) > 1e-15 {
		t.Errorf("RunUSD(10 s) = %v", got)
	}
}
