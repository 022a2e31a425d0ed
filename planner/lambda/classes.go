package lambda

import (
	"math"
	"slices"

	"github.com/inferplan/inferplan/trace"
)

// classes partition the sizes of a trace into at most a few dozen ordered groups; buffer boundaries fall between
// classes. Every distinct size is a class when there are few (the 32 audio sizes of the MBS workload); otherwise
// classes are quantile bins that never split equal sizes.
type classes struct {
	lower, upper []float64 // smallest and largest size in each class
	count        []int
	of           []int // class of each request, in trace order
}

func (c *classes) n() int { return len(c.lower) }

func makeClasses(reqs []trace.Request, maxClasses int) *classes {
	sizes := make([]float64, len(reqs))
	for i, q := range reqs {
		sizes[i] = q.Size
	}
	slices.Sort(sizes)
	distinct := slices.Compact(slices.Clone(sizes))
	c := &classes{}
	if len(distinct) <= maxClasses {
		for _, v := range distinct {
			c.lower = append(c.lower, v)
			c.upper = append(c.upper, v)
		}
	} else {
		// quantile bins: cut after every n/maxClasses requests, moved forward to the end of a run of equal sizes
		n := len(sizes)
		start := 0
		for k := 1; k <= maxClasses && start < n; k++ {
			end := int(math.Round(float64(k) * float64(n) / float64(maxClasses)))
			end = max(end, start+1)
			if k == maxClasses {
				end = n
			}
			end = min(end, n)
			for end < n && sizes[end] == sizes[end-1] {
				end++
			}
			c.lower = append(c.lower, sizes[start])
			c.upper = append(c.upper, sizes[end-1])
			start = end
		}
	}
	c.count = make([]int, len(c.lower))
	c.of = make([]int, len(reqs))
	for i, q := range reqs {
		k, _ := slices.BinarySearch(c.upper, q.Size) // first class whose upper ≥ size
		c.of[i] = k
		c.count[k]++
	}
	return c
}
