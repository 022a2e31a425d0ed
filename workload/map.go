// Package workload models the traffic a buffer sees: its arrival process — a Poisson process or a two-phase
// Markov-modulated Poisson process (MMPP(2), a MAP(2)) fitted by moments to a trace's inter-arrival times — and the
// distribution of request sizes inside the buffer's size range. The analytic estimator (package analytic) turns
// these into batch sizes, waits and costs.
package workload

import (
	"fmt"
	"math"
)

// MAP is a Markovian arrival process with one or two phases: D0 holds the phase changes without an arrival and
// D1 the transitions that bring an arrival. Times are in seconds, rates per second.
type MAP struct {
	N      int // phases: 1 (Poisson) or 2
	D0, D1 [2][2]float64
}

// Poisson is the MAP of a Poisson process of the given rate per second.
func Poisson(rate float64) MAP {
	var m MAP
	m.N = 1
	m.D0[0][0], m.D1[0][0] = -rate, rate
	return m
}

// MMPP2 is a two-phase Markov-modulated Poisson process: arrivals at rate l1 in phase 1 and l2 in phase 2, and
// phase changes at rate r12 (1→2) and r21 (2→1).
func MMPP2(l1, l2, r12, r21 float64) MAP {
	var m MAP
	m.N = 2
	m.D0 = [2][2]float64{{-(l1 + r12), r12}, {r21, -(l2 + r21)}}
	m.D1 = [2][2]float64{{l1, 0}, {0, l2}}
	return m
}

// String describes the process.
func (m MAP) String() string {
	if m.N == 1 {
		return fmt.Sprintf("Poisson(%.4g/s)", m.D1[0][0])
	}
	return fmt.Sprintf("MMPP2(λ=%.4g, %.4g /s; switch %.4g, %.4g /s)", m.D1[0][0], m.D1[1][1], m.D0[0][1], m.D0[1][0])
}

// Stationary returns π, the stationary phase distribution of the modulating chain (π(D0+D1) = 0, π1 = 1).
func (m MAP) Stationary() [2]float64 {
	if m.N == 1 {
		return [2]float64{1, 0}
	}
	q12 := m.D0[0][1] + m.D1[0][1]
	q21 := m.D0[1][0] + m.D1[1][0]
	if q12+q21 == 0 {
		return [2]float64{0.5, 0.5}
	}
	return [2]float64{q21 / (q12 + q21), q12 / (q12 + q21)}
}

// Rate is the mean arrival rate per second: π D1 1.
func (m MAP) Rate() float64 {
	pi := m.Stationary()
	r := 0.0
	for i := 0; i < m.N; i++ {
		for j := 0; j < m.N; j++ {
			r += pi[i] * m.D1[i][j]
		}
	}
	return r
}

// AtArrival returns φ, the phase distribution just after an arrival: π D1 / λ.
func (m MAP) AtArrival() [2]float64 {
	pi := m.Stationary()
	var phi [2]float64
	lam := m.Rate()
	for j := 0; j < m.N; j++ {
		for i := 0; i < m.N; i++ {
			phi[j] += pi[i] * m.D1[i][j]
		}
		phi[j] /= lam
	}
	return phi
}

// Moments returns the mean, squared coefficient of variation, normalised third moment (E[X³]/E[X]³) and lag-1
// autocorrelation of the stationary inter-arrival times: E[Xᵏ] = k! φ M^k 1 with M = (−D0)⁻¹, and
// E[X₀X₁] = φ M P M 1 with P = M D1.
func (m MAP) Moments() (mean, scv, m3n, rho1 float64) {
	if m.N == 1 {
		return 1 / m.D1[0][0], 1, 6, 0
	}
	M := inv2(neg2(m.D0))
	phi := m.AtArrival()
	one := [2]float64{1, 1}
	M1 := mulVec(M, one)
	M2 := mulVec(M, M1)
	M3 := mulVec(M, M2)
	e1 := dot(phi, M1)
	e2 := 2 * dot(phi, M2)
	e3 := 6 * dot(phi, M3)
	P := mul2(M, m.D1)
	e11 := dot(phi, mulVec(M, mulVec(P, M1)))
	v := e2 - e1*e1
	mean = e1
	scv = v / (e1 * e1)
	m3n = e3 / (e1 * e1 * e1)
	if v > 0 {
		rho1 = (e11 - e1*e1) / v
	}
	return
}

// MaxRate is the largest total exit rate of a phase, the uniformisation rate of the arrival-counting chain.
func (m MAP) MaxRate() float64 {
	r := 0.0
	for i := 0; i < m.N; i++ {
		r = math.Max(r, -m.D0[i][i])
	}
	return r
}

func neg2(a [2][2]float64) [2][2]float64 {
	return [2][2]float64{{-a[0][0], -a[0][1]}, {-a[1][0], -a[1][1]}}
}

func inv2(a [2][2]float64) [2][2]float64 {
	det := a[0][0]*a[1][1] - a[0][1]*a[1][0]
	return [2][2]float64{{a[1][1] / det, -a[0][1] / det}, {-a[1][0] / det, a[0][0] / det}}
}

func mul2(a, b [2][2]float64) [2][2]float64 {
	var c [2][2]float64
	for i := 0; i < 2; i++ {
		for j := 0; j < 2; j++ {
			c[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j]
		}
	}
	return c
}

func mulVec(a [2][2]float64, v [2]float64) [2]float64 {
	return [2]float64{a[0][0]*v[0] + a[0][1]*v[1], a[1][0]*v[0] + a[1][1]*v[1]}
}

func dot(a, b [2]float64) float64 { return a[0]*b[0] + a[1]*b[1] }
