// Package analytic estimates a buffer's cost and latency distribution from its workload model, without replaying
// a trace: the distribution of dispatched batch sizes under a timeout (the arrival-counting CTMC of package
// workload), the largest size in a batch (order statistics of the size distribution), hence the service time,
// the waits inside a batch, the per-request latency distribution, cost per request and padding. A plan's latency
// distribution is the mixture of its buffers' weighted by their traffic. The planner searches with these
// estimates and verifies its answer by replay; the plan reports both side by side.
package analytic

import (
	"math"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/workload"
)

// Service is a latency curve: the service time in ms of a batch of n requests padded to size.
type Service interface {
	At(n int, size float64) float64
}

// Memory is one memory size a buffer can run at, with its latency curve.
type Memory struct {
	MB    int
	Curve Service
	// MaxBatch is the largest batch measured at this memory size.
	MaxBatch int
}

// Prices are the Lambda prices a buffer is billed at.
type Prices struct {
	GBSecondUSD, RequestUSD float64
}

// dispatchBins is the resolution of the full-batch dispatch-time distribution.
const dispatchBins = 24

// Batching is how a buffer forms batches under batch size B and timeout T, which does not depend on memory:
// Q[m] = P(a batch has m requests) for m = 1…B, and for full batches the distribution of the time after opening
// at which the B-th request arrives, as masses over dispatchBins equal bins of [0, T].
type Batching struct {
	B         int
	TimeoutMs float64
	Q         []float64 // index 1…B
	Mass      []float64 // P(the batch is full and leaves in bin g), B ≥ 2
	width     float64   // bin width, ms
	sufMass   []float64 // Σ_{g' ≥ g} Mass
	sufML     []float64 // Σ_{g' ≥ g} Mass·ln(hi/lo) over bins g' ≥ 1
}

// Batchings returns the Batching of every batch size 1…maxB under one timeout, from one transient solution of the
// arrival-counting chain. The batch opens with the phase distribution just after an arrival.
//
// A batch that opens at t0 takes the arrivals in (t0, t0+T] until it holds B requests, so
// P(size = m) = P(N(T) = m−1) for m < B and P(size = B) = P(N(T) ≥ B−1), and a full batch leaves when its B-th
// request arrives: P(S_{B−1} ≤ s) = P(N(s) ≥ B−1).
func Batchings(arr workload.MAP, maxB int, timeoutMs float64) []*Batching {
	ts := make([]float64, dispatchBins+1)
	for g := range ts {
		ts[g] = timeoutMs * float64(g) / dispatchBins / 1000
	}
	K := max(maxB-1, 0)
	counts := arr.Counts(arr.AtArrival(), ts, K) // counts[g][k] = P(N(t_g) = k), counts[g][K] = P(N ≥ K)
	out := make([]*Batching, maxB+1)
	atT := counts[dispatchBins]
	for b := 1; b <= maxB; b++ {
		bt := &Batching{B: b, TimeoutMs: timeoutMs, Q: make([]float64, b+1), width: timeoutMs / dispatchBins}
		rest := 1.0
		for m := 1; m < b; m++ {
			bt.Q[m] = atT[m-1]
			rest -= atT[m-1]
		}
		bt.Q[b] = math.Max(rest, 0)
		if b >= 2 && timeoutMs > 0 {
			// F(s) = P(N(s) ≥ b−1) at each edge; masses are its increments
			bt.Mass = make([]float64, dispatchBins)
			prev := 0.0
			for g := 1; g <= dispatchBins; g++ {
				f := 1.0
				for k := 0; k < b-1; k++ {
					f -= counts[g][k]
				}
				f = math.Max(f, prev)
				bt.Mass[g-1] = f - prev
				prev = f
			}
			bt.sufMass = make([]float64, dispatchBins+1)
			bt.sufML = make([]float64, dispatchBins+1)
			for g := dispatchBins - 1; g >= 0; g-- {
				bt.sufMass[g] = bt.sufMass[g+1] + bt.Mass[g]
				bt.sufML[g] = bt.sufML[g+1]
				if g >= 1 {
					bt.sufML[g] += bt.Mass[g] * math.Log(float64(g+1)/float64(g))
				}
			}
		}
		out[b] = bt
	}
	return out
}

// MeanSize is the mean batch size, E[n].
func (b *Batching) MeanSize() float64 {
	e := 0.0
	for m := 1; m <= b.B; m++ {
		e += float64(m) * b.Q[m]
	}
	return e
}

