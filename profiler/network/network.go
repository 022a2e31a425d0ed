// Package network measures a channel's per-message latency and bandwidth for real, between worker processes:
// direct TCP (on loopback here, between hosts where the workers run there) or through a Redis server. The
// result folds into the channel model's parameters, which the planner then uses in place of FMI's defaults.
//
// Three measurements, each in its own barrier-separated phase:
//   - latency: ping-pong of one-byte messages between workers 0 and 1; one-way latency is half the median
//     round trip;
//   - bandwidth: worker 0 sends messages of several sizes to worker 1, which acknowledges each; a least-squares
//     line through the median times gives the bandwidth (one over the slope);
//   - aggregate: every worker exchanges a message with every other at once (a pairwise all-to-all, as a
//     shuffle does); what each worker then gets is what the channel gives when everyone sends, and where it is
//     less than one stream's bandwidth the channel has an aggregate limit.
package network

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/resp"
	"github.com/inferplan/inferplan/planner/job/channel"
)

// Options configure a measurement.
type Options struct {
	Channel  string // channel.Direct or channel.Redis
	Peers    int    // worker processes, at least 2
	Redis    resp.Endpoint
	Launcher cluster.Launcher
	// Sizes are the message sizes of the bandwidth fit, in bytes.
	Sizes []int
	// Reps is how many times each size is sent; the median counts.
	Reps int
	// PingPongs is the number of one-byte round trips for the latency.
	PingPongs int
	// AllToAllBytes is the message every pair exchanges in the aggregate phase, AllToAllReps times (the median
	// counts).
	AllToAllBytes int
	AllToAllReps  int
	Now           func() time.Time
}

// Defaults of a measurement that takes a few seconds on a laptop.
var (
	DefaultSizes         = []int{64 << 10, 1 << 20, 4 << 20, 16 << 20}
	DefaultReps          = 5
	DefaultPingPongs     = 200
	DefaultAllToAllBytes = 8 << 20
	DefaultAllToAllReps  = 3
)

