// Package latency turns a profile into service times: Table interpolates measured points exactly as contract §4
// says (the rule every estimate and replay uses), and Fit is a least-squares model for smoothing, extrapolation and
// for telling users how far the measurements can be trusted.
package latency

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/inferplan/inferplan/profiler/profile"
)

// Table holds one Curve per measured configuration of a profile.
type Table struct {
	keys   []profile.Key
	curves map[profile.Key]*Curve
}

// Curve is the measured latency of one configuration over batch sizes and request sizes.
type Curve struct {
	Key  profile.Key
	rows []row // one per measured batch size, ascending
	// byBatch[n] locates batch n (1…MaxBatch) between measured rows: lo, hi and the weight of hi.
	byBatch []batchPos
}

type row struct {
	batch int
	sizes []float64 // ascending
	lat   []float64 // latency_ms per size
}

type batchPos struct {
	lo, hi int
	w      float64
}

// ErrBatchTooLarge is returned for a batch larger than the largest measured one (contract §4: not allowed).
var ErrBatchTooLarge = errors.New("batch larger than the largest measured batch")

// NewTable builds the interpolation table of a validated profile. Points measured more than once (the workers of
// a co-located group) are averaged.
func NewTable(p *profile.Profile) *Table {
	type pt struct {
		batch int
		size  float64
	}
	sums := map[profile.Key]map[pt][2]float64{}
	var keys []profile.Key
	for i := range p.Measurements {
		m := &p.Measurements[i]
		k := m.Key()
		if sums[k] == nil {
			sums[k] = map[pt][2]float64{}
			keys = append(keys, k)
		}
		s := sums[k][pt{m.Batch, m.Size}]
		sums[k][pt{m.Batch, m.Size}] = [2]float64{s[0] + m.LatencyMs, s[1] + 1}
	}
	t := &Table{keys: keys, curves: map[profile.Key]*Curve{}}
	for _, k := range keys {
		byBatch := map[int]*row{}
		for p, s := range sums[k] {
			r := byBatch[p.batch]
			if r == nil {
				r = &row{batch: p.batch}
				byBatch[p.batch] = r
			}
			r.sizes = append(r.sizes, p.size)
			r.lat = append(r.lat, s[0]/s[1])
		}
		c := &Curve{Key: k}
		for _, r := range byBatch {
			sortRow(r)
			c.rows = append(c.rows, *r)
		}
		slices.SortFunc(c.rows, func(a, b row) int { return a.batch - b.batch })
		c.index()
		t.curves[k] = c
	}
	return t
}

func sortRow(r *row) {
	idx := make([]int, len(r.sizes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case r.sizes[a] < r.sizes[b]:
			return -1
		case r.sizes[a] > r.sizes[b]:
			return 1
		}
		return 0
	})
	s, l := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		s[i], l[i] = r.sizes[j], r.lat[j]
	}
	r.sizes, r.lat = s, l
}

func (c *Curve) index() {
	maxB := c.rows[len(c.rows)-1].batch
	c.byBatch = make([]batchPos, maxB+1)
	j := 0
	for n := 1; n <= maxB; n++ {
		for j+1 < len(c.rows) && c.rows[j+1].batch <= n {
			j++
		}
		switch {
		case n <= c.rows[0].batch:
			c.byBatch[n] = batchPos{0, 0, 0} // below the smallest measured batch: its latency
		case c.rows[j].batch == n:
			c.byBatch[n] = batchPos{j, j, 0}
		default:
			lo, hi := c.rows[j], c.rows[j+1]
			c.byBatch[n] = batchPos{j, j + 1, float64(n-lo.batch) / float64(hi.batch-lo.batch)}
		}
	}
}

// Keys lists the measured configurations in the order they first appear in the profile.
func (t *Table) Keys() []profile.Key { return t.keys }

// Curve returns the curve of a configuration.
func (t *Table) Curve(k profile.Key) (*Curve, bool) {
	c, ok := t.curves[k]
	return c, ok
}

// LambdaSource says where the Lambda curves of a table come from.
type LambdaSource int

const (
	// NoLambda: the profile has neither Lambda nor CPU measurements with a vCPU count.
	NoLambda LambdaSource = iota
	// Measured on Lambda on the architecture asked for (hardware "lambda-<arch>").
	Measured
	// OtherArch: measured on Lambda, but not on hardware that names the architecture asked for.
	OtherArch
	// EmulatedFromCPU: no Lambda measurements; CPU measurements with k vCPUs stand for Lambda at k × 1,769 MB.
	EmulatedFromCPU
)

