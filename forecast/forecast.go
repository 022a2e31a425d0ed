// Package forecast predicts the next value of a series from the values before it — for inferplan, the next
// window's peak arrival rate of a service from the windows before it — and backtests the predictions on the
// series' own past. It knows nothing of services or fleets: a series is a slice of non-negative numbers.
//
// Methods:
//   - Holt: double exponential smoothing (level and trend); with a season length m and at least two seasons of
//     history it is additive Holt–Winters (level, trend and m seasonal terms), e.g. a daily season of 288
//     five-minute windows;
//   - EWQuantile: an exponentially weighted high quantile of the history (recent windows count more, and a high
//     quantile rides out the dips between bursts);
//   - RecentMax: the largest of the last K values (bursts come back: after a quiet window, plan for the last burst);
//   - Last: the last value (what a reactive autoscaler does).
package forecast

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Method predicts the next value of a series from its history (oldest first). A method returns NaN when the
// history is too short for it.
type Method interface {
	Name() string
	Forecast(history []float64) float64
}

// Holt is double exponential smoothing; with Season > 1 and at least two seasons of history, additive Holt–Winters.
type Holt struct {
	Alpha, Beta, Gamma float64
	Season             int
}

// Name says which method and parameters.
func (h Holt) Name() string {
	if h.Season > 1 {
		return fmt.Sprintf("holt-winters(α=%g,β=%g,γ=%g,m=%d)", h.Alpha, h.Beta, h.Gamma, h.Season)
	}
	return fmt.Sprintf("holt(α=%g,β=%g)", h.Alpha, h.Beta)
}

// Forecast runs the smoothing over the history and returns the one-step-ahead prediction (never below 0).
func (h Holt) Forecast(x []float64) float64 {
	n := len(x)
	m := h.Season
	if m > 1 && n >= 2*m {
		return h.winters(x)
	}
	if n == 0 {
		return math.NaN()
	}
	if n == 1 {
		return x[0]
	}
	level, trend := x[0], x[1]-x[0]
	for _, v := range x[1:] {
		prev := level
		level = h.Alpha*v + (1-h.Alpha)*(level+trend)
		trend = h.Beta*(level-prev) + (1-h.Beta)*trend
	}
	return math.Max(level+trend, 0)
}

// winters is additive Holt–Winters, initialised from the first two seasons: the level is the first season's
// mean, the trend the mean change between the two seasons per step, the seasonal terms the first season's
// deviations from its mean.
func (h Holt) winters(x []float64) float64 {
	m := h.Season
	mean := func(s []float64) float64 {
		t := 0.0
		for _, v := range s {
			t += v
		}
		return t / float64(len(s))
	}
	m1, m2 := mean(x[:m]), mean(x[m:2*m])
	level, trend := m1, (m2-m1)/float64(m)
	season := make([]float64, m)
	for i := range m {
		season[i] = x[i] - m1
	}
	for t := m; t < len(x); t++ {
		s := season[t%m]
		prev := level
		level = h.Alpha*(x[t]-s) + (1-h.Alpha)*(level+trend)
		trend = h.Beta*(level-prev) + (1-h.Beta)*trend
		season[t%m] = h.Gamma*(x[t]-level) + (1-h.Gamma)*s
	}
	return math.Max(level+trend+season[len(x)%m], 0)
}

// EWQuantile is the Q-quantile of the history weighted by recency: a value k steps old weighs 0.5^(k/HalfLife).
type EWQuantile struct {
	Q, HalfLife float64
}

// Name says which method and parameters.
func (e EWQuantile) Name() string {
	return fmt.Sprintf("ew-quantile(q=%g,half-life=%g)", e.Q, e.HalfLife)
}

