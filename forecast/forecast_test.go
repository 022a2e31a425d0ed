package forecast

import (
	"math"
	"testing"
)

func TestHoltFollowsALineExactly(t *testing.T) {
	// level x0, trend x1 − x0: on a straight line the smoothing never moves off it, whatever α and β
	x := []float64{2, 5, 8, 11, 14}
	for _, h := range []Holt{{Alpha: 0.3, Beta: 0.1}, {Alpha: 0.9, Beta: 0.7}} {
		if got := h.Forecast(x); math.Abs(got-17) > 1e-12 {
			t.Errorf("%s on 2,5,…,14 = %v, want 17", h.Name(), got)
		}
	}
	if got := (Holt{Alpha: 0.5, Beta: 0.5}).Forecast([]float64{4}); got != 4 {
		t.Errorf("one value: %v", got)
	}
	if !math.IsNaN((Holt{}).Forecast(nil)) {
		t.Error("no history must be NaN")
	}
	// a falling line is clamped at zero
	if got := (Holt{Alpha: 0.5, Beta: 0.5}).Forecast([]float64{3, 2, 1}); got != 0 {
		t.Errorf("falling to %v, want 0", got)
	}
}

func TestHoltWintersRepeatsASeason(t *testing.T) {
	// a season of 4 repeated three times with no trend: level = 5, trend 0, seasonal terms exact from the first
	// season, and the smoothing never moves them; the next value is the season's next term
	season := []float64{3, 7, 5, 5}
	var x []float64
	for range 3 {
		x = append(x, season...)
	}
	h := Holt{Alpha: 0.4, Beta: 0.2, Gamma: 0.3, Season: 4}
	for k := 0; k < 4; k++ {
		if got := h.Forecast(append(x, season[:k]...)); math.Abs(got-season[k]) > 1e-9 {
			t.Errorf("step %d: %v, want %v", k, got, season[k])
		}
	}
}

func TestEWQuantileByHand(t *testing.T) {
	// history 10, 50, 20 with half-life 1: weights 0.25, 0.5, 1 (total 1.75). Sorted: 10 (0.25), 20 (1), 50 (0.5).
	// The 0.5 quantile reaches 0.875 at 20; the 0.9 quantile (1.575) needs 50.
	x := []float64{10, 50, 20}
	if got := (EWQuantile{Q: 0.5, HalfLife: 1}).Forecast(x); got != 20 {
		t.Errorf("median %v, want 20", got)
	}
	if got := (EWQuantile{Q: 0.9, HalfLife: 1}).Forecast(x); got != 50 {
		t.Errorf("q0.9 %v, want 50", got)
	}
}

func TestBacktestScores(t *testing.T) {
	// Last on 1, 2, 4, 4: forecasts 1, 2, 4 for actuals 2, 4, 4 → APE 0.5, 0.5, 0; two of three under
	b := Run(Last{}, []float64{1, 2, 4, 4}, 1)
	if b.Steps != 3 || math.Abs(b.MAPE-1.0/3) > 1e-4 || math.Abs(b.UnderShare-2.0/3) > 1e-4 {
		t.Fatalf("backtest %+v", b)
	}
	// on a line Holt is exact from the third value, Last lags behind: Select picks Holt
	line := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	m, best, all := Select(line, []Method{Last{}, Holt{Alpha: 0.5, Beta: 0.5}}, 2)
	if _, ok := m.(Holt); !ok || best.MAPE != 0 || len(all) != 2 {
		t.Fatalf("selected %v %+v", m, best)
	}
}

func TestRecentMax(t *testing.T) {
	x := []float64{9, 1, 4, 2}
	if got := (RecentMax{K: 2}).Forecast(x); got != 4 {
		t.Errorf("max of the last 2 = %v, want 4", got)
	}
	if got := (RecentMax{K: 9}).Forecast(x); got != 9 {
		t.Errorf("max of all = %v, want 9", got)
	}
}
