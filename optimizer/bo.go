package optimizer

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// BO is Bayesian optimisation: a Gaussian process models the objective (and a second one the constraint), and
// each step evaluates the point that maximises the expected improvement over the best feasible value weighted by
// the probability that the point is feasible (constrained EI, Gardner et al. 2014). Until a feasible point is
// known it maximises the probability of feasibility alone. Integer and discrete dimensions are snapped to their
// values, so the acquisition only ever proposes evaluable points, and never one already evaluated.
type BO struct {
	Seed uint64
	// Init is the size of the initial Latin-hypercube design (default: max(2·dims+1, 6), at most budget/3).
	Init int
	// Candidates is the number of random points scored per step (default 1,500), besides local perturbations of
	// the best points so far.
	Candidates int
	// Restarts of the hyper-parameter fit besides the default start (default 2).
	Restarts int
	// Initial points (in the problem's units) evaluated before the design: a known good configuration, say, so
	// the search can only improve on it.
	Initial [][]float64
	// Stop, when set, is asked before every step; true ends the search with what it has (a cancelled context,
	// say: the GP fits between evaluations should not outlive the caller's interest).
	Stop func() bool
}

var stdNormal = distuv.UnitNormal

// Minimize runs up to budget evaluations.
func (o BO) Minimize(p Problem, budget int) Result {
	p.check()
	s := space{p.Dims}
	d := len(p.Dims)
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0xa5a5a5a5))
	init := o.Init
	if init == 0 {
		init = min(max(2*d+1, 6), max(budget/3, 1))
	}
	cands := o.Candidates
	if cands == 0 {
		cands = 1500
	}
	restarts := o.Restarts
	if restarts == 0 {
		restarts = 2
	}
	limit := int(math.Min(float64(budget), s.size()))
	r := newRecorder(p)

	for _, x := range o.Initial {
		if len(r.res.Evals) < limit {
			uu, xx := s.snap(s.unit(x))
			r.eval(uu, xx)
		}
	}
	// Latin hypercube: each dimension's [0,1] cut into init strata, one point in each, strata shuffled per dimension
	perm := make([][]int, d)
	for j := range perm {
		perm[j] = rng.Perm(init)
	}
	for i := 0; i < init && len(r.res.Evals) < limit; i++ {
		u := make([]float64, d)
		for j := range u {
			u[j] = (float64(perm[j][i]) + rng.Float64()) / float64(init)
		}
		uu, x := s.snap(u)
		if !r.eval(uu, x) {
			// a snapped duplicate: replace it with a random point
			for t := 0; t < 100; t++ {
				for j := range u {
					u[j] = rng.Float64()
				}
				if uu, x = s.snap(u); r.eval(uu, x) {
					break
				}
			}
		}
	}

	for len(r.res.Evals) < limit {
		if o.Stop != nil && o.Stop() {
			break
		}
		u, ok := o.next(r, s, rng, cands, restarts)
		if !ok {
			break
		}
		uu, x := s.snap(u)
		r.eval(uu, x)
	}
	return r.res
}

// next proposes the point that maximises constrained EI among random and local candidates.
func (o BO) next(r *recorder, s space, rng *rand.Rand, cands, restarts int) ([]float64, bool) {
	evals := r.res.Evals
	n, d := len(evals), len(s.dims)
	fy := make([]float64, n)
	cy := make([]float64, n)
	constrained := false
	for i, e := range evals {
		fy[i] = e.Objective
		cy[i] = e.Constraint
		if e.Constraint != 0 {
			constrained = true
		}
	}
	// the objective GP learns from feasible points when there are enough: infeasible regions often behave
	// differently (penalties, cliffs) and would distort the model where it matters
	var fx [][]float64
	var fyy []float64
	for i, e := range evals {
		if e.Feasible() || !r.res.Found {
			fx = append(fx, r.units[i])
			fyy = append(fyy, fy[i])
		}
	}
	if len(fx) < 3 {
		fx, fyy = r.units, fy
	}
	// warm-start each fit from the last one; fresh restarts every few steps keep it from settling in a poor optimum
	if n%5 != 0 {
		restarts = 0
	}
	fgp := FitGP(fx, fyy, rng, restarts, r.thetaF)
	r.thetaF = fgp.Theta()
	var cgp *GP
	if constrained {
		cgp = FitGP(r.units, cy, rng, restarts, r.thetaC)
		r.thetaC = cgp.Theta()
	}
	best := math.Inf(1)
	for _, e := range evals {
		if e.Feasible() {
			best = math.Min(best, e.Objective)
		}
	}

	score := func(u []float64) float64 {
		pof := 1.0
		if cgp != nil {
			mc, sc := cgp.Predict(u)
			pof = stdNormal.CDF(-mc / sc)
		}
		if math.IsInf(best, 1) {
			return pof // no feasible point yet: find one
		}
		mu, sd := fgp.Predict(u)
		z := (best - mu) / sd
		ei := sd * (z*stdNormal.CDF(z) + stdNormal.Prob(z))
		return ei * pof
	}

	bestScore, bestU := -1.0, []float64(nil)
	try := func(u []float64) {
		uu, x := s.snap(u)
		if r.seen[key(x)] {
			return
		}
		if sc := score(uu); sc > bestScore {
			bestScore, bestU = sc, uu
		}
	}
	for c := 0; c < cands; c++ {
		u := make([]float64, d)
		for j := range u {
			u[j] = rng.Float64()
		}
		try(u)
	}
	// local candidates around the best points so far, at a few scales
	order := sortedByObjective(evals)
	for _, i := range order[:min(5, len(order))] {
		for _, sigma := range []float64{0.02, 0.08, 0.2} {
			for c := 0; c < 40; c++ {
				u := make([]float64, d)
				for j := range u {
					u[j] = r.units[i][j] + sigma*rng.NormFloat64()
				}
				try(u)
			}
		}
	}
	if bestU == nil {
		// every candidate was a repeat: walk the space for an unevaluated point
		for t := 0; t < 10000; t++ {
			u := make([]float64, d)
			for j := range u {
				u[j] = rng.Float64()
			}
			if uu, x := s.snap(u); !r.seen[key(x)] {
				return uu, true
			}
		}
		return nil, false
	}
	return bestU, true
}
