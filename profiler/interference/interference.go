// Package interference models what sharing a GPU does to a batch's latency, so that a plan can put several
// services' workers on one GPU and still predict every batch's service time.
//
// A batch that takes L ms alone splits into launch-bound time a — kernel launches, synchronisation, host work,
// which co-located workers overlap freely — and SM-bound work w, which they contend for:
//
//	w = min(k × n × size, L),  a = L − w
//
// where k is the GPU's marginal latency per token for the model, read off the solo profile's large shapes (on an
// H100 a bert-base batch is launch-bound, ~5 ms whatever its shape, until ~8k tokens; beyond, it grows by k per
// token). A worker with SM share p, starting a batch while the co-located workers in B are busy (itself
// included), takes
//
//	exclusive:   L
//	time-slice:  L + c_ts  × (|B| − 1) × w                       contexts take turns on all SMs
//	MPS:         L + c_mps × (max(1, Σ_{j∈B} p_j) / p − 1) × w   SMs split by CUDA_MPS_ACTIVE_THREAD_PERCENTAGE
//	MIG:         L + (1/p − 1) × w                               a slice is a smaller GPU, isolated
//
// c_ts and c_mps are fitted to co-location measurements (N workers running back-to-back batches, as
// `profile --colocate … --sharing …` and the shared H100 data record them), together with the host gap g between
// one worker's back-to-back batches, by least squares on the relative error of each configuration's aggregate
// throughput (N workers / (batch time + g)). MIG has no co-location data to fit and uses the
// isolated-slice rule as it stands.
package interference

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/inferplan/inferplan/profiler/latency"
)

// Mode is how a GPU is shared.
type Mode string

const (
	Exclusive Mode = "exclusive"  // one worker has the GPU
	TimeSlice Mode = "time-slice" // several processes, CUDA's default context switching
	MPS       Mode = "mps"        // CUDA MPS, each worker limited to a share of the SMs
	MIG       Mode = "mig"        // Multi-Instance GPU slices
)

// ParseMode reads a sharing mode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Exclusive, TimeSlice, MPS, MIG:
		return m, nil
	}
	return "", fmt.Errorf("sharing %q: want exclusive, time-slice, mps or mig", s)
}

// Model is a fitted interference model.
type Model struct {
	GapMs     float64 `json:"gap_ms"`     // host time between one worker's back-to-back batches
	TimeSlice float64 `json:"time_slice"` // c_ts
	MPS       float64 `json:"mps"`        // c_mps
	Source    string  `json:"source"`
	// Rows are the configurations it was fitted to, with the leave-one-out error of each.
	Rows []Row `json:"rows,omitempty"`
}

// Latency is the service time of a batch whose solo latency is solo ms, work ms of it SM-bound, on a worker with
// SM share p (1 when it may use them all) under mode, started while busy co-located workers (itself included)
// hold busyShares of the SMs between them.
func (m *Model) Latency(mode Mode, solo, work, p float64, busy int, busyShares float64) float64 {
	switch mode {
	case TimeSlice:
		return solo + m.TimeSlice*float64(max(busy-1, 0))*work
	case MPS:
		return solo + m.MPS*(math.Max(1, busyShares)/p-1)*work
	case MIG:
		return solo + (1/p-1)*work
	}
	return solo
}

// Work is the SM-bound part of a batch of n requests padded to size that takes solo ms alone, for a GPU whose
// marginal latency is slope ms per token.
func Work(slope float64, n int, size, solo float64) float64 {
	return math.Min(slope*float64(n)*size, solo)
}

// Slope is a solo curve's marginal latency per token: the least-squares slope of latency over tokens (n × size)
// among its points of at least half the largest measured token count — the large shapes, where a GPU is
// compute-bound. It is 0 for a curve with a single token count there.
func Slope(c *latency.Curve) float64 {
	pts := latency.CurvePoints(c)
	maxT := 0.0
	for _, p := range pts {
		maxT = math.Max(maxT, float64(p.N)*p.Size)
	}
	var sx, sy, sxx, sxy, n float64
	for _, p := range pts {
		t := float64(p.N) * p.Size
		if t < maxT/2 {
			continue
		}
		sx, sy, sxx, sxy, n = sx+t, sy+p.LatencyMs, sxx+t*t, sxy+t*p.LatencyMs, n+1
	}
	den := n*sxx - sx*sx
	if n < 2 || den <= 0 {
		return 0
	}
	return math.Max((n*sxy-sx*sy)/den, 0)
}

// Row is one co-location configuration: N workers of one shape under one sharing setting, with the aggregate
// throughput they measured and what the model predicts.
type Row struct {
	Hardware  string  `json:"hardware"`
	Mode      Mode    `json:"sharing"`
	Workers   int     `json:"colocated"`
	MPSPct    float64 `json:"mps_active_thread_pct,omitempty"`
	Batch     int     `json:"batch"`
	Size      float64 `json:"size"`
	SoloMs    float64 `json:"solo_ms"` // the solo profile's latency of the shape
	WorkMs    float64 `json:"work_ms"` // its SM-bound part
	Measured  float64 `json:"measured_batches_per_s"`
	Predicted float64 `json:"predicted_batches_per_s"` // by the model fitted to every row
	// LOOError is the relative error of the prediction by the model fitted to every other row.
	LOOError float64 `json:"loo_error"`
}

// share is a row's SM share per worker (1 unless MPS limits it).
func (r *Row) share() float64 {
	if r.Mode == MPS && r.MPSPct > 0 {
		return r.MPSPct / 100
	}
	return 1
}

