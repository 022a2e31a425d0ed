package workload

import (
	"math"
	"slices"
)

// Sizes is a discrete distribution of request sizes: Values ascending, Probs summing to 1.
type Sizes struct {
	Values []float64
	Probs  []float64
}

// SizesOf is the empirical distribution of sizes (each distinct value with its share).
func SizesOf(sizes []float64) Sizes {
	s := slices.Clone(sizes)
	slices.Sort(s)
	var d Sizes
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		d.Values = append(d.Values, s[i])
		d.Probs = append(d.Probs, float64(j-i)/float64(len(s)))
		i = j
	}
	return d
}

// Mean is the mean size.
func (d Sizes) Mean() float64 {
	m := 0.0
	for i, v := range d.Values {
		m += v * d.Probs[i]
	}
	return m
}

// MaxDist writes P(max of n independent draws = Values[i]) = F(vᵢ)ⁿ − F(vᵢ₋₁)ⁿ into dst (order statistics).
func (d Sizes) MaxDist(n int, dst []float64) []float64 {
	dst = dst[:0]
	prev, cum := 0.0, 0.0
	for _, p := range d.Probs {
		cum += p
		c := math.Pow(math.Min(cum, 1), float64(n))
		dst = append(dst, c-prev)
		prev = c
	}
	return dst
}
