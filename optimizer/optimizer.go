// Package optimizer minimises black-box functions over boxes of continuous, integer and discrete dimensions,
// optionally under a black-box constraint: Bayesian optimisation with Gaussian processes (BO), and random and
// exhaustive grid search as baselines. It knows nothing of the problems it solves; callers hand it a function.
package optimizer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Dim is one dimension of a search space.
type Dim struct {
	Name     string
	Min, Max float64
	Integer  bool      // whole numbers only
	Log      bool      // search on a log scale (Min > 0)
	Levels   []float64 // a discrete dimension: one of these values (Min, Max, Integer and Log are then ignored)
}

// Problem is a function to minimise over a space, x feasible when the constraint value is ≤ 0.
type Problem struct {
	Dims []Dim
	// Func returns the objective and the constraint value at x (in the dimensions' own units). Unconstrained
	// problems return 0 as the constraint. Func is never called twice at the same point.
	Func func(x []float64) (objective, constraint float64)
}

// Eval is one evaluation.
type Eval struct {
	X          []float64
	Objective  float64
	Constraint float64
}

// Feasible reports whether the evaluation meets the constraint.
func (e Eval) Feasible() bool { return e.Constraint <= 0 }

// Result is a search's outcome: the best feasible evaluation (Found is false when none was feasible; Best is
// then the evaluation closest to feasibility) and every evaluation in order.
type Result struct {
	Best  Eval
	Found bool
	Evals []Eval
}

// BestAfter is the best feasible objective among the first n evaluations (+Inf when none is feasible).
func (r Result) BestAfter(n int) float64 {
	best := math.Inf(1)
	for _, e := range r.Evals[:min(n, len(r.Evals))] {
		if e.Feasible() {
			best = math.Min(best, e.Objective)
		}
	}
	return best
}

// space maps between the unit cube the GP works in and the problem's units, snapping integer and discrete
// dimensions so that every unit point stands for exactly one evaluable x.
type space struct{ dims []Dim }

func (s space) snap(u []float64) (uu, x []float64) {
	uu, x = make([]float64, len(u)), make([]float64, len(u))
	for i, d := range s.dims {
		v := math.Min(math.Max(u[i], 0), 1)
		switch {
		case d.Levels != nil:
			if len(d.Levels) == 1 {
				uu[i], x[i] = 0.5, d.Levels[0]
				continue
			}
			k := int(math.Round(v * float64(len(d.Levels)-1)))
			uu[i], x[i] = float64(k)/float64(len(d.Levels)-1), d.Levels[k]
		case d.Log:
			lo, hi := math.Log(d.Min), math.Log(d.Max)
			xv := math.Exp(lo + v*(hi-lo))
			if d.Integer {
				xv = math.Round(xv)
				v = (math.Log(xv) - lo) / (hi - lo)
			}
			uu[i], x[i] = v, xv
		default:
			xv := d.Min + v*(d.Max-d.Min)
			if d.Integer {
				xv = math.Round(xv)
				if d.Max > d.Min {
					v = (xv - d.Min) / (d.Max - d.Min)
				}
			}
			uu[i], x[i] = v, xv
		}
	}
	return uu, x
}

// unit maps a point in the problem's units to the unit cube (the inverse of snap, before snapping).
func (s space) unit(x []float64) []float64 {
	u := make([]float64, len(x))
	for i, d := range s.dims {
		switch {
		case d.Levels != nil:
			best := 0
			for k, l := range d.Levels {
				if math.Abs(l-x[i]) < math.Abs(d.Levels[best]-x[i]) {
					best = k
				}
			}
			if len(d.Levels) > 1 {
				u[i] = float64(best) / float64(len(d.Levels)-1)
			}
		case d.Log:
			u[i] = (math.Log(x[i]) - math.Log(d.Min)) / (math.Log(d.Max) - math.Log(d.Min))
		case d.Max > d.Min:
			u[i] = (x[i] - d.Min) / (d.Max - d.Min)
		}
	}
	return u
}

func key(x []float64) string {
	var b strings.Builder
	for _, v := range x {
		b.WriteString(strconv.FormatFloat(v, 'g', 12, 64))
		b.WriteByte(',')
	}
	return b.String()
}