// Forecast is the smallest history value whose cumulative weight, in ascending order of value, reaches Q of the
// total.
func (e EWQuantile) Forecast(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	type vw struct{ v, w float64 }
	pts := make([]vw, len(x))
	total := 0.0
	for i, v := range x {
		w := math.Pow(0.5, float64(len(x)-1-i)/e.HalfLife)
		pts[i] = vw{v, w}
		total += w
	}
	slices.SortStableFunc(pts, func(a, b vw) int { return cmp.Compare(a.v, b.v) })
	acc := 0.0
	for _, p := range pts {
		acc += p.w
		if acc >= e.Q*total-1e-12 {
			return p.v
		}
	}
	return pts[len(pts)-1].v
}

// RecentMax is the largest of the last K values.
type RecentMax struct{ K int }

// Name says which method and parameter.
func (r RecentMax) Name() string { return fmt.Sprintf("recent-max(k=%d)", r.K) }

// Forecast is the largest of the last K values of the history (of all of it, when shorter).
func (r RecentMax) Forecast(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return slices.Max(x[max(len(x)-r.K, 0):])
}

// Last is the last value.
type Last struct{}

// Name says which method.
func (Last) Name() string { return "last" }

// Forecast is the last value of the history.
func (Last) Forecast(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return x[len(x)-1]
}

// Backtest is how a method did predicting a series one step at a time from its own past.
type Backtest struct {
	Method string  `json:"method"`
	MAPE   float64 `json:"mape"` // mean |forecast − actual| / actual over the steps with a positive actual
	// UnderShare is the share of steps forecast below the actual value.
	UnderShare float64   `json:"under_forecast_share"`
	Steps      int       `json:"steps"`
	Forecasts  []float64 `json:"-"` // for steps from…len−1
}

// Run predicts series[k] from series[:k] for k = from … len−1 and scores the predictions.
func Run(m Method, series []float64, from int) Backtest {
	b := Backtest{Method: m.Name()}
	var ape float64
	npos := 0
	for k := max(from, 1); k < len(series); k++ {
		f := m.Forecast(series[:k])
		b.Forecasts = append(b.Forecasts, f)
		a := series[k]
		b.Steps++
		if f < a {
			b.UnderShare++
		}
		if a > 0 {
			ape += math.Abs(f-a) / a
			npos++
		}
	}
	if npos > 0 {
		b.MAPE = ape / float64(npos)
	}
	if b.Steps > 0 {
		b.UnderShare /= float64(b.Steps)
	}
	b.MAPE, b.UnderShare = round4(b.MAPE), round4(b.UnderShare)
	return b
}

// Candidates are the methods a backtest chooses among for a series whose season (in steps; 0 for none) is
// season: Holt (or Holt–Winters) over a small grid of smoothing constants, the exponentially weighted 0.9
// quantile with half-lives of 3 and 6 steps, and the largest of the last 2 or 3 values.
func Candidates(season int) []Method {
	var out []Method
	for _, a := range []float64{0.3, 0.6, 0.9} {
		for _, b := range []float64{0.1, 0.3} {
			out = append(out, Holt{Alpha: a, Beta: b, Gamma: 0.3, Season: season})
		}
	}
	for _, hl := range []float64{3, 6} {
		out = append(out, EWQuantile{Q: 0.9, HalfLife: hl})
	}
	for _, k := range []int{2, 3} {
		out = append(out, RecentMax{K: k})
	}
	return out
}

// Select backtests every method on the series from step from and returns the best — the lowest MAPE, ties to
// fewer under-forecasts, then to the earlier method — with every method's result.
func Select(series []float64, methods []Method, from int) (Method, Backtest, []Backtest) {
	var all []Backtest
	best := -1
	for i, m := range methods {
		b := Run(m, series, from)
		all = append(all, b)
		if best < 0 || b.MAPE < all[best].MAPE || b.MAPE == all[best].MAPE && b.UnderShare < all[best].UnderShare {
			best = i
		}
	}
	if best < 0 {
		return nil, Backtest{}, nil
	}
	return methods[best], all[best], all
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
