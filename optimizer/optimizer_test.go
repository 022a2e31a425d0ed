package optimizer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// branin has three global minima of 0.397887 (Dixon & Szegő 1978; value from Surjanovic & Bingham's library).
func branin(x []float64) (float64, float64) {
	x1, x2 := x[0], x[1]
	a, b, c, r, s, t := 1.0, 5.1/(4*math.Pi*math.Pi), 5/math.Pi, 6.0, 10.0, 1/(8*math.Pi)
	return a*math.Pow(x2-b*x1*x1+c*x1-r, 2) + s*(1-t)*math.Cos(x1) + s, 0
}

var braninDims = []Dim{{Name: "x1", Min: -5, Max: 10}, {Name: "x2", Min: 0, Max: 15}}

// hartmann6 has its global minimum −3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
func hartmann6(x []float64) (float64, float64) {
	alpha := []float64{1.0, 1.2, 3.0, 3.2}
	A := [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	P := [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
	f := 0.0
	for i := 0; i < 4; i++ {
		s := 0.0
		for j := 0; j < 6; j++ {
			d := x[j] - P[i][j]*1e-4
			s += A[i][j] * d * d
		}
		f -= alpha[i] * math.Exp(-s)
	}
	return f, 0
}

func unitDims(d int) []Dim {
	out := make([]Dim, d)
	for i := range out {
		out[i] = Dim{Name: fmt.Sprint("x", i), Min: 0, Max: 1}
	}
	return out
}

func TestGPInterpolatesAndGradientIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var x [][]float64
	var y []float64
	for i := 0; i < 9; i++ {
		u := float64(i) / 8
		x = append(x, []float64{u})
		y = append(y, math.Sin(6*u))
	}
	g := FitGP(x, y, rng, 2, nil)
	for _, u := range []float64{0.05, 0.33, 0.71, 0.97} {
		mu, sd := g.Predict([]float64{u})
		if math.Abs(mu-math.Sin(6*u)) > 0.05 {
			t.Errorf("mean at %v = %v, want %v", u, mu, math.Sin(6*u))
		}
		if sd <= 0 || sd > 0.2 {
			t.Errorf("std at %v = %v", u, sd)
		}
	}
	if _, sd := g.Predict([]float64{0.5}); sd > 1e-2 {
		t.Errorf("std at a training point = %v", sd)
	}
	// analytic gradient of the negative log-likelihood against central differences, 2-D
	x2 := [][]float64{{0.1, 0.2}, {0.5, 0.9}, {0.8, 0.4}, {0.3, 0.6}, {0.95, 0.05}}
	y2 := []float64{0.3, -1.2, 0.8, 0.1, 1.5}
	theta := []float64{math.Log(0.4), math.Log(0.7), math.Log(1.3), math.Log(1e-3)}
	_, grad := negLogLik(x2, y2, theta)
	for j := range theta {
		h := 1e-6
		tp := append([]float64(nil), theta...)
		tm := append([]float64(nil), theta...)
		tp[j] += h
		tm[j] -= h
		fp, _ := negLogLik(x2, y2, tp)
		fm, _ := negLogLik(x2, y2, tm)
		if num := (fp - fm) / (2 * h); math.Abs(num-grad[j]) > 1e-5*math.Max(1, math.Abs(num)) {
			t.Errorf("∂/∂θ%d = %v, finite difference %v", j, grad[j], num)
		}
	}
}

func TestGPSurvivesDuplicatePoints(t *testing.T) {
	x := [][]float64{{0.5}, {0.5}, {0.5}, {0.2}}
	y := []float64{1, 1, 1, 0}
	g := FitGP(x, y, rand.New(rand.NewPCG(2, 2)), 1, nil)
	if mu, _ := g.Predict([]float64{0.5}); math.IsNaN(mu) || math.Abs(mu-1) > 0.1 {
		t.Fatalf("mean at the repeated point = %v", mu)
	}
}

func TestBOBranin(t *testing.T) {
	res := BO{Seed: 7}.Minimize(Problem{Dims: braninDims, Func: branin}, 50)
	if len(res.Evals) != 50 {
		t.Fatalf("%d evaluations", len(res.Evals))
	}
	if res.Best.Objective > 0.397887+0.03 {
		t.Fatalf("Branin: best %.5f at %v after 50 evaluations; optimum 0.397887", res.Best.Objective, res.Best.X)
	}
}

func TestBOHartmann6(t *testing.T) {
	res := BO{Seed: 3}.Minimize(Problem{Dims: unitDims(6), Func: hartmann6}, 80)
	if res.Best.Objective > -3.0 {
		t.Fatalf("Hartmann-6: best %.4f after 80 evaluations; optimum −3.32237", res.Best.Objective)
	}
	rs := RandomSearch(Problem{Dims: unitDims(6), Func: hartmann6}, 80, 3)
	if rs.Best.Objective <= res.Best.Objective {
		t.Fatalf("random search (%.4f) matched BO (%.4f) on Hartmann-6", rs.Best.Objective, res.Best.Objective)
	}
}

// TestBOConstrained: minimise (x1−1)² + (x2−1)² inside the disc x1² + x2² ≤ 0.5; the optimum is 0.5 at (0.5, 0.5),
// where the unconstrained minimum (1, 1) is pulled back onto the circle.
func TestBOConstrained(t *testing.T) {
	f := func(x []float64) (float64, float64) {
		return math.Pow(x[0]-1, 2) + math.Pow(x[1]-1, 2), x[0]*x[0] + x[1]*x[1] - 0.5
	}
	res := BO{Seed: 5}.Minimize(Problem{Dims: unitDims(2), Func: f}, 40)
	if !res.Found || res.Best.Objective > 0.5+0.02 {
		t.Fatalf("constrained: best %.4f at %v (found %v); optimum 0.5", res.Best.Objective, res.Best.X, res.Found)
	}
	for _, e := range res.Evals {
		if e.Feasible() && e.Objective < 0.5-1e-9 {
			t.Fatalf("a feasible point below the optimum: %+v", e)
		}
	}
}

func TestIntegerAndDiscreteDimensions(t *testing.T) {
	calls := map[string]int{}
	f := func(x []float64) (float64, float64) {
		calls[key(x)]++
		if x[0] != math.Round(x[0]) {
			t.Fatalf("integer dimension got %v", x[0])
		}
		ok := false
		for _, l := range []float64{128, 1024, 3008} {
			ok = ok || x[1] == l
		}
		if !ok {
			t.Fatalf("discrete dimension got %v", x[1])
		}
		return math.Pow(x[0]-7, 2) + math.Abs(x[1]-1024)/1000, 0
	}
	p := Problem{Dims: []Dim{{Name: "batch", Min: 1, Max: 20, Integer: true}, {Name: "mem", Levels: []float64{128, 1024, 3008}}}, Func: f}
	res := BO{Seed: 1}.Minimize(p, 25)
	if res.Best.X[0] != 7 || res.Best.X[1] != 1024 {
		t.Fatalf("best %v, want [7 1024]", res.Best.X)
	}
	for k, n := range calls {
		if n > 1 {
			t.Fatalf("%s evaluated %d times", k, n)
		}
	}
	// the grid covers all 60 points exactly once
	g := GridSearch(p, 0)
	if len(g.Evals) != 60 || g.Best.X[0] != 7 || g.Best.X[1] != 1024 {
		t.Fatalf("grid: %d evals, best %v", len(g.Evals), g.Best.X)
	}
	// a budget above the space's size stops at its size
	if r := RandomSearch(p, 1000, 1); len(r.Evals) != 60 {
		t.Fatalf("random search evaluated %d of 60 points", len(r.Evals))
	}
}

func TestLogDimension(t *testing.T) {
	p := Problem{Dims: []Dim{{Name: "t", Min: 1, Max: 10000, Log: true}}, Func: func(x []float64) (float64, float64) {
		return math.Pow(math.Log10(x[0])-2, 2), 0 // minimum at 100
	}}
	res := BO{Seed: 2}.Minimize(p, 15)
	if math.Abs(res.Best.X[0]-100) > 5 {
		t.Fatalf("best %v, want about 100", res.Best.X)
	}
}

func TestBestAfter(t *testing.T) {
	r := Result{Evals: []Eval{{Objective: 5, Constraint: 1}, {Objective: 3}, {Objective: 4}, {Objective: 1}}}
	if r.BestAfter(1) != math.Inf(1) || r.BestAfter(3) != 3 || r.BestAfter(10) != 1 {
		t.Fatalf("BestAfter: %v %v %v", r.BestAfter(1), r.BestAfter(3), r.BestAfter(10))
	}
}

// TestBOStops: a search asked to stop ends after its initial design instead of spending the budget (a cancelled
// plan must not fit Gaussian processes for another thirty steps).
func TestBOStops(t *testing.T) {
	calls := 0
	res := BO{Seed: 7, Init: 5, Stop: func() bool { calls++; return calls > 3 }}.Minimize(Problem{Dims: braninDims, Func: branin}, 50)
	if len(res.Evals) != 5+3 {
		t.Fatalf("%d evaluations, want the 5 of the design and 3 steps before Stop said so", len(res.Evals))
	}
}