// Lambda returns the Lambda curves, one per memory size (ascending), and where they come from. It prefers
// measurements whose hardware names the architecture ("lambda-arm64"), then any Lambda measurements; a profile
// with none is emulated from its CPU measurements by Lambda's CPU share — one vCPU per 1,769 MB, so k threads
// stand for min(k × 1,769, 10,240) MB (the first CPU configuration of each vCPU count is used). A measurement with
// more vCPUs than Lambda's largest size gives (5.8; 6 is let through, 3.6 % over) is not emulated: Lambda could not
// run it that fast.
func (t *Table) Lambda(arch string) ([]*Curve, LambdaSource) {
	pick := func(want func(k profile.Key) bool) []*Curve {
		seen := map[int]bool{}
		var curves []*Curve
		for _, k := range t.keys {
			if k.Platform != profile.Lambda || seen[k.MemoryMB] || !want(k) {
				continue
			}
			seen[k.MemoryMB] = true
			curves = append(curves, t.curves[k])
		}
		return curves
	}
	curves, src := pick(func(k profile.Key) bool { return k.Hardware == "lambda-"+arch }), Measured
	if len(curves) == 0 {
		curves, src = pick(func(profile.Key) bool { return true }), OtherArch
	}
	if len(curves) == 0 {
		curves, src = t.emulatedLambda(arch), EmulatedFromCPU
	}
	if len(curves) == 0 {
		return nil, NoLambda
	}
	slices.SortFunc(curves, func(a, b *Curve) int { return a.Key.MemoryMB - b.Key.MemoryMB })
	return curves, src
}

// MBPerVCPU is Lambda's memory per vCPU of CPU share.
const MBPerVCPU = 1769

// maxLambdaMB is Lambda's largest memory size.
const maxLambdaMB = 10240

func (t *Table) emulatedLambda(arch string) []*Curve {
	seen := map[int]bool{}
	var out []*Curve
	for _, k := range t.keys {
		if k.Platform != profile.CPU || k.VCPUs < 1 || k.VCPUs != math.Trunc(k.VCPUs) || k.VCPUs*MBPerVCPU > maxLambdaMB*1.05 {
			continue
		}
		mb := min(int(k.VCPUs)*MBPerVCPU, maxLambdaMB)
		if seen[mb] {
			continue
		}
		seen[mb] = true
		c := *t.curves[k]
		c.Key = profile.Key{Platform: profile.Lambda, Hardware: "lambda-" + arch, MemoryMB: mb, DType: k.DType}
		out = append(out, &c)
	}
	return out
}

// MaxBatch is the largest measured batch size.
func (c *Curve) MaxBatch() int { return len(c.byBatch) - 1 }

// Batches lists the measured batch sizes.
func (c *Curve) Batches() []int {
	out := make([]int, len(c.rows))
	for i, r := range c.rows {
		out[i] = r.batch
	}
	return out
}

// Sizes lists the distinct measured request sizes, ascending.
func (c *Curve) Sizes() []float64 {
	var out []float64
	for _, r := range c.rows {
		out = append(out, r.sizes...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Latency returns the service time in ms of a batch of n requests padded to size, by contract §4: linear
// between measured batch sizes and between measured sizes; below the smallest measured size, that size's
// latency; above the largest, linear extrapolation from the last two. A batch below the smallest measured batch
// takes that batch's latency; one above the largest is an error.
func (c *Curve) Latency(n int, size float64) (float64, error) {
	if n < 1 {
		return 0, fmt.Errorf("batch %d: must be at least 1", n)
	}
	if n >= len(c.byBatch) {
		return 0, fmt.Errorf("%w: batch %d on %s (largest %d)", ErrBatchTooLarge, n, c.Key, c.MaxBatch())
	}
	return c.At(n, size), nil
}

// At is Latency for a batch size known to be in 1…MaxBatch (it panics otherwise): the hot path of replays.
func (c *Curve) At(n int, size float64) float64 {
	p := c.byBatch[n]
	l := c.rows[p.lo].at(size)
	if p.w == 0 {
		return l
	}
	return l + p.w*(c.rows[p.hi].at(size)-l)
}

func (r *row) at(size float64) float64 {
	s := r.sizes
	n := len(s)
	if n == 1 || size <= s[0] {
		return r.lat[0] // below the smallest size, or one measured size: nothing to extrapolate from
	}
	i := n - 2 // above the largest size: extrapolate along the last segment
	if size < s[n-1] {
		i = searchFloat(s, size) - 1 // s[i] ≤ size < s[i+1]
	}
	x0, x1 := s[i], s[i+1]
	y0, y1 := r.lat[i], r.lat[i+1]
	// A falling last segment (measurement noise) must not extrapolate to a negative time.
	return math.Max(y0+(size-x0)/(x1-x0)*(y1-y0), 0)
}

// searchFloat returns the index of the first element > x (a linear scan for short rows, binary search otherwise).
func searchFloat(s []float64, x float64) int {
	if len(s) <= 16 {
		for i, v := range s {
			if v > x {
				return i
			}
		}
		return len(s)
	}
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
