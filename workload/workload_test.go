package workload

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestCountsPoissonClosedForm(t *testing.T) {
	p := Poisson(2.5)
	ts := []float64{0, 0.1, 1, 4, 300} // Λt = 750 checks the log-space weights
	const K = 6
	out := p.Counts([2]float64{1, 0}, ts, K)
	for i, tt := range ts {
		l := 2.5 * tt
		tail := 1.0
		for k := 0; k < K; k++ {
			lg, _ := math.Lgamma(float64(k + 1))
			want := math.Exp(-l + float64(k)*math.Log(math.Max(l, 1e-300)) - lg)
			if l == 0 {
				want = map[bool]float64{true: 1, false: 0}[k == 0]
			}
			if math.Abs(out[i][k]-want) > 1e-12 {
				t.Errorf("t=%v: P(N=%d) = %v, want %v", tt, k, out[i][k], want)
			}
			tail -= want
		}
		if math.Abs(out[i][K]-tail) > 1e-9 {
			t.Errorf("t=%v: P(N≥%d) = %v, want %v", tt, K, out[i][K], tail)
		}
	}
}

// TestCountsMatchMatrixExponential solves the same CTMC with gonum's mat.Exp: the block matrix BATCH and MBS
// build, with D0 on the diagonal, D1 above it and the last level absorbing.
func TestCountsMatchMatrixExponential(t *testing.T) {
	m := MMPP2(3, 0.2, 0.4, 0.9)
	const K = 5
	alpha := [2]float64{0.3, 0.7}
	for _, tt := range []float64{0.5, 2, 7} {
		n := 2 * (K + 1)
		q := mat.NewDense(n, n, nil)
		for k := 0; k <= K; k++ {
			for i := 0; i < 2; i++ {
				for j := 0; j < 2; j++ {
					if k < K {
						q.Set(2*k+i, 2*k+j, m.D0[i][j]*tt)
						q.Set(2*k+i, 2*(k+1)+j, m.D1[i][j]*tt)
					} else {
						q.Set(2*k+i, 2*k+j, (m.D0[i][j]+m.D1[i][j])*tt)
					}
				}
			}
		}
		var e mat.Dense
		e.Exp(q)
		got := m.Counts(alpha, []float64{tt}, K)[0]
		for k := 0; k <= K; k++ {
			want := 0.0
			for i := 0; i < 2; i++ {
				for j := 0; j < 2; j++ {
					want += alpha[i] * e.At(i, 2*k+j)
				}
			}
			if math.Abs(got[k]-want) > 1e-10 {
				t.Errorf("t=%v: P(N=%d) = %.12f, mat.Exp gives %.12f", tt, k, got[k], want)
			}
		}
	}
}

// simulate draws n inter-arrival times of a MAP.
func simulate(m MAP, n int, rng *rand.Rand) []float64 {
	gaps := make([]float64, 0, n)
	phase := 0
	phi := m.AtArrival()
	if rng.Float64() > phi[0] {
		phase = 1
	}
	acc := 0.0
	for len(gaps) < n {
		out := -m.D0[phase][phase]
		acc += rng.ExpFloat64() / out
		u := rng.Float64() * out
		// arrivals first, then phase changes
		for j := 0; j < m.N; j++ {
			if u < m.D1[phase][j] {
				gaps = append(gaps, acc)
				acc = 0
				phase = j
				goto next
			}
			u -= m.D1[phase][j]
		}
		for j := 0; j < m.N; j++ {
			if j == phase {
				continue
			}
			if u < m.D0[phase][j] {
				phase = j
				break
			}
			u -= m.D0[phase][j]
		}
	next:
	}
	return gaps
}

func sampleStats(g []float64) (mean, scv, rho1 float64) {
	f := FitArrivals(g)
	return f.Mean, f.SCV, f.Rho1
}

func TestMomentsMatchSimulation(t *testing.T) {
	m := MMPP2(5, 0.3, 0.2, 0.5)
	mean, scv, _, rho := m.Moments()
	sm, ss, sr := sampleStats(simulate(m, 400000, rand.New(rand.NewPCG(1, 2))))
	if math.Abs(sm/mean-1) > 0.02 || math.Abs(ss/scv-1) > 0.05 || math.Abs(sr-rho) > 0.02 {
		t.Fatalf("model mean %.4f scv %.3f ρ1 %.3f; simulation %.4f %.3f %.3f", mean, scv, rho, sm, ss, sr)
	}
	if mp, sp, _, rp := Poisson(4).Moments(); mp != 0.25 || sp != 1 || rp != 0 {
		t.Fatalf("Poisson moments %v %v %v", mp, sp, rp)
	}
	if r := m.Rate(); math.Abs(r-1/mean) > 1e-12 {
		t.Fatalf("rate %v, 1/mean %v", r, 1/mean)
	}
}

func TestFitArrivalsRecoversMoments(t *testing.T) {
	truth := MMPP2(4, 0.25, 0.1, 0.3)
	gaps := simulate(truth, 50000, rand.New(rand.NewPCG(3, 4)))
	f := FitArrivals(gaps)
	if f.Process.N != 2 {
		t.Fatalf("fitted %v to a bursty trace (SCV %.2f)", f.Process, f.SCV)
	}
	mean, scv, _, rho := f.Process.Moments()
	if math.Abs(mean/f.Mean-1) > 1e-9 {
		t.Errorf("mean %v, sample %v", mean, f.Mean)
	}
	if math.Abs(scv/f.SCV-1) > 0.05 || math.Abs(rho-f.Rho1) > 0.03 {
		t.Errorf("fitted SCV %.3f ρ1 %.3f; sample SCV %.3f ρ1 %.3f", scv, rho, f.SCV, f.Rho1)
	}
	// a Poisson trace stays Poisson
	p := FitArrivals(simulate(Poisson(2), 20000, rand.New(rand.NewPCG(5, 6))))
	if p.Process.N != 1 || math.Abs(p.Process.Rate()-2) > 0.05 {
		t.Errorf("Poisson trace fitted as %v", p.Process)
	}
}

func TestSizesMaxDist(t *testing.T) {
	d := SizesOf([]float64{2, 1, 2, 1})
	if len(d.Values) != 2 || d.Probs[0] != 0.5 || d.Mean() != 1.5 {
		t.Fatalf("sizes = %+v", d)
	}
	// max of 2 draws: P(max=1) = 0.5² = 0.25; P(max=2) = 1 − 0.25
	got := d.MaxDist(2, nil)
	if got[0] != 0.25 || got[1] != 0.75 {
		t.Fatalf("MaxDist(2) = %v", got)
	}
}

func TestNelderMeadRosenbrock(t *testing.T) {
	// the Rosenbrock valley: minimum 0 at (1, 1)
	rosen := func(x []float64) float64 { return 100*math.Pow(x[1]-x[0]*x[0], 2) + math.Pow(1-x[0], 2) }
	x, f := nelderMead(rosen, []float64{-1.2, 1}, 2000)
	if f > 1e-8 || math.Abs(x[0]-1) > 1e-3 || math.Abs(x[1]-1) > 1e-3 {
		t.Fatalf("Nelder–Mead on Rosenbrock: f(%v) = %v", x, f)
	}
}
