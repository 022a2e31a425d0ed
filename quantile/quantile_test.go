package quantile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNearestRank(t *testing.T) {
	s := make([]float64, 20)
	for i := range s {
		s[i] = float64(i + 1)
	}
	// rank ⌈0.95·20⌉ = 19 exactly, not 20 from floating-point noise
	if got := NearestRank(s, 95); got != 19 {
		t.Fatalf("p95 of 1..20 = %v, want 19", got)
	}
	if got := NearestRank(s, 100); got != 20 {
		t.Fatalf("p100 = %v", got)
	}
	if got := NearestRank(s, 0.1); got != 1 {
		t.Fatalf("p0.1 = %v", got)
	}
	if got := NearestRank(nil, 50); !math.IsNaN(got) {
		t.Fatalf("p50 of nothing = %v, want NaN", got)
	}
}

func TestSelectKMatchesSort(t *testing.T) {
	for _, xs := range [][]float64{{3, 1, 2}, {5, 5, 5, 5}, {1, 2, 3, 4, 5, 6, 7}, {7, 6, 5, 4, 3, 2, 1}, {2, 9, 2, 9, 2, 9, 1}} {
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		for k := range xs {
			if got := selectK(slices.Clone(xs), k); got != sorted[k] {
				t.Errorf("selectK(%v, %d) = %v, want %v", xs, k, got, sorted[k])
			}
		}
	}
}

func TestSelectAgreesWithNearestRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 19, 20, 21, 1000} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Round(rng.Float64()*50) / 10 // ties on purpose
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		ps := []float64{1, 50, 95, 99, 100}
		got := Select(slices.Clone(xs), ps...)
		for i, p := range ps {
			if want := NearestRank(sorted, p); got[i] != want {
				t.Errorf("n=%d p%g: Select %v, NearestRank %v", n, p, got[i], want)
			}
		}
	}
	if got := Select(nil, 50, 99); got[0] != 0 || got[1] != 0 {
		t.Errorf("Select of nothing = %v, want zeros", got)
	}
}
