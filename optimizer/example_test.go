package optimizer_test

import (
	"fmt"

	"github.com/inferplan/inferplan/optimizer"
)

// A batch size (integer) and a timeout (continuous, log scale) that minimise a cost, subject to a latency bound.
func ExampleBO_Minimize() {
	p := optimizer.Problem{
		Dims: []optimizer.Dim{
			{Name: "batch", Min: 1, Max: 16, Integer: true},
			{Name: "timeout_ms", Min: 10, Max: 10000, Log: true},
		},
		Func: func(x []float64) (objective, constraint float64) {
			batch, timeout := x[0], x[1]
			cost := 1/batch + 0.04*batch         // amortised overhead against a growing service time
			latency := timeout + 40*batch        // waiting plus service
			return cost, (latency - 1000) / 1000 // feasible when latency ≤ 1 s
		},
	}
	res := optimizer.BO{Seed: 1}.Minimize(p, 30)
	fmt.Printf("batch %.0f, cost %.3f, feasible %v\n", res.Best.X[0], res.Best.Objective, res.Found)
	fmt.Printf("latency within bound: %v\n", res.Best.X[1]+40*res.Best.X[0] <= 1000)
	// Output:
	// batch 5, cost 0.400, feasible true
	// latency within bound: true
}
