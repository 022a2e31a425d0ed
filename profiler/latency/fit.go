package latency

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Point is one measured (or wanted) latency.
type Point struct {
	MemoryMB  int // Lambda memory size; ignored by forms without a memory term
	N         int
	Size      float64
	LatencyMs float64
}

// Form is the shape of an analytical latency model: a linear combination of basis terms in batch n, size s and,
// for Lambda, memory M.
type Form int

const (
	// Shape is t = a + b·s + c·n + d·n·s + e·n·s²: a fixed cost, a per-shape cost, and per-request work that is
	// linear (feed-forward) plus quadratic (attention) in the padded size.
	Shape Form = iota
	// LambdaMemory is Shape with every coefficient scaled by the CPU share Lambda gives: each term appears as
	// x, x·v1 and x·v, with v1 = 1769/min(M, 1769) (one vCPU per 1,769 MB) and v = 1769/M (work that keeps
	// speeding up with more vCPUs).
	LambdaMemory
)

const mbPerVCPU = 1769

func (f Form) String() string {
	if f == LambdaMemory {
		return "(a + b·s + c·n + d·n·s + e·n·s²) with each term × {1, 1769/min(M,1769), 1769/M}"
	}
	return "a + b·s + c·n + d·n·s + e·n·s²"
}

func shapeTerms(n int, s float64) [5]float64 {
	fn := float64(n)
	return [5]float64{1, s, fn, fn * s, fn * s * s}
}

func (f Form) terms(p Point, dst []float64) []float64 {
	dst = dst[:0]
	sh := shapeTerms(p.N, p.Size)
	dst = append(dst, sh[:]...)
	if f == LambdaMemory {
		m := float64(max(p.MemoryMB, 1))
		v1 := mbPerVCPU / math.Min(m, mbPerVCPU)
		v := mbPerVCPU / m
		for _, x := range sh {
			dst = append(dst, x*v1)
		}
		for _, x := range sh {
			dst = append(dst, x*v)
		}
	}
	return dst
}

func (f Form) width() int {
	if f == LambdaMemory {
		return 15
	}
	return 5
}

// Fit is a least-squares latency model with its error measured on points it was not fitted to.
type Fit struct {
	Form   Form
	Coef   []float64
	Points int
	// HeldOutMAPE and HeldOutMaxAPE are the mean and largest absolute percentage errors of 5-fold
	// cross-validation: each point predicted by a model fitted without it.
	HeldOutMAPE   float64
	HeldOutMaxAPE float64
	// MAPE is the in-sample error of the final model (fitted to every point).
	MAPE float64
}

// ErrTooFewPoints means a fit has fewer points than parameters.
var ErrTooFewPoints = errors.New("too few points to fit")

// FitPoints fits form to points by least squares on relative error (each row weighted by 1/latency, so a 10 ms
// point counts as much as a 10 s one) and measures the held-out error by 5-fold cross-validation.
func FitPoints(points []Point, form Form) (*Fit, error) {
	w := form.width()
	if len(points) < w+1 {
		return nil, fmt.Errorf("%w: %d points for %d parameters", ErrTooFewPoints, len(points), w)
	}
	coef, err := solve(points, form, nil)
	if err != nil {
		return nil, err
	}
	f := &Fit{Form: form, Coef: coef, Points: len(points)}
	f.MAPE, _ = apeStats(points, f, nil)

	// 5-fold cross-validation, folds by index: deterministic, and spread over the grid when points are in grid order.
	const folds = 5
	if len(points) >= 2*w { // each training fold keeps ≥ 8/5·w points
		var sum, worst float64
		for k := 0; k < folds; k++ {
			c, err := solve(points, form, func(i int) bool { return i%folds != k })
			if err != nil {
				continue // a fold without enough spread: skip it rather than fail the whole fit
			}
			held := &Fit{Form: form, Coef: c}
			s, m := apeStats(points, held, func(i int) bool { return i%folds == k })
			sum += s
			worst = math.Max(worst, m)
		}
		f.HeldOutMAPE = sum / folds
		f.HeldOutMaxAPE = worst
	} else {
		f.HeldOutMAPE, f.HeldOutMaxAPE = math.NaN(), math.NaN()
	}
	return f, nil
}

// solve fits on the points where use(i) is true (all when use is nil).
func solve(points []Point, form Form, use func(int) bool) ([]float64, error) {
	w := form.width()
	var rows int
	for i := range points {
		if use == nil || use(i) {
			rows++
		}
	}
	if rows < w {
		return nil, ErrTooFewPoints
	}
	a := mat.NewDense(rows, w, nil)
	b := mat.NewVecDense(rows, nil)
	buf := make([]float64, 0, w)
	r := 0
	for i, p := range points {
		if use != nil && !use(i) {
			continue
		}
		y := math.Max(p.LatencyMs, 1e-9)
		for j, x := range form.terms(p, buf) {
			a.Set(r, j, x/y)
		}
		b.SetVec(r, 1)
		r++
	}
	// Scale columns to unit max so n·s² (10⁵) and 1 sit in one well-conditioned system.
	scale := make([]float64, w)
	for j := 0; j < w; j++ {
		m := 0.0
		for i := 0; i < rows; i++ {
			m = math.Max(m, math.Abs(a.At(i, j)))
		}
		if m == 0 {
			m = 1
		}
		scale[j] = m
		for i := 0; i < rows; i++ {
			a.Set(i, j, a.At(i, j)/m)
		}
	}
	var x mat.VecDense
	if err := x.SolveVec(a, b); err != nil {
		return nil, fmt.Errorf("latency fit: %w", err)
	}
	coef := make([]float64, w)
	for j := range coef {
		coef[j] = x.AtVec(j) / scale[j]
	}
	return coef, nil
}

func apeStats(points []Point, f *Fit, use func(int) bool) (mean, worst float64) {
	var sum float64
	var n int
	for i, p := range points {
		if use != nil && !use(i) || p.LatencyMs <= 0 {
			continue
		}
		e := math.Abs(f.Predict(p)-p.LatencyMs) / p.LatencyMs * 100
		sum += e
		worst = math.Max(worst, e)
		n++
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	return sum / float64(n), worst
}

// Predict returns the model's latency in ms at p (p.LatencyMs is ignored).
func (f *Fit) Predict(p Point) float64 {
	var buf [15]float64
	t := 0.0
	for j, x := range f.Form.terms(p, buf[:0]) {
		t += f.Coef[j] * x
	}
	return t
}

// String shows the fitted formula and its error.
func (f *Fit) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s; %d points; MAPE %.1f%% in sample", f.Form, f.Points, f.MAPE)
	if !math.IsNaN(f.HeldOutMAPE) {
		fmt.Fprintf(&b, ", %.1f%% held out (max %.1f%%)", f.HeldOutMAPE, f.HeldOutMaxAPE)
	}
	return b.String()
}

// CurvePoints lists the measured points of a curve (co-located repeats averaged).
func CurvePoints(c *Curve) []Point {
	var pts []Point
	for _, r := range c.rows {
		for i, s := range r.sizes {
			pts = append(pts, Point{MemoryMB: c.Key.MemoryMB, N: r.batch, Size: s, LatencyMs: r.lat[i]})
		}
	}
	return pts
}
