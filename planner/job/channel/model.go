package channel

import (
	"fmt"
	"math"
)

// Operations a stage can communicate with.
const (
	Shuffle   = "shuffle"   // all-to-all: every worker sends a partition of its data to every other (hash partitioning)
	Allreduce = "allreduce" // every worker ends with the reduction of everyone's message
	Broadcast = "broadcast" // one worker's message reaches every other
	Gather    = "gather"    // one worker receives everyone's message
	Reduce    = "reduce"    // one worker receives the reduction of everyone's message
)

// Ops are the operations, in the order documentation lists them.
var Ops = []string{Shuffle, Allreduce, Broadcast, Gather, Reduce}

// Workers describes where a job runs.
type Workers struct {
	N int
	// NICBps is one worker's own network bandwidth (a Lambda function's, by memory); +Inf or 0 when it does not
	// limit.
	NICBps float64
	// PerHost is the most workers on one host (an EC2 instance); they share HostBps. 1 for Lambda.
	PerHost int
	HostBps float64
}

// Comm is the model's prediction for one communication step.
type Comm struct {
	Seconds float64
	Puts    float64 // messages uploaded to a storage channel (S3 PUT requests)
	Gets    float64 // downloads from a storage channel, polls included (S3 GET requests)
}

// Model predicts communication with a set of parameters.
type Model struct{ P Params }

// Log2Ceil is ⌈log₂ n⌉: the rounds of a binomial tree over n workers (0 for one worker).
func Log2Ceil(n int) int {
	r := 0
	for 1<<r < n {
		r++
	}
	return r
}

func positiveMin(vs ...float64) float64 {
	m := math.Inf(1)
	for _, v := range vs {
		if v > 0 && v < m {
			m = v
		}
	}
	return m
}

func (w Workers) perHost() int {
	if w.PerHost < 1 {
		return 1
	}
	return min(w.PerHost, w.N)
}

// Time predicts one stage's communication: op over channel ch among w's workers. bytes is the data a shuffle
// redistributes in total, or each worker's message for the other operations.
func (m Model) Time(ch, op string, w Workers, bytes float64) (Comm, error) {
	if w.N < 1 {
		return Comm{}, fmt.Errorf("channel: %d workers", w.N)
	}
	if w.N == 1 || bytes == 0 && op == Shuffle {
		return Comm{}, nil // one worker talks to nobody
	}
	switch ch {
	case Direct, EC2:
		return m.peerToPeer(ch, op, w, bytes)
	case Redis, S3:
		return m.storage(ch, op, w, bytes)
	}
	return Comm{}, fmt.Errorf("channel: unknown channel %q", ch)
}

// hop is one message between two workers.
type hop struct{ latency, bps float64 }

func (h hop) time(bytes float64) float64 { return h.latency + bytes/h.bps }

// hops returns the message a worker sends to a peer on another host (remote) and on its own host (local).
// Direct TCP between Lambda functions is always remote; an EC2 worker's remote messages share the instance's
// network with the other workers on it, which send at the same time.
func (m Model) hops(ch string, w Workers) (remote, local hop) {
	if ch == Direct {
		d := m.P.Direct
		r := hop{d.LatencyS, positiveMin(d.BandwidthBps, w.NICBps)}
		return r, r
	}
	e := m.P.EC2
	k := float64(w.perHost())
	remote = hop{e.LatencyS, positiveMin(e.BandwidthBps, w.HostBps/k, w.NICBps)}
	local = hop{e.Local.LatencyS, positiveMin(e.Local.BandwidthBps, e.Local.AggregateBps/k)}
	return remote, local
}

// peerToPeer models direct TCP and EC2 (FMI's PeerToPeer channel). Workers are placed on hosts in blocks of
// consecutive ranks, so in tree round i (partners 2^i apart) a worker talks to its own host while 2^i < PerHost.
func (m Model) peerToPeer(ch, op string, w Workers, bytes float64) (Comm, error) {
	remote, local := m.hops(ch, w)
	k := w.perHost()
	n := w.N
	if ch == Direct {
		k = 1
	}
	round := func(i int) hop {
		if 1<<i < k {
			return local
		}
		return remote
	}
	rounds := Log2Ceil(n)
	var t float64
	switch op {
	case Shuffle:
		// pairwise exchange: n-1 rounds, in round r worker i sends its partition for (i+r) mod n while it
		// receives from (i-r) mod n; a partition is bytes/n², and a worker's k-1 same-host peers are local.
		s := bytes / float64(n*n)
		agg := m.aggregate(ch)
		if agg > 0 {
			remote.bps = positiveMin(remote.bps, agg/float64(n)) // all n workers stream at once
		}
		t = float64(k-1)*local.time(s) + float64(n-k)*remote.time(s)
	case Broadcast, Reduce:
		// binomial tree: ⌈log₂ n⌉ rounds of one message each
		for i := range rounds {
			t += round(i).time(bytes)
		}
	case Allreduce:
		// reduce to one worker, then broadcast (FMI's allreduce with its 2⌈log₂ n⌉ message latencies)
		for i := range rounds {
			t += 2 * round(i).time(bytes)
		}
	case Gather:
		// binomial tree with growing blocks: in round i the root receives min(2^i, n-2^i) workers' messages,
		// n-1 in all
		for i := range rounds {
			blocks := min(1<<i, n-1<<i)
			t += round(i).time(float64(blocks) * bytes)
		}
	default:
		return Comm{}, fmt.Errorf("channel: unknown operation %q", op)
	}
	return Comm{Seconds: t}, nil
}

