package optimizer

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// GP is a Gaussian-process regression model on the unit cube with a Matérn 5/2 kernel and one length scale per
// dimension (ARD). Outputs are standardised internally; Predict answers in the original units.
type GP struct {
	x      [][]float64
	ls     []float64 // length scales
	sf2    float64   // signal variance (standardised units)
	sn2    float64   // noise variance (standardised units), at least the jitter that made K factorise
	ymean  float64
	ystd   float64
	alpha  []float64  // K⁻¹ y
	kinv   *mat.Dense // K⁻¹
	LogLik float64    // log marginal likelihood at the fitted hyper-parameters
	theta  []float64  // the fitted hyper-parameters, log space: a warm start for the next fit
}

var sqrt5 = math.Sqrt(5)

// matern52 returns k(r) and the factor g such that ∂k/∂log ℓ_d = g · (Δ_d/ℓ_d)² for r² = Σ (Δ_d/ℓ_d)².
func matern52(sf2, r2 float64) (k, g float64) {
	r := math.Sqrt(r2)
	e := math.Exp(-sqrt5 * r)
	k = sf2 * (1 + sqrt5*r + 5*r2/3) * e
	g = sf2 * 5.0 / 3 * (1 + sqrt5*r) * e
	return k, g
}

// hyper-parameter bounds (log space), enforced by a quadratic penalty outside them
var (
	logLsBounds  = [2]float64{math.Log(0.01), math.Log(10)}
	logSf2Bounds = [2]float64{math.Log(0.05), math.Log(20)}
	logSn2Bounds = [2]float64{math.Log(1e-8), math.Log(0.5)}
)

// FitGP fits a GP to points x (each in [0,1]^d) and values y by maximising the log marginal likelihood over the
// hyper-parameters (length scales, signal and noise variance): L-BFGS with the analytic gradient from restarts
// starting points drawn from rng plus one more — warm (the hyper-parameters of an earlier fit, see Theta) when
// given, a default otherwise. It never fails: if K does not factorise, jitter is added.
func FitGP(x [][]float64, y []float64, rng *rand.Rand, restarts int, warm []float64) *GP {
	n, d := len(x), len(x[0])
	g := &GP{x: x}
	// standardise y
	for _, v := range y {
		g.ymean += v
	}
	g.ymean /= float64(n)
	for _, v := range y {
		g.ystd += (v - g.ymean) * (v - g.ymean)
	}
	g.ystd = math.Sqrt(g.ystd / float64(n))
	if g.ystd < 1e-12 {
		g.ystd = 1
	}
	ys := make([]float64, n)
	for i, v := range y {
		ys[i] = (v - g.ymean) / g.ystd
	}

	obj := func(theta, grad []float64) float64 {
		nll, gr := negLogLik(x, ys, theta)
		pen := 0.0
		for j, t := range theta {
			b := logLsBounds
			if j == d {
				b = logSf2Bounds
			} else if j == d+1 {
				b = logSn2Bounds
			}
			if t > b[1] {
				pen += 10 * (t - b[1]) * (t - b[1])
				if grad != nil {
					gr[j] += 20 * (t - b[1])
				}
			} else if t < b[0] {
				pen += 10 * (b[0] - t) * (b[0] - t)
				if grad != nil {
					gr[j] -= 20 * (b[0] - t)
				}
			}
		}
		if grad != nil {
			copy(grad, gr)
		}
		return nll + pen
	}
	starts := [][]float64{defaultTheta(d)}
	if len(warm) == d+2 {
		starts[0] = warm
	}
	for s := 0; s < restarts; s++ {
		t := make([]float64, d+2)
		for j := 0; j < d; j++ {
			t[j] = math.Log(0.05 + rng.Float64()*1.5)
		}
		t[d] = math.Log(0.3 + rng.Float64()*3)
		t[d+1] = math.Log(1e-6) + rng.Float64()*math.Log(1e4)
		starts = append(starts, t)
	}
	best, bestF := starts[0], math.Inf(1)
	for _, t0 := range starts {
		p := optimize.Problem{
			Func: func(t []float64) float64 { return obj(t, nil) },
			Grad: func(grad, t []float64) { obj(t, grad) },
		}
		res, err := optimize.Minimize(p, t0, &optimize.Settings{MajorIterations: 40, FuncEvaluations: 80}, &optimize.LBFGS{})
		if res == nil {
			_ = err
			continue
		}
		if !math.IsNaN(res.F) && res.F < bestF {
			best, bestF = res.X, res.F
		}
	}
	g.setHyper(ys, best)
	return g
}

func defaultTheta(d int) []float64 {
	t := make([]float64, d+2)
	for j := 0; j < d; j++ {
		t[j] = math.Log(0.3)
	}
	t[d] = 0
	t[d+1] = math.Log(1e-4)
	return t
}

// kernelMatrix builds K (without noise) and, when grads is non-nil, the per-dimension gradient factors.
func kernelMatrix(x [][]float64, ls []float64, sf2 float64) *mat.SymDense {
	n := len(x)
	k := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v, _ := matern52(sf2, scaledDist2(x[i], x[j], ls))
			k.SetSym(i, j, v)
		}
	}
	return k
}

func scaledDist2(a, b, ls []float64) float64 {
	r2 := 0.0
	for d := range a {
		t := (a[d] - b[d]) / ls[d]
		r2 += t * t
	}
	return r2
}