// WaitCount is E[number of requests in a batch of m requests that wait at most w ms] × P(batch size = m).
//
// A batch closed by its timeout (m < B) waited T since its first request; the other m−1 arrived at uniformly
// distributed times in (0, T] (exact for Poisson arrivals, an approximation for an MMPP) and each waits T minus its
// arrival. A full batch (m = B) leaves at the B-th arrival s: the first request waits s, the last none, and the
// B−2 between them arrived uniformly in (0, s) — within a bin of the dispatch-time distribution s is taken as
// uniform, which gives P(s ≤ w) and E[min(w/s, 1)] in closed form; suffix sums over the bins make it O(1).
func (b *Batching) WaitCount(m int, w float64) float64 {
	if w < 0 {
		return 0
	}
	if m < b.B {
		if b.Q[m] == 0 {
			return 0
		}
		if b.TimeoutMs == 0 {
			return b.Q[m] * float64(m)
		}
		frac := math.Min(w/b.TimeoutMs, 1)
		first := 0.0
		if w >= b.TimeoutMs {
			first = 1
		}
		return b.Q[m] * (first + float64(m-1)*frac)
	}
	q := b.Q[b.B]
	if b.B == 1 || b.Mass == nil || q == 0 {
		return q * float64(b.B)
	}
	if w >= b.TimeoutMs {
		return q * float64(b.B)
	}
	g := min(int(w/b.width), dispatchBins-1)
	lo := float64(g) * b.width
	below := q - b.sufMass[g] // bins wholly below w: every request has waited ≤ w
	// the bin holding w
	pFirst := (w - lo) / b.width
	eMid := 0.0
	if w > 0 {
		eMid = (w - lo + w*math.Log((lo+b.width)/w)) / b.width
	}
	inBin := b.Mass[g] * (pFirst + float64(b.B-2)*eMid)
	// bins wholly above w: the first request waits too long, the middle ones wait ≤ w with E[w/s]
	above := float64(b.B-2) * w / b.width * b.sufML[g+1]
	return q + float64(b.B-1)*below + inBin + above
}

// Prepared is a buffer's workload made ready to evaluate many configurations: the order statistics of its sizes
// for every batch size and its service times and invocation costs at every memory size.
type Prepared struct {
	Sizes    workload.Sizes
	Arrivals workload.MAP
	Requests int
	mems     []Memory
	maxB     int
	pmax     [][]float64 // [m][i] P(largest of m sizes = Values[i])
	emax     []float64   // [m] E[largest of m sizes]
	mean     float64
	svc      [][][]float64 // [memory][m][i] service ms
	cost     [][]float64   // [memory][m] expected invocation cost
}

// Prepare precomputes a workload against a set of memory sizes for batch sizes up to maxB.
func Prepare(arr workload.MAP, sizes workload.Sizes, requests int, mems []Memory, maxB int, pr Prices) *Prepared {
	p := &Prepared{Sizes: sizes, Arrivals: arr, Requests: requests, mems: mems, maxB: maxB, mean: sizes.Mean()}
	p.pmax = make([][]float64, maxB+1)
	p.emax = make([]float64, maxB+1)
	for m := 1; m <= maxB; m++ {
		p.pmax[m] = sizes.MaxDist(m, nil)
		for i, v := range sizes.Values {
			p.emax[m] += v * p.pmax[m][i]
		}
	}
	p.svc = make([][][]float64, len(mems))
	p.cost = make([][]float64, len(mems))
	for k, mem := range mems {
		top := min(maxB, mem.MaxBatch)
		p.svc[k] = make([][]float64, top+1)
		p.cost[k] = make([]float64, top+1)
		for m := 1; m <= top; m++ {
			p.svc[k][m] = make([]float64, len(sizes.Values))
			for i, v := range sizes.Values {
				s := mem.Curve.At(m, v)
				p.svc[k][m][i] = s
				p.cost[k][m] += p.pmax[m][i] * awslambda.InvocationUSD(s, mem.MB, pr.GBSecondUSD, pr.RequestUSD)
			}
		}
	}
	return p
}

// Memories lists the memory sizes the workload was prepared for.
func (p *Prepared) Memories() []Memory { return p.mems }

// Estimate is the analytic estimate of one buffer configuration.
type Estimate struct {
	Batching       *Batching
	Memory         int // index into the prepared memories
	MemoryMB       int
	MeanBatch      float64
	CostPerRequest float64
	PaddingRatio   float64
	p              *Prepared
}

// Evaluate estimates batch size B, timeout and memory k (an index into Memories); b must be the Batching of this
// workload for that B and timeout, and B at most the memory's largest measured batch.
func (p *Prepared) Evaluate(b *Batching, k int) Estimate {
	en := b.MeanSize()
	var cost, pad float64
	for m := 1; m <= b.B; m++ {
		if b.Q[m] == 0 {
			continue
		}
		cost += b.Q[m] * p.cost[k][m]
		pad += b.Q[m] * float64(m) * (p.emax[m] - p.mean)
	}
	e := Estimate{Batching: b, Memory: k, MemoryMB: p.mems[k].MB, MeanBatch: en, CostPerRequest: cost / en, p: p}
	if p.mean > 0 {
		e.PaddingRatio = pad / (en * p.mean)
	}
	return e
}