// terms are the row's period's coefficients on (g, c_ts, c_mps) beyond the solo latency: the period is
// solo + g + c × excess × work, every worker identical and always busy.
func (r *Row) terms() [3]float64 {
	switch r.Mode {
	case TimeSlice:
		return [3]float64{1, float64(r.Workers-1) * r.WorkMs, 0}
	case MPS:
		p := r.share()
		return [3]float64{1, 0, (math.Max(1, float64(r.Workers)*p)/p - 1) * r.WorkMs}
	}
	return [3]float64{1, 0, 0}
}

func (m *Model) period(r *Row) float64 {
	t := r.terms()
	return r.SoloMs + t[0]*m.GapMs + t[1]*m.TimeSlice + t[2]*m.MPS
}

// Throughput is the aggregate batches per second the model predicts for a row.
func (m *Model) Throughput(r *Row) float64 {
	return float64(r.Workers) * 1000 / m.period(r)
}

// ErrTooFewRows means the rows cannot determine the model.
var ErrTooFewRows = errors.New("interference: too few co-location configurations to fit the model")

// Fit fits g, c_ts and c_mps to the rows (SoloMs, WorkMs and Measured set): least squares on the relative error
// of each configuration's aggregate throughput — linear least squares on the periods' relative error gives the
// start, Gauss–Newton the rest — then refits without each row in turn for its leave-one-out error. A sharing mode
// without rows keeps its coefficient at 1 (work serialises); no coefficient goes below 0.
func Fit(rows []Row, source string) (*Model, error) {
	if len(rows) < 3 {
		return nil, ErrTooFewRows
	}
	for i := range rows {
		if r := &rows[i]; !(r.Measured > 0) || r.Workers < 1 || !(r.SoloMs > 0) {
			return nil, fmt.Errorf("interference: row %d (%s × %d, %d×%g) has no throughput or solo latency", i, r.Mode, r.Workers, r.Batch, r.Size)
		}
	}
	m, err := fit(rows, -1)
	if err != nil {
		return nil, err
	}
	m.Source = source
	m.Rows = slices.Clone(rows)
	for i := range m.Rows {
		r := &m.Rows[i]
		r.Predicted = round3(m.Throughput(r))
		loo, err := fit(rows, i)
		if err != nil {
			r.LOOError = math.NaN()
			continue
		}
		r.LOOError = round4(loo.Throughput(r)/r.Measured - 1)
	}
	return m, nil
}

// fit fits the model to every row but skip (none when −1).
func fit(rows []Row, skip int) (*Model, error) {
	var use []*Row
	var used [3]bool
	for i := range rows {
		if i == skip {
			continue
		}
		use = append(use, &rows[i])
		t := rows[i].terms()
		for j := range t {
			used[j] = used[j] || t[j] != 0
		}
	}
	// a coefficient no row informs stays at its neutral value and leaves the regression
	theta := [3]float64{0, 1, 1}
	var cols []int
	for j := range used {
		if used[j] {
			cols = append(cols, j)
		}
	}
	if len(use) < len(cols) {
		return nil, ErrTooFewRows
	}
	// start: the periods are linear in θ, so their relative error has a closed-form least squares
	a := mat.NewDense(len(use), len(cols), nil)
	b := mat.NewVecDense(len(use), nil)
	for i, r := range use {
		t := r.terms()
		meas := float64(r.Workers) * 1000 / r.Measured
		y := meas - r.SoloMs
		for j := range t {
			if !used[j] {
				y -= t[j] * theta[j]
			}
		}
		for k, j := range cols {
			a.Set(i, k, t[j]/meas)
		}
		b.SetVec(i, y/meas)
	}
	step, err := solveLS(a, b)
	if err != nil {
		return nil, err
	}
	for k, j := range cols {
		theta[j] = math.Max(step.AtVec(k), 0)
	}
	// Gauss–Newton on the throughputs' relative error r_i = X̂_i/X_i − 1, X̂_i = n·1000/P_i(θ):
	// ∂r_i/∂θ_j = −(X̂_i/X_i)·t_ij/P_i
	for it := 0; it < 20; it++ {
		for i, r := range use {
			t := r.terms()
			p := r.SoloMs + t[0]*theta[0] + t[1]*theta[1] + t[2]*theta[2]
			ratio := float64(r.Workers) * 1000 / p / r.Measured
			for k, j := range cols {
				a.Set(i, k, -ratio*t[j]/p)
			}
			b.SetVec(i, -(ratio - 1))
		}
		step, err := solveLS(a, b)
		if err != nil {
			return nil, err
		}
		moved := 0.0
		for k, j := range cols {
			next := math.Max(theta[j]+step.AtVec(k), 0)
			moved = math.Max(moved, math.Abs(next-theta[j]))
			theta[j] = next
		}
		if moved < 1e-9 {
			break
		}
	}
	return &Model{GapMs: round4(theta[0]), TimeSlice: round4(theta[1]), MPS: round4(theta[2])}, nil
}

func solveLS(a *mat.Dense, b *mat.VecDense) (*mat.VecDense, error) {
	var qr mat.QR
	qr.Factorize(a)
	var sol mat.VecDense
	if err := qr.SolveVecTo(&sol, false, b); err != nil {
		return nil, fmt.Errorf("interference: %w", err)
	}
	return &sol, nil
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
func round4(x float64) float64 { return math.Round(x*10000) / 10000 }