// size is the number of distinct points of the space (+Inf when a dimension is continuous).
func (s space) size() float64 {
	n := 1.0
	for _, d := range s.dims {
		switch {
		case d.Levels != nil:
			n *= float64(len(d.Levels))
		case d.Integer && !d.Log:
			n *= d.Max - d.Min + 1
		default:
			return math.Inf(1)
		}
	}
	return n
}

func (p Problem) check() {
	if len(p.Dims) == 0 || p.Func == nil {
		panic("optimizer: a problem needs dimensions and a function")
	}
	for _, d := range p.Dims {
		if d.Levels == nil && (!(d.Max >= d.Min) || d.Log && d.Min <= 0) {
			panic(fmt.Sprintf("optimizer: dimension %q has bounds [%v, %v]", d.Name, d.Min, d.Max))
		}
	}
}

// recorder evaluates points once each and keeps the best.
type recorder struct {
	p     Problem
	seen  map[string]bool
	res   Result
	units [][]float64 // unit-cube coordinates of each evaluation
	// hyper-parameters of the last objective and constraint GPs (BO's warm starts)
	thetaF, thetaC []float64
}

func newRecorder(p Problem) *recorder {
	return &recorder{p: p, seen: map[string]bool{}}
}

func (r *recorder) eval(u, x []float64) bool {
	k := key(x)
	if r.seen[k] {
		return false
	}
	r.seen[k] = true
	f, c := r.p.Func(x)
	e := Eval{X: x, Objective: f, Constraint: c}
	r.res.Evals = append(r.res.Evals, e)
	r.units = append(r.units, u)
	switch {
	case len(r.res.Evals) == 1:
		r.res.Best, r.res.Found = e, e.Feasible()
	case e.Feasible() && (!r.res.Found || e.Objective < r.res.Best.Objective):
		r.res.Best, r.res.Found = e, true
	case !r.res.Found && !e.Feasible() && e.Constraint < r.res.Best.Constraint:
		r.res.Best = e
	}
	return true
}

// RandomSearch evaluates budget distinct points drawn uniformly (in the unit cube, so log dimensions are sampled
// log-uniformly) with the given seed.
func RandomSearch(p Problem, budget int, seed uint64) Result {
	p.check()
	s := space{p.Dims}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	r := newRecorder(p)
	limit := math.Min(float64(budget), s.size())
	for tries := 0; float64(len(r.res.Evals)) < limit && tries < 100*budget; tries++ {
		u := make([]float64, len(p.Dims))
		for i := range u {
			u[i] = rng.Float64()
		}
		uu, x := s.snap(u)
		r.eval(uu, x)
	}
	return r.res
}

// GridSearch evaluates every point of the grid: all levels of discrete and integer dimensions, and points evenly
// spaced points (in the unit cube) of continuous ones. It is the exhaustive reference the others are measured by.
func GridSearch(p Problem, points int) Result {
	p.check()
	s := space{p.Dims}
	axes := make([][]float64, len(p.Dims))
	for i, d := range p.Dims {
		switch {
		case d.Levels != nil:
			for k := range d.Levels {
				axes[i] = append(axes[i], float64(k)/math.Max(float64(len(d.Levels)-1), 1))
			}
		case d.Integer && !d.Log:
			for v := d.Min; v <= d.Max; v++ {
				axes[i] = append(axes[i], (v-d.Min)/math.Max(d.Max-d.Min, 1))
			}
		default:
			for k := 0; k < points; k++ {
				axes[i] = append(axes[i], float64(k)/math.Max(float64(points-1), 1))
			}
		}
	}
	r := newRecorder(p)
	idx := make([]int, len(axes))
	for {
		u := make([]float64, len(axes))
		for i, a := range axes {
			u[i] = a[idx[i]]
		}
		uu, x := s.snap(u)
		r.eval(uu, x)
		i := 0
		for ; i < len(idx); i++ {
			idx[i]++
			if idx[i] < len(axes[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			return r.res
		}
	}
}

// sortedByObjective returns indices of evaluations, feasible ones first by objective, then infeasible by
// constraint: the points local search starts from.
func sortedByObjective(evals []Eval) []int {
	idx := make([]int, len(evals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ea, eb := evals[a], evals[b]
		if ea.Feasible() != eb.Feasible() {
			if ea.Feasible() {
				return -1
			}
			return 1
		}
		va, vb := ea.Objective, eb.Objective
		if !ea.Feasible() {
			va, vb = ea.Constraint, eb.Constraint
		}
		switch {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	return idx
}