// Sweep evaluates every batch size 1…maxB at every memory size under one timeout (bs, from Batchings) at one
// latency bound y: cost[k][B] is the cost per request and cdf[k][B] = P(latency ≤ y) at memory k. It gives the
// same numbers as Evaluate and CDF but shares the work: a batch of m < B requests closed by the timeout behaves
// the same whatever B is, so those terms are running sums over m, and each B adds only its full-batch term.
func (p *Prepared) Sweep(bs []*Batching, y float64) (cost, cdf [][]float64) {
	cost = make([][]float64, len(p.mems))
	cdf = make([][]float64, len(p.mems))
	T := bs[len(bs)-1].TimeoutMs
	for k := range p.mems {
		top := len(p.cost[k]) - 1
		cost[k] = make([]float64, top+1)
		cdf[k] = make([]float64, top+1)
		var preCost, preN, preA float64 // Σ over m < B of Q[m]·cost, Q[m]·m and Q[m]·(wait count)
		svc := p.svc[k]
		for b := 1; b <= top; b++ {
			bt := bs[b]
			q := bt.Q[b]
			full := 0.0
			for i, pm := range p.pmax[b] {
				if pm > 0 {
					full += pm * bt.WaitCount(b, y-svc[b][i])
				}
			}
			en := preN + float64(b)*q
			cost[k][b] = (preCost + q*p.cost[k][b]) / en
			cdf[k][b] = math.Min((preA+full)/en, 1)
			if b+1 > top {
				break
			}
			// m = b as a timed-out batch of every larger B: Q[b] = P(N(T) = b−1), the same for all B > b
			qm := bs[b+1].Q[b]
			if qm == 0 {
				continue
			}
			a := 0.0
			for i, pm := range p.pmax[b] {
				w := y - svc[b][i]
				if pm == 0 || w < 0 {
					continue
				}
				if T == 0 {
					a += pm * float64(b)
					continue
				}
				first := 0.0
				if w >= T {
					first = 1
				}
				a += pm * (first + float64(b-1)*math.Min(w/T, 1))
			}
			preCost += qm * p.cost[k][b]
			preN += qm * float64(b)
			preA += qm * a
		}
	}
	return cost, cdf
}

// CDF is the probability that a request's latency (wait + service) is at most y ms.
func (e Estimate) CDF(y float64) float64 {
	b, p := e.Batching, e.p
	svc := p.svc[e.Memory]
	sum := 0.0
	for m := 1; m <= b.B; m++ {
		if b.Q[m] == 0 {
			continue
		}
		for i, pm := range p.pmax[m] {
			if pm > 0 {
				sum += pm * b.WaitCount(m, y-svc[m][i])
			}
		}
	}
	return math.Min(sum/e.MeanBatch, 1)
}

// maxLatency bounds every latency of the buffer: the timeout plus the slowest service time.
func (e Estimate) maxLatency() float64 {
	worst := 0.0
	for m := 1; m <= e.Batching.B; m++ {
		for _, s := range e.p.svc[e.Memory][m] {
			worst = math.Max(worst, s)
		}
	}
	return e.Batching.TimeoutMs + worst
}

// Part is one buffer's estimate and its share of the plan's requests.
type Part struct {
	Estimate Estimate
	Weight   float64
}

// Mixture is a plan's latency distribution: each request sees its buffer's.
type Mixture []Part

// CDF is the share of the plan's requests with latency at most y ms.
func (mx Mixture) CDF(y float64) float64 {
	c := 0.0
	for _, p := range mx {
		c += p.Weight * p.Estimate.CDF(y)
	}
	return c
}

// Percentile is the latency (ms) at percentile pct of the mixture, by bisection to 0.01 ms.
func (mx Mixture) Percentile(pct float64) float64 {
	hi := 0.0
	for _, p := range mx {
		hi = math.Max(hi, p.Estimate.maxLatency())
	}
	lo := 0.0
	target := pct / 100
	for hi-lo > 0.01 {
		mid := (lo + hi) / 2
		if mx.CDF(mid) >= target-1e-12 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// PlanEstimate is the plan-level analytic estimate over requests requests with an SLO of sloMs (method
// "analytic"): expected cost and invocations, attainment, percentiles and padding.
func (mx Mixture) PlanEstimate(requests int, sloMs float64) plan.Estimate {
	e := plan.Estimate{Method: "analytic", Requests: requests}
	var cost, inv, pad, size float64
	for _, p := range mx {
		n := p.Weight * float64(requests)
		cost += n * p.Estimate.CostPerRequest
		inv += n / p.Estimate.MeanBatch
		mean := p.Estimate.p.mean
		pad += n * mean * p.Estimate.PaddingRatio
		size += n * mean
	}
	e.CostUSD = cost
	e.Invocations = math.Round(inv)
	if requests > 0 {
		e.CostPerMillionUSD = cost / float64(requests) * 1e6
	}
	if size > 0 {
		e.PaddingRatio = pad / size
	}
	e.SLOAttainment = mx.CDF(sloMs)
	e.LatencyP50Ms = round2(mx.Percentile(50))
	e.LatencyP95Ms = round2(mx.Percentile(95))
	e.LatencyP99Ms = round2(mx.Percentile(99))
	return e
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
