// Package quantile computes percentiles by the nearest-rank rule, the one every latency figure in inferplan uses
// (simulators, the runtime's replay report, trace statistics): the p-th percentile of n values is the value at rank
// ⌈p/100 · n⌉.
package quantile

import "math"

// rank is the 1-based nearest rank of the p-th percentile of n values. p·n comes first so that 95·20/100 is
// exactly 19, and a hair is taken off before rounding up so that floating-point noise cannot add a rank.
func rank(p float64, n int) int {
	k := int(math.Ceil(p*float64(n)/100 - 1e-9))
	return min(max(k, 1), n)
}

// NearestRank returns the p-th percentile (0 < p ≤ 100) of sorted values; NaN when there are none.
func NearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[rank(p, len(sorted))-1]
}

// Select returns the nearest-rank percentiles ps of unsorted xs, reordering xs; zeros when xs is empty. It selects
// rather than sorts — O(n) on average — so three percentiles of a million latencies cost a few milliseconds.
func Select(xs []float64, ps ...float64) []float64 {
	out := make([]float64, len(ps))
	if len(xs) == 0 {
		return out
	}
	for i, p := range ps {
		out[i] = selectK(xs, rank(p, len(xs))-1)
	}
	return out
}

// selectK returns the k-th smallest element (0-based) by quickselect, partially reordering xs.
func selectK(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		// median of three as pivot keeps sorted and constant inputs linear
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