// factorize adds sn2 (and, if needed, growing jitter) to the diagonal until K is positive definite; it returns the
// Cholesky factor and the noise actually used.
func factorize(k *mat.SymDense, sn2 float64) (*mat.Cholesky, float64) {
	n, _ := k.Dims()
	jitter := 0.0
	for attempt := 0; attempt < 12; attempt++ {
		a := mat.NewSymDense(n, nil)
		a.CopySym(k)
		for i := 0; i < n; i++ {
			a.SetSym(i, i, a.At(i, i)+sn2+jitter)
		}
		var ch mat.Cholesky
		if ch.Factorize(a) {
			return &ch, sn2 + jitter
		}
		if jitter == 0 {
			jitter = 1e-10
		} else {
			jitter *= 10
		}
	}
	// a diagonal matrix factorises: the GP degrades to independent points rather than failing (nil only when K
	// holds NaN or Inf)
	a := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		a.SetSym(i, i, k.At(i, i)+1)
	}
	var ch mat.Cholesky
	if !ch.Factorize(a) {
		return nil, 0
	}
	return &ch, 1
}

// negLogLik returns −log p(y | θ) and its gradient for θ = (log ℓ₁…log ℓ_d, log σf², log σn²):
// ∂/∂θ = ½ tr((K⁻¹ − ααᵀ) ∂K/∂θ) with α = K⁻¹y. Each kernel value and its derivative factor is computed once,
// for the upper triangle, and reused by the gradient.
func negLogLik(x [][]float64, y []float64, theta []float64) (float64, []float64) {
	n, d := len(x), len(x[0])
	for _, t := range theta {
		if !(math.Abs(t) < 50) { // a line search overshooting to e^±50 (or NaN): no likelihood there
			return 1e10, make([]float64, d+2)
		}
	}
	ls := make([]float64, d)
	for j := range ls {
		ls[j] = math.Exp(theta[j])
	}
	sf2, sn2 := math.Exp(theta[d]), math.Exp(theta[d+1])
	k := mat.NewSymDense(n, nil)
	gf := make([]float64, n*n) // ∂k/∂log ℓ factor per pair (upper triangle)
	for i := 0; i < n; i++ {
		k.SetSym(i, i, sf2)
		for j := i + 1; j < n; j++ {
			kv, g := matern52(sf2, scaledDist2(x[i], x[j], ls))
			k.SetSym(i, j, kv)
			gf[i*n+j] = g
		}
	}
	ch, used := factorize(k, sn2)
	if ch == nil {
		return 1e10, make([]float64, d+2)
	}
	alpha := mat.NewVecDense(n, nil)
	if err := ch.SolveVecTo(alpha, mat.NewVecDense(n, y)); err != nil {
		return 1e10, make([]float64, d+2)
	}
	nll := 0.5*mat.Dot(mat.NewVecDense(n, y), alpha) + 0.5*ch.LogDet() + 0.5*float64(n)*math.Log(2*math.Pi)
	var kinv mat.SymDense
	if err := ch.InverseTo(&kinv); err != nil {
		return nll, make([]float64, d+2)
	}
	grad := make([]float64, d+2)
	a := alpha.RawVector().Data
	for i := 0; i < n; i++ {
		w := kinv.At(i, i) - a[i]*a[i]
		grad[d] += 0.5 * w * sf2
		grad[d+1] += 0.5 * w * used
		for j := i + 1; j < n; j++ {
			w := kinv.At(i, j) - a[i]*a[j] // the pair counts twice (i,j and j,i): ½·2
			grad[d] += w * k.At(i, j)
			g := gf[i*n+j]
			for dd := 0; dd < d; dd++ {
				t := (x[i][dd] - x[j][dd]) / ls[dd]
				grad[dd] += w * g * t * t
			}
		}
	}
	return nll, grad
}

func (g *GP) setHyper(ys, theta []float64) {
	n, d := len(g.x), len(g.x[0])
	g.theta = theta
	g.ls = make([]float64, d)
	for j := range g.ls {
		g.ls[j] = math.Exp(theta[j])
	}
	g.sf2, g.sn2 = math.Exp(theta[d]), math.Exp(theta[d+1])
	k := kernelMatrix(g.x, g.ls, g.sf2)
	ch, used := factorize(k, g.sn2)
	if ch == nil { // cannot happen for the bounded θ a fit returns; keep the model usable anyway
		g.sf2, g.sn2 = 1, 1
		ch, used = factorize(kernelMatrix(g.x, g.ls, 1), 1)
	}
	g.sn2 = used
	a := mat.NewVecDense(n, nil)
	_ = ch.SolveVecTo(a, mat.NewVecDense(n, ys))
	g.alpha = a.RawVector().Data
	var kinv mat.SymDense
	_ = ch.InverseTo(&kinv)
	g.kinv = mat.DenseCopyOf(&kinv)
	nll, _ := negLogLik(g.x, ys, theta)
	g.LogLik = -nll
}

// Predict returns the posterior mean and standard deviation at u (in [0,1]^d), in the units of y.
func (g *GP) Predict(u []float64) (mean, std float64) {
	n := len(g.x)
	ks := make([]float64, n)
	for i := range g.x {
		ks[i], _ = matern52(g.sf2, scaledDist2(u, g.x[i], g.ls))
	}
	mu := 0.0
	for i := range ks {
		mu += ks[i] * g.alpha[i]
	}
	v := 0.0
	raw := g.kinv.RawMatrix()
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+n]
		s := 0.0
		for j, kj := range ks {
			s += row[j] * kj
		}
		v += ks[i] * s
	}
	variance := math.Max(g.sf2-v, 1e-12)
	return g.ymean + mu*g.ystd, math.Sqrt(variance) * g.ystd
}

// Theta returns the fitted hyper-parameters (log length scales, log signal and noise variance), to warm-start
// the next fit when a point is added.
func (g *GP) Theta() []float64 { return g.theta }

// LengthScales returns the fitted length scales (unit-cube units).
func (g *GP) LengthScales() []float64 { return g.ls }
