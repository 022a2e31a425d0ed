package workload

import (
	"math"
	"slices"
)

// Fit is an arrival process fitted to inter-arrival times, with the sample statistics it was fitted to.
type Fit struct {
	Process MAP
	Gaps    int     // inter-arrival times used
	Mean    float64 // sample mean gap, seconds
	SCV     float64 // sample squared coefficient of variation
	M3N     float64 // sample E[X³]/E[X]³
	Rho1    float64 // sample lag-1 autocorrelation
}

// FitArrivals fits an arrival process to inter-arrival times in seconds. With too few gaps, or gaps no more
// variable than a Poisson process's (SCV ≤ 1.05, which an MMPP cannot go below), it is a Poisson process of the
// same mean; otherwise an MMPP(2) matching the mean exactly and the SCV, lag-1 autocorrelation and third moment as
// closely as it can (least squares on the shape, Nelder–Mead from several starts; then all rates scaled to the
// mean).
func FitArrivals(gaps []float64) Fit {
	f := Fit{Gaps: len(gaps)}
	n := float64(len(gaps))
	if len(gaps) == 0 {
		f.Process = Poisson(0)
		return f
	}
	for _, g := range gaps {
		f.Mean += g
	}
	f.Mean /= n
	if f.Mean <= 0 {
		// every arrival at the same instant: as bursty as it gets; a very fast Poisson process is the closest
		f.Process = Poisson(1e6)
		return f
	}
	var v, m3, c1 float64
	for i, g := range gaps {
		d := g - f.Mean
		v += d * d
		m3 += g * g * g
		if i+1 < len(gaps) {
			c1 += d * (gaps[i+1] - f.Mean)
		}
	}
	v /= n
	f.SCV = v / (f.Mean * f.Mean)
	f.M3N = m3 / n / (f.Mean * f.Mean * f.Mean)
	if v > 0 && len(gaps) > 1 {
		f.Rho1 = c1 / (n - 1) / v
	}
	if len(gaps) < 20 || f.SCV <= 1.05 {
		f.Process = Poisson(1 / f.Mean)
		return f
	}
	f.Process = fitMMPP2(f.Mean, f.SCV, f.M3N, math.Min(math.Max(f.Rho1, 0), 0.49))
	return f
}

// maxRateRatio bounds the fastest rate of a fitted MMPP relative to its mean arrival rate.
const maxRateRatio = 50

// fitMMPP2 searches the shape (λ2/λ1, r12/λ1, r21/λ1, all in log space) for the target SCV, autocorrelation and
// third moment, then scales every rate so the mean gap is exactly mean.
func fitMMPP2(mean, scv, m3n, rho1 float64) MAP {
	build := func(x []float64) MAP {
		return MMPP2(1, math.Exp(x[0]), math.Exp(x[1]), math.Exp(x[2]))
	}
	obj := func(x []float64) float64 {
		for _, v := range x {
			if math.Abs(v) > 8 {
				return 1e6 // rates within e^±8 of each other: enough for any burstiness a trace shows
			}
		}
		m := build(x)
		_, s, m3, r := m.Moments()
		if math.IsNaN(s) || math.IsNaN(r) || s <= 0 || m3 <= 0 {
			return 1e6
		}
		e := math.Pow(s/scv-1, 2) + 4*math.Pow(r-rho1, 2) + 0.05*math.Pow(math.Log(m3/m3n), 2)
		// Many shapes fit a mildly bursty trace; prefer moderate ones, and no phase (or switch) much faster than
		// the mean rate: those add nothing a trace can show and make the counting chain needlessly stiff.
		if over := m.MaxRate() / m.Rate(); over > maxRateRatio {
			e += math.Pow(math.Log(over/maxRateRatio), 2)
		}
		return e + 1e-4*(x[0]*x[0]+x[1]*x[1]+x[2]*x[2])
	}
	best, bestF := []float64{-2, -3, -3}, math.Inf(1)
	for _, x0 := range [][]float64{{-2, -3, -3}, {-4, -5, -2}, {-1, -1, -1}, {-6, -2, -6}} {
		x, f := nelderMead(obj, x0, 600)
		if f < bestF {
			best, bestF = x, f
		}
	}
	m := build(best)
	if m.MaxRate()/m.Rate() > 2*maxRateRatio {
		return Poisson(1 / mean) // no plausible MMPP found: keep the mean, lose the burstiness
	}
	mm, _, _, _ := m.Moments()
	k := mm / mean // all rates × k divides every gap by k
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			m.D0[i][j] *= k
			m.D1[i][j] *= k
		}
	}
	return m
}

// nelderMead minimises f from x0 with the standard simplex moves (reflection 1, expansion 2, contraction ½,
// shrink ½; Lagarias et al. 1998) for at most evals evaluations. The moment fit calls it thousands of times per
// plan on a function that costs ~100 ns, where the channel-driven gonum.org/v1/gonum/optimize.Minimize would spend
// most of the time in synchronisation.
func nelderMead(f func([]float64) float64, x0 []float64, evals int) ([]float64, float64) {
	n := len(x0)
	type vertex struct {
		x []float64
		f float64
	}
	simplex := make([]vertex, n+1)
	for i := range simplex {
		x := slices.Clone(x0)
		if i > 0 {
			x[i-1] += 1 // a unit step in log-rate space: a factor e per coordinate
		}
		simplex[i] = vertex{x, f(x)}
	}
	used := n + 1
	point := func(c []float64, d []float64, t float64) []float64 {
		x := make([]float64, n)
		for j := range x {
			x[j] = c[j] + t*(d[j]-c[j])
		}
		return x
	}
	for used < evals {
		slices.SortFunc(simplex, func(a, b vertex) int {
			switch {
			case a.f < b.f:
				return -1
			case a.f > b.f:
				return 1
			}
			return 0
		})
		if simplex[n].f-simplex[0].f < 1e-12 {
			break
		}
		c := make([]float64, n) // centroid of all but the worst
		for _, v := range simplex[:n] {
			for j := range c {
				c[j] += v.x[j] / float64(n)
			}
		}
		worst := simplex[n]
		xr := point(c, worst.x, -1)
		fr := f(xr)
		used++
		switch {
		case fr < simplex[0].f:
			xe := point(c, worst.x, -2)
			fe := f(xe)
			used++
			if fe < fr {
				simplex[n] = vertex{xe, fe}
			} else {
				simplex[n] = vertex{xr, fr}
			}
		case fr < simplex[n-1].f:
			simplex[n] = vertex{xr, fr}
		default:
			// contract towards the better of the worst and its reflection
			var xc []float64
			if fr < worst.f {
				xc = point(c, xr, 0.5)
			} else {
				xc = point(c, worst.x, 0.5)
			}
			fc := f(xc)
			used++
			if fc < math.Min(fr, worst.f) {
				simplex[n] = vertex{xc, fc}
				continue
			}
			for i := 1; i <= n; i++ { // shrink towards the best
				x := point(simplex[0].x, simplex[i].x, 0.5)
				simplex[i] = vertex{x, f(x)}
				used++
			}
		}
	}
	best := simplex[0]
	for _, v := range simplex[1:] {
		if v.f < best.f {
			best = v
		}
	}
	return best.x, best.f
}