func (m Model) aggregate(ch string) float64 {
	switch ch {
	case Direct:
		return m.P.Direct.AggregateBps
	case Redis:
		return m.P.Redis.AggregateBps
	case S3:
		return m.P.S3.AggregateBps
	}
	return 0
}

// storage models Redis and S3 (FMI's ClientServer channel): messages are uploaded to the store and downloaded
// by their receivers, FMI's latency(p, c, s) = log₂(p+c)·overhead + p·c·s / min(p·c·bandwidth, aggregate)
// for p producers and c consumers of s bytes each. S3 receivers poll, waiting half a poll interval on average.
// Unlike FMI, a receiver's own network also bounds what it downloads.
func (m Model) storage(ch, op string, w Workers, bytes float64) (Comm, error) {
	var l Link
	var wait, gets float64 = 0, 1
	if ch == Redis {
		l = m.P.Redis.Link
	} else {
		l = m.P.S3.Link
		wait = m.P.S3.PollS / 2
		gets = m.P.S3.ExpectedGets()
	}
	n := float64(w.N)
	bps := positiveMin(l.BandwidthBps, w.NICBps)
	latency := func(p, c, s, endpointBytes float64) float64 {
		agg := positiveMin(p*c*bps, l.AggregateBps)
		transfer := math.Max(p*c*s/agg, endpointBytes/positiveMin(w.NICBps))
		return math.Log2(p+c)*(l.LatencyS+wait) + transfer
	}
	switch op {
	case Shuffle:
		// every worker uploads one object per peer and downloads one from each, one after another; all n
		// workers share the store's aggregate bandwidth
		s := bytes / (n * n)
		b := positiveMin(bps, l.AggregateBps/n)
		msgs := n * (n - 1)
		return Comm{Seconds: (n - 1) * (l.LatencyS + wait + s/b), Puts: msgs, Gets: msgs * gets}, nil
	case Broadcast:
		return Comm{Seconds: latency(1, n-1, bytes, bytes), Puts: 1, Gets: (n - 1) * gets}, nil
	case Gather, Reduce:
		return Comm{Seconds: latency(n-1, 1, bytes, (n-1)*bytes), Puts: n - 1, Gets: (n - 1) * gets}, nil
	case Allreduce:
		up := latency(n-1, 1, bytes, (n-1)*bytes)
		down := latency(1, n-1, bytes, bytes)
		return Comm{Seconds: up + down, Puts: n, Gets: 2 * (n - 1) * gets}, nil
	}
	return Comm{}, fmt.Errorf("channel: unknown operation %q", op)
}

// Setup is the time to connect the workers before the first stage: over direct TCP each worker connects to its
// n-1 peers through the rendezvous server, one after another; in an EC2 cluster a TCP connection costs one round
// trip (local ones over loopback). Storage channels need one connection per worker to the store, in parallel,
// which the per-message latency already covers.
func (m Model) Setup(ch string, w Workers) float64 {
	n := w.N
	switch ch {
	case Direct:
		return float64(n-1) * m.P.Direct.SetupS
	case EC2:
		k := w.perHost()
		return float64(k-1)*2*m.P.EC2.Local.LatencyS + float64(n-k)*2*m.P.EC2.LatencyS
	}
	return 0
}

// RequestsUSD is what a step's storage requests cost (S3 PUTs and GETs; Redis bills by the hour instead).
func (m Model) RequestsUSD(ch string, c Comm) float64 {
	if ch != S3 {
		return 0
	}
	return c.Puts*m.P.S3.PutUSD + c.Gets*m.P.S3.GetUSD
}

// ServerUSD is what the channel's server costs for a job that runs seconds: the rendezvous VM for direct TCP,
// the node for Redis, charged for the job's duration.
func (m Model) ServerUSD(ch string, seconds float64) float64 {
	switch ch {
	case Direct:
		return m.P.Direct.ServerUSDPerHour * seconds / 3600
	case Redis:
		return m.P.Redis.NodeUSDPerHour * seconds / 3600
	}
	return 0
}
