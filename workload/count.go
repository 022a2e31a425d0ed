package workload

import "math"

// Counts returns the distribution of the number of arrivals N(t) in (0, t] of a process that starts with phase
// distribution alpha, for each t in ts (seconds): out[i][k] = P(N(ts[i]) = k) for k < K, and out[i][K] = P(N ≥ K).
//
// This is the transient solution of the CTMC on (arrivals so far, phase) — the block matrix with D0 on the
// diagonal and D1 above it that BATCH and MBS exponentiate — computed by uniformisation: with Λ the largest exit
// rate, e^{Qt} = Σₘ Poisson(m; Λt)·(I + Q/Λ)ᵐ, so one pass over the jumps serves every t at once. The tests check
// it against gonum's mat.Exp of the same block matrix. The truncation error is below 1e-12.
func (m MAP) Counts(alpha [2]float64, ts []float64, K int) [][]float64 {
	out := make([][]float64, len(ts))
	for i := range out {
		out[i] = make([]float64, K+1)
	}
	lam := m.MaxRate()
	tmax := 0.0
	for _, t := range ts {
		tmax = math.Max(tmax, t)
	}
	if lam == 0 || tmax == 0 {
		for i := range out {
			out[i][0] = 1
		}
		return out
	}
	// uniformised one-step matrices: A0 = I + D0/Λ (no arrival), A1 = D1/Λ (one arrival)
	var a0, a1 [2][2]float64
	for i := 0; i < m.N; i++ {
		for j := 0; j < m.N; j++ {
			a0[i][j] = m.D0[i][j] / lam
			a1[i][j] = m.D1[i][j] / lam
		}
		a0[i][i]++
	}
	lt := lam * tmax
	steps := int(lt + 12*math.Sqrt(lt) + 30)
	// Poisson(Λt) weights of each jump count, only where they matter (within ±12σ of Λt), by the recurrence
	// w(m) = w(m−1)·Λt/m from a start computed in log space, so Λt in the thousands does not underflow e^{−Λt}
	type window struct {
		from, to int
		w        []float64
	}
	wins := make([]window, len(ts))
	for i, t := range ts {
		l := lam * t
		if l == 0 {
			wins[i] = window{0, 0, []float64{1}}
			continue
		}
		from := max(int(l-12*math.Sqrt(l)-30), 0)
		to := int(l + 12*math.Sqrt(l) + 30)
		lg, _ := math.Lgamma(float64(from + 1))
		w := make([]float64, to-from+1)
		w[0] = math.Exp(-l + float64(from)*math.Log(l) - lg)
		for m := from + 1; m <= to; m++ {
			w[m-from] = w[m-from-1] * l / float64(m)
		}
		wins[i] = window{from, to, w}
	}
	x := make([][2]float64, K+1)
	next := make([][2]float64, K+1)
	x[0] = alpha
	finished := false
	for step := 0; step <= steps && !finished; step++ {
		for i := range wins {
			wi := &wins[i]
			if step < wi.from || step > wi.to {
				continue
			}
			w := wi.w[step-wi.from]
			if w < 1e-300 {
				continue
			}
			o := out[i]
			for k := 0; k <= K; k++ {
				o[k] += w * (x[k][0] + x[k][1])
			}
		}
		// one uniformisation jump: stay at k through A0, or move k → k+1 (K absorbs) through A1
		for k := 0; k <= K; k++ {
			next[k] = vecMat(x[k], a0, m.N)
			if k > 0 {
				add(&next[k], vecMat(x[k-1], a1, m.N))
			}
			if k == K {
				add(&next[k], vecMat(x[k], a1, m.N))
			}
		}
		x, next = next, x
		// Once (almost) no mass is left below K, later jumps only feed the tail, which is what is left over.
		below := 0.0
		for k := 0; k < K; k++ {
			below += x[k][0] + x[k][1]
		}
		finished = below < 1e-15
	}
	if finished {
		for i := range out {
			s := 0.0
			for k := 0; k < K; k++ {
				s += out[i][k]
			}
			out[i][K] = math.Max(1-s, 0)
		}
	}
	return out
}

func vecMat(v [2]float64, a [2][2]float64, n int) [2]float64 {
	if n == 1 {
		return [2]float64{v[0] * a[0][0], 0}
	}
	return [2]float64{v[0]*a[0][0] + v[1]*a[1][0], v[0]*a[0][1] + v[1]*a[1][1]}
}

func add(dst *[2]float64, v [2]float64) {
	dst[0] += v[0]
	dst[1] += v[1]
}