// Point is a message size and the median time to send it and get the acknowledgement back.
type Point struct {
	Bytes   int     `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// Result is what a measurement found.
type Result struct {
	Channel string `json:"channel"`
	Peers   int    `json:"peers"`
	// LatencyS is one message's one-way latency: half the median ping-pong round trip.
	LatencyS float64 `json:"latency_s"`
	// BandwidthBps is one stream's bandwidth: one over the slope of time against size.
	BandwidthBps  float64 `json:"bandwidth_bytes_per_s"`
	FitInterceptS float64 `json:"fit_intercept_s"`
	FitR2         float64 `json:"fit_r2"`
	Points        []Point `json:"points"`
	// SetupS is the mean time to connect a pair of workers (direct: dial and hello through the peer table the
	// rendezvous handed out).
	SetupS float64 `json:"setup_s,omitempty"`
	// AllToAllS is how long the all-to-all of AllToAllBytes per pair took; PerWorkerBps is what each worker
	// got then, after the message latencies, and AggregateBps all workers together.
	AllToAllBytes int     `json:"all_to_all_bytes"`
	AllToAllS     float64 `json:"all_to_all_s"`
	PerWorkerBps  float64 `json:"per_worker_bytes_per_s"`
	AggregateBps  float64 `json:"aggregate_bytes_per_s"`
	// Where and when.
	Host        string `json:"host"`
	RedisServer string `json:"redis_server,omitempty"`
	MeasuredAt  string `json:"measured_at"`
}

// task is what every worker is told.
type task struct {
	Channel       string        `json:"channel"`
	Sizes         []int         `json:"sizes"`
	Reps          int           `json:"reps"`
	PingPongs     int           `json:"ping_pongs"`
	AllToAllBytes int           `json:"all_to_all_bytes"`
	AllToAllReps  int           `json:"all_to_all_reps"`
	Redis         resp.Endpoint `json:"redis"`
	Prefix        string        `json:"prefix"`
}

// workerResult is what a worker reports.
type workerResult struct {
	SetupS    []float64         `json:"setup_s,omitempty"`
	RTTs      []float64         `json:"rtts,omitempty"`
	Transfers map[int][]float64 `json:"transfers,omitempty"`
}

// Measure runs the measurement with real worker processes.
func Measure(ctx context.Context, o Options) (*Result, error) {
	if o.Channel != channel.Direct && o.Channel != channel.Redis {
		return nil, fmt.Errorf("network: channel %q: want direct or redis", o.Channel)
	}
	if o.Peers < 2 {
		return nil, fmt.Errorf("network: %d peers: a measurement needs at least 2", o.Peers)
	}
	if len(o.Sizes) == 0 {
		o.Sizes = DefaultSizes
	}
	if len(o.Sizes) < 2 {
		return nil, fmt.Errorf("network: the bandwidth fit needs at least two message sizes")
	}
	o.Reps = cmpOr(o.Reps, DefaultReps)
	o.PingPongs = cmpOr(o.PingPongs, DefaultPingPongs)
	o.AllToAllBytes = cmpOr(o.AllToAllBytes, DefaultAllToAllBytes)
	o.AllToAllReps = cmpOr(o.AllToAllReps, DefaultAllToAllReps)
	if o.Now == nil {
		o.Now = time.Now
	}
	t := task{Channel: o.Channel, Sizes: o.Sizes, Reps: o.Reps, PingPongs: o.PingPongs, AllToAllBytes: o.AllToAllBytes, AllToAllReps: o.AllToAllReps,
		Redis: o.Redis, Prefix: fmt.Sprintf("inferplan:net:%d:%d", os.Getpid(), o.Now().UnixNano())}
	res, err := cluster.Run(ctx, o.Launcher, o.Peers, t)
	if err != nil {
		if o.Channel == channel.Redis {
			cleanRedis(o.Redis, t.Prefix, o.Peers)
		}
		return nil, fmt.Errorf("network %s: %w", o.Channel, err)
	}
	ws := make([]workerResult, len(res.Workers))
	for i, raw := range res.Workers {
		if err := json.Unmarshal(raw, &ws[i]); err != nil {
			return nil, fmt.Errorf("network: worker %d result: %w", i, err)
		}
	}
	r := &Result{Channel: o.Channel, Peers: o.Peers, AllToAllBytes: o.AllToAllBytes, MeasuredAt: o.Now().UTC().Format(time.RFC3339)}
	r.LatencyS = median(ws[0].RTTs) / 2
	var xs, ys []float64
	for _, s := range o.Sizes {
		m := median(ws[0].Transfers[s])
		r.Points = append(r.Points, Point{Bytes: s, Seconds: m})
		xs, ys = append(xs, float64(s)), append(ys, m)
	}
	a, b, r2 := Fit(xs, ys)
	if !(b > 0) {
		return nil, fmt.Errorf("network %s: time did not grow with message size (slope %g s/byte): the sizes are too small to see the bandwidth; try larger --sizes", o.Channel, b)
	}
	r.FitInterceptS, r.BandwidthBps, r.FitR2 = a, 1/b, r2
	var setups []float64
	for _, w := range ws {
		setups = append(setups, w.SetupS...)
	}
	if len(setups) > 0 {
		r.SetupS = mean(setups)
	}
	var a2a []float64
	for _, ph := range res.Phases {
		if strings.HasPrefix(ph.Name, "alltoall") {
			a2a = append(a2a, ph.Seconds)
		}
	}
	r.AllToAllS = median(a2a)
	n := float64(o.Peers)
	if busy := r.AllToAllS - (n-1)*r.LatencyS; busy > 0 {
		r.PerWorkerBps = (n - 1) * float64(o.AllToAllBytes) / busy
		r.AggregateBps = n * r.PerWorkerBps
	}
	return r, nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Apply writes the measurement into p's section for the channel: latency, bandwidth, set-up, and the aggregate
// when all workers exchanging at once got less than one stream each (0, no limit, otherwise).
func (r *Result) Apply(p *channel.Params) {
	l := channel.Link{LatencyS: r.LatencyS, BandwidthBps: r.BandwidthBps}
	if r.PerWorkerBps > 0 && r.PerWorkerBps < r.BandwidthBps {
		l.AggregateBps = r.AggregateBps
	}
	switch r.Channel {
	case channel.Direct:
		p.Direct.Link = l
		p.Direct.SetupS = r.SetupS
	case channel.Redis:
		p.Redis.Link = l
		p.Redis.Node = "custom"
	}
}

// Fit is the least-squares line y = a + b·x and its R².
func Fit(xs, ys []float64) (a, b, r2 float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / n, 0, 0
	}
	b = (n*sxy - sx*sy) / den
	a = (sy - b*sx) / n
	my := sy / n
	var ssr, sst float64
	for i := range xs {
		e := ys[i] - (a + b*xs[i])
		ssr += e * e
		sst += (ys[i] - my) * (ys[i] - my)
	}
	if sst > 0 {
		r2 = 1 - ssr/sst
	}
	return a, b, r2
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// WorkerMain is a worker process: args are the ones cluster.Run passes.
func WorkerMain(ctx context.Context, args []string) error {
	var t task
	m, ln, err := cluster.JoinFromArgs(ctx, args, &t)
	if err != nil {
		return err
	}
	defer ln.Close()
	var w worker
	switch t.Channel {
	case channel.Direct:
		w, err = newDirect(ctx, m, ln)
	case channel.Redis:
		w, err = newRedis(ctx, m, t)
	default:
		err = fmt.Errorf("unknown channel %q", t.Channel)
	}
	if err != nil {
		m.Fail(err)
		return err
	}
	defer w.close()
	res, err := run(m, t, w)
	if err != nil {
		m.Fail(err)
		return err
	}
	return m.Done(res)
}

// worker is one channel's side of the measurement.
type worker interface {
	setups() []float64
	send(peer int, payload []byte) error
	recv(peer int) ([]byte, error)
	// allToAll exchanges payload with every peer.
	allToAll(payload []byte) error
	close()
}

func run(m *cluster.Member, t task, w worker) (workerResult, error) {
	var res workerResult
	res.SetupS = w.setups()
	if err := m.Barrier("connect"); err != nil {
		return res, err
	}
	one := []byte{1}
	// latency: workers 0 and 1 play ping-pong
	switch m.Rank {
	case 0:
		for range t.PingPongs {
			start := time.Now()
			if err := w.send(1, one); err != nil {
				return res, err
			}
			if _, err := w.recv(1); err != nil {
				return res, err
			}
			res.RTTs = append(res.RTTs, time.Since(start).Seconds())
		}
	case 1:
		for range t.PingPongs {
			if _, err := w.recv(0); err != nil {
				return res, err
			}
			if err := w.send(0, one); err != nil {
				return res, err
			}
		}
	}
	if err := m.Barrier("pingpong"); err != nil {
		return res, err
	}
	// bandwidth: worker 0 sends each size, worker 1 acknowledges
	res.Transfers = map[int][]float64{}
	for _, size := range t.Sizes {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i)
		}
		for range t.Reps {
			switch m.Rank {
			case 0:
				start := time.Now()
				if err := w.send(1, payload); err != nil {
					return res, err
				}
				if _, err := w.recv(1); err != nil {
					return res, err
				}
				res.Transfers[size] = append(res.Transfers[size], time.Since(start).Seconds())
			case 1:
				got, err := w.recv(0)
				if err != nil {
					return res, err
				}
				if len(got) != size {
					return res, fmt.Errorf("received %d bytes, want %d", len(got), size)
				}
				if err := w.send(0, one); err != nil {
					return res, err
				}
			}
		}
	}
	if err := m.Barrier("bandwidth"); err != nil {
		return res, err
	}
	payload := make([]byte, t.AllToAllBytes)
	for i := range max(t.AllToAllReps, 1) {
		if err := w.allToAll(payload); err != nil {
			return res, err
		}
		if err := m.Barrier(fmt.Sprintf("alltoall-%d", i+1)); err != nil {
			return res, err
		}
	}
	if m.Rank != 0 {
		res.Transfers = nil
	}
	return res, nil
}

type direct struct {
	m      *cluster.Member
	mesh   *cluster.Mesh
	setupS []float64
}

func newDirect(ctx context.Context, m *cluster.Member, ln net.Listener) (*direct, error) {
	mesh, setups, err := m.ConnectMesh(ctx, ln)
	if err != nil {
		return nil, err
	}
	d := &direct{m: m, mesh: mesh}
	for _, s := range setups {
		d.setupS = append(d.setupS, s.Seconds())
	}
	return d, nil
}

func (d *direct) setups() []float64                   { return d.setupS }
func (d *direct) send(peer int, payload []byte) error { return d.mesh.Send(peer, payload) }
func (d *direct) recv(peer int) ([]byte, error)       { return d.mesh.Recv(peer) }
func (d *direct) close()                              { d.mesh.Close() }
func (d *direct) allToAll(payload []byte) error {
	n, r := d.m.N, d.m.Rank
	for round := 1; round < n; round++ {
		if _, err := d.mesh.Exchange((r+round)%n, payload, (r-round+n)%n); err != nil {
			return err
		}
	}
	return nil
}

type redis struct {
	ctx    context.Context
	m      *cluster.Member
	c      *resp.Conn
	prefix string
	setupS []float64
}

func newRedis(ctx context.Context, m *cluster.Member, t task) (*redis, error) {
	start := time.Now()
	c, err := resp.Dial(ctx, t.Redis)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return &redis{ctx: ctx, m: m, c: c, prefix: t.Prefix, setupS: []float64{time.Since(start).Seconds()}}, nil
}

// inbox is the list messages from one worker to another go through: one list per pair keeps the measurement's
// phases from reading each other's messages.
func (r *redis) inbox(from, to int) string {
	return r.prefix + ":" + strconv.Itoa(from) + ":" + strconv.Itoa(to)
}

func (r *redis) setups() []float64 { return r.setupS }
func (r *redis) send(peer int, payload []byte) error {
	return r.c.RPush(r.ctx, r.inbox(r.m.Rank, peer), payload)
}
func (r *redis) recv(peer int) ([]byte, error) {
	_, v, err := r.c.BLPop(r.ctx, 30*time.Second, r.inbox(peer, r.m.Rank))
	return v, err
}
func (r *redis) close() { r.c.Close() }

// allToAll pushes one message to each peer's inbox, then pops n-1 from its own, whichever arrive first: the
// same exchange the shuffle benchmark does.
func (r *redis) allToAll(payload []byte) error {
	n, me := r.m.N, r.m.Rank
	inbox := func(rank int) string { return r.prefix + ":a2a:" + strconv.Itoa(rank) }
	for k := 1; k < n; k++ {
		if err := r.c.RPush(r.ctx, inbox((me+k)%n), payload); err != nil {
			return err
		}
	}
	for k := 1; k < n; k++ {
		if _, _, err := r.c.BLPop(r.ctx, 30*time.Second, inbox(me)); err != nil {
			return err
		}
	}
	return nil
}

// cleanRedis deletes what a failed measurement may have left in the lists it used (a finished one leaves
// nothing: every message pushed is popped, and Redis deletes an empty list).
func cleanRedis(e resp.Endpoint, prefix string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := resp.Dial(ctx, e)
	if err != nil {
		return
	}
	defer c.Close()
	r := &redis{prefix: prefix}
	var keys []string
	for i := range n {
		keys = append(keys, prefix+":a2a:"+strconv.Itoa(i))
		for j := range n {
			keys = append(keys, r.inbox(i, j))
		}
	}
	_, _ = c.Del(ctx, keys...)
}

// HostDescription says what a measurement ran on.
func HostDescription(model string) string {
	if model == "" {
		model = "unknown CPU"
	}
	return fmt.Sprintf("%s, %d logical CPUs, %s/%s, %s", model, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
