// Package batching is the batch-forming arithmetic of contract §4, which knows nothing of prices or hardware:
// routing requests to size-ranged queues (Lambda buffers, cluster worker groups) and cutting each queue's
// arrivals into batches by a batch size and a timeout. Simulators cost the batches; the runtime forms the same
// batches live. All times are integer microseconds.
package batching

import (
	"math"

	"github.com/inferplan/inferplan/trace"
)

// NoUpperBound is the upper size of a last range that takes every larger size (contract §3.3).
const NoUpperBound = 1e18

// Ranges are the upper sizes of consecutive size ranges, ascending: range i takes sizes up to Ranges[i].
type Ranges []float64

// Index is the range a request of the given size joins: the first whose upper size is at least the size (so a
// size below the first range joins the first, and one between two ranges joins the upper one), or the last range
// for a size above every upper size — no request is ever refused for its size (contract §3.3).
func (r Ranges) Index(size float64) int {
	for i, hi := range r {
		if size <= hi {
			return i
		}
	}
	return len(r) - 1
}

// Route splits requests (in arrival order) by range, keeping arrival order within each.
func Route(r Ranges, reqs []trace.Request) [][]trace.Request {
	parts := make([][]trace.Request, len(r))
	if len(r) == 1 {
		parts[0] = reqs
		return parts
	}
	for _, q := range reqs {
		k := r.Index(q.Size)
		parts[k] = append(parts[k], q)
	}
	return parts
}

// TimeoutMicros is a timeout in integer microseconds: round(timeout_ms × 1000) (contract §4).
func TimeoutMicros(timeoutMs float64) int64 {
	return int64(math.Round(timeoutMs * 1000))
}

// Batch is one batch formed from a queue's requests: requests [Start, End) of that queue.
type Batch struct {
	Start, End int
	Dispatch   int64   // µs
	Max, Sum   float64 // largest size and total size of its requests
	TimedOut   bool    // dispatched by the timeout rather than full
}

// N is the number of requests in the batch.
func (b *Batch) N() int { return b.End - b.Start }

// Padding is the batch's padding: n × its largest size − the sum of its sizes (contract §4.7).
func (b *Batch) Padding() float64 { return float64(b.N())*b.Max - b.Sum }

// Form cuts one queue's requests (in arrival order) into batches by contract §4.1–2, appending to dst:
//   - a batch opens at the arrival t0 of its first request;
//   - it is dispatched at the arrival of its batch-th request or at t0 + timeout, whichever comes first, and a
//     request arriving exactly at t0 + timeout still joins; a zero timeout dispatches at once.
//
// Batches depend only on arrivals, batch size and timeout, so a search can form them once and cost them on any
// hardware.
func Form(reqs []trace.Request, batch int, timeout int64, dst []Batch) []Batch {
	if len(reqs) == 0 {
		return dst
	}
	cur := Batch{Start: 0, Max: reqs[0].Size, Sum: reqs[0].Size}
	t0 := reqs[0].At
	for i := 1; i < len(reqs); i++ {
		q := reqs[i]
		if cur.End = i; i-cur.Start == batch {
			cur.Dispatch = reqs[i-1].At
			dst = append(dst, cur)
			cur, t0 = Batch{Start: i, Max: q.Size, Sum: q.Size}, q.At
			continue
		}
		if q.At > t0+timeout {
			cur.Dispatch, cur.TimedOut = t0+timeout, true
			dst = append(dst, cur)
			cur, t0 = Batch{Start: i, Max: q.Size, Sum: q.Size}, q.At
			continue
		}
		cur.Sum += q.Size
		cur.Max = math.Max(cur.Max, q.Size)
	}
	cur.End = len(reqs)
	if cur.N() == batch {
		cur.Dispatch = reqs[len(reqs)-1].At
	} else {
		cur.Dispatch, cur.TimedOut = t0+timeout, true
	}
	return append(dst, cur)
}
