// Package encoder is a transformer encoder (BERT-style) written in Go on gonum's float32 BLAS: token and position
// embeddings, multi-head self-attention with its real O(s²) cost, a GELU feed-forward block and layer norms, with
// random weights drawn from a seed. It is the built-in model of `inferplan profile`, so profiling works on any
// machine without a server, and its latency has the shape real encoders have: linear plus quadratic in the
// sequence length, sub-linear in the batch size until the cores are busy.
package encoder

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Config is an encoder architecture.
type Config struct {
	Layers, Hidden, Heads, FF int
	MaxPos                    int // longest sequence
	Vocab                     int
}

// vocab is the embedding table size. Lookup cost does not depend on it, so the built-in models keep it small
// (BERT's is 30,522) to save memory.
const vocab = 8192

// Models are the built-in architectures: the sizes of Google's compact BERTs (Turc et al. 2019) and of
// DistilBERT (6 layers of BERT-base).
var Models = map[string]Config{
	"bert-tiny":       {Layers: 2, Hidden: 128, Heads: 2, FF: 512, MaxPos: 512, Vocab: vocab},
	"bert-mini":       {Layers: 4, Hidden: 256, Heads: 4, FF: 1024, MaxPos: 512, Vocab: vocab},
	"distilbert-like": {Layers: 6, Hidden: 768, Heads: 12, FF: 3072, MaxPos: 512, Vocab: vocab},
}

// ModelNames lists the built-in models, sorted.
func ModelNames() []string {
	names := make([]string, 0, len(Models))
	for n := range Models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type layer struct {
	wqkv, wo, w1, w2       []float32 // row-major: in × out
	bqkv, bo, b1, b2       []float32
	ln1g, ln1b, ln2g, ln2b []float32
}

// Model is an encoder with weights. Forward is safe for concurrent use.
type Model struct {
	cfg    Config
	tok    []float32 // vocab × hidden
	pos    []float32 // maxPos × hidden
	lng    []float32 // embedding layer norm
	lnb    []float32
	layers []layer
	// workspaces are reused between forward passes: a pass of 16 × 192 tokens needs ~30 MB of activations, and
	// allocating them every time makes the garbage collector part of what is timed
	workspaces sync.Pool
}

type workspace struct {
	x, qkv, ctx, tmp, ff []float32
	scores               [][]float32
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// New builds a model with weights drawn from N(0, 0.02²) (BERT's initialisation) with the given seed.
func New(cfg Config, seed uint64) (*Model, error) {
	if cfg.Hidden%cfg.Heads != 0 || cfg.Layers < 1 || cfg.FF < 1 || cfg.MaxPos < 1 || cfg.Vocab < 1 {
		return nil, fmt.Errorf("encoder: invalid architecture %+v", cfg)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0xe7c0de))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.02)
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	h := cfg.Hidden
	m := &Model{cfg: cfg, tok: randn(cfg.Vocab * h), pos: randn(cfg.MaxPos * h), lng: ones(h), lnb: make([]float32, h)}
	for l := 0; l < cfg.Layers; l++ {
		m.layers = append(m.layers, layer{
			wqkv: randn(h * 3 * h), bqkv: make([]float32, 3*h),
			wo: randn(h * h), bo: make([]float32, h),
			w1: randn(h * cfg.FF), b1: make([]float32, cfg.FF),
			w2: randn(cfg.FF * h), b2: make([]float32, h),
			ln1g: ones(h), ln1b: make([]float32, h), ln2g: ones(h), ln2b: make([]float32, h),
		})
	}
	return m, nil
}

// Config returns the model's architecture.
func (m *Model) Config() Config { return m.cfg }

// Params is the number of weights.
func (m *Model) Params() int {
	n := len(m.tok) + len(m.pos) + 2*m.cfg.Hidden
	for _, l := range m.layers {
		n += len(l.wqkv) + len(l.wo) + len(l.w1) + len(l.w2) + len(l.bqkv) + len(l.bo) + len(l.b1) + len(l.b2) + 4*m.cfg.Hidden
	}
	return n
}

// Forward runs a batch of token-id sequences, all of the same length (padded by the caller), and returns the
// final hidden states, batch·length rows of Hidden values. threads bounds the goroutines used for the
// per-head attention and the element-wise work; gonum's matrix products use up to GOMAXPROCS.
func (m *Model) Forward(ids [][]int32, threads int) ([]float32, error) {
	return m.ForwardMasked(ids, nil, threads)
}

// ForwardMasked is Forward with an attention mask: sequence b's real tokens are its first lengths[b], and no
// token attends to the padding after them, so a sequence's hidden states do not depend on what it was batched
// with. The work is that of the padded batch. A nil lengths masks nothing.
func (m *Model) ForwardMasked(ids [][]int32, lengths []int, threads int) ([]float32, error) {
	n := len(ids)
	if n == 0 {
		return nil, fmt.Errorf("encoder: empty batch")
	}
	s := len(ids[0])
	if s < 1 || s > m.cfg.MaxPos {
		return nil, fmt.Errorf("encoder: sequence length %d outside 1–%d", s, m.cfg.MaxPos)
	}
	if lengths != nil && len(lengths) != n {
		return nil, fmt.Errorf("encoder: %d lengths for %d sequences", len(lengths), n)
	}
	for b, l := range lengths {
		if l < 1 || l > s {
			return nil, fmt.Errorf("encoder: sequence %d has %d real tokens, outside 1–%d", b, l, s)
		}
	}
	threads = max(threads, 1)
	h, rows := m.cfg.Hidden, n*s
	ws, _ := m.workspaces.Get().(*workspace)
	if ws == nil {
		ws = &workspace{}
	}
	defer m.workspaces.Put(ws)
	ws.x = grow(ws.x, rows*h)
	x := ws.x
	for b, seq := range ids {
		if len(seq) != s {
			return nil, fmt.Errorf("encoder: sequence %d has length %d, want %d (pad the batch)", b, len(seq), s)
		}
		for p, id := range seq {
			if id < 0 || int(id) >= m.cfg.Vocab {
				return nil, fmt.Errorf("encoder: token id %d outside the vocabulary", id)
			}
			row := x[(b*s+p)*h : (b*s+p+1)*h]
			t := m.tok[int(id)*h : (int(id)+1)*h]
			ps := m.pos[p*h : (p+1)*h]
			for j := range row {
				row[j] = t[j] + ps[j]
			}
		}
	}
	layerNorm(x, rows, h, m.lng, m.lnb, threads)
	dh := h / m.cfg.Heads
	ws.qkv = grow(ws.qkv, rows*3*h)
	ws.ctx = grow(ws.ctx, rows*h)
	ws.tmp = grow(ws.tmp, rows*h)
	ws.ff = grow(ws.ff, rows*m.cfg.FF)
	qkv, ctx, tmp, ff := ws.qkv, ws.ctx, ws.tmp, ws.ff
	scale := float32(1 / math.Sqrt(float64(dh)))
	for len(ws.scores) < threads { // one s×s buffer per worker
		ws.scores = append(ws.scores, nil)
	}
	for i := range ws.scores[:threads] {
		ws.scores[i] = grow(ws.scores[i], s*s)
	}
	scores := ws.scores
	for _, l := range m.layers {
		gemm(x, rows, h, l.wqkv, 3*h, qkv)
		addBias(qkv, rows, 3*h, l.bqkv, threads)
		// attention per (batch item, head): softmax(Q Kᵀ/√d) V, the s² part of the cost
		parallel(n*m.cfg.Heads, threads, func(job, worker int) {
			b, hd := job/m.cfg.Heads, job%m.cfg.Heads
			base := b * s * 3 * h
			q := blas32.General{Rows: s, Cols: dh, Stride: 3 * h, Data: qkv[base+hd*dh:]}
			k := blas32.General{Rows: s, Cols: dh, Stride: 3 * h, Data: qkv[base+h+hd*dh:]}
			v := blas32.General{Rows: s, Cols: dh, Stride: 3 * h, Data: qkv[base+2*h+hd*dh:]}
			sc := blas32.General{Rows: s, Cols: s, Stride: s, Data: scores[worker]}
			blas32.Gemm(blas.NoTrans, blas.Trans, scale, q, k, 0, sc)
			keys := s
			if lengths != nil {
				keys = lengths[b]
			}
			for r := 0; r < s; r++ {
				softmax(sc.Data[r*s : r*s+keys])
				clear(sc.Data[r*s+keys : (r+1)*s]) // padding keys get no weight
			}
			out := blas32.General{Rows: s, Cols: dh, Stride: h, Data: ctx[b*s*h+hd*dh:]}
			blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, sc, v, 0, out)
		})
		gemm(ctx, rows, h, l.wo, h, tmp)
		addBias(tmp, rows, h, l.bo, threads)
		addInPlace(x, tmp)
		layerNorm(x, rows, h, l.ln1g, l.ln1b, threads)
		gemm(x, rows, h, l.w1, m.cfg.FF, ff)
		parallel(rows, threads, func(r, _ int) {
			row := ff[r*m.cfg.FF : (r+1)*m.cfg.FF]
			for j, v := range row {
				row[j] = gelu(v + l.b1[j])
			}
		})
		gemm(ff, rows, m.cfg.FF, l.w2, h, tmp)
		addBias(tmp, rows, h, l.b2, threads)
		addInPlace(x, tmp)
		layerNorm(x, rows, h, l.ln2g, l.ln2b, threads)
	}
	return slices.Clone(x), nil // the workspace goes back to the pool
}

// FLOPs is the floating-point work of a forward pass of n sequences of s tokens (multiply-adds counted as 2):
// per layer the QKV, output and feed-forward products (∝ n·s) and the two attention products (∝ n·s²).
func FLOPs(c Config, n, s int) float64 {
	fn, fs, h, ff := float64(n), float64(s), float64(c.Hidden), float64(c.FF)
	perLayer := 2*fn*fs*h*3*h + 2*2*fn*fs*fs*h + 2*fn*fs*h*h + 2*2*fn*fs*h*ff
	return float64(c.Layers) * perLayer
}

// gemm computes c = a·b for row-major a (m×k) and b (k×n).
func gemm(a []float32, m, k int, b []float32, n int, c []float32) {
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas32.General{Rows: m, Cols: k, Stride: k, Data: a},
		blas32.General{Rows: k, Cols: n, Stride: n, Data: b},
		0, blas32.General{Rows: m, Cols: n, Stride: n, Data: c})
}

func addBias(x []float32, rows, cols int, bias []float32, threads int) {
	parallel(rows, threads, func(r, _ int) {
		row := x[r*cols : (r+1)*cols]
		for j := range row {
			row[j] += bias[j]
		}
	})
}

func addInPlace(x, y []float32) {
	for i := range x {
		x[i] += y[i]
	}
}

func layerNorm(x []float32, rows, h int, g, b []float32, threads int) {
	parallel(rows, threads, func(r, _ int) {
		row := x[r*h : (r+1)*h]
		var mean, v float64
		for _, e := range row {
			mean += float64(e)
		}
		mean /= float64(h)
		for _, e := range row {
			d := float64(e) - mean
			v += d * d
		}
		inv := 1 / math.Sqrt(v/float64(h)+1e-12)
		for j, e := range row {
			row[j] = float32((float64(e)-mean)*inv)*g[j] + b[j]
		}
	})
}

func softmax(row []float32) {
	mx := slices.Max(row)
	var sum float32
	for j, v := range row {
		e := float32(math.Exp(float64(v - mx)))
		row[j] = e
		sum += e
	}
	for j := range row {
		row[j] /= sum
	}
}

// gelu is the tanh approximation BERT uses.
func gelu(x float32) float32 {
	const c = 0.7978845608028654 // √(2/π)
	xf := float64(x)
	return float32(0.5 * xf * (1 + math.Tanh(c*(xf+0.044715*xf*xf*xf))))
}

// parallel runs fn(i, worker) for i in [0, n) on up to threads goroutines.
func parallel(n, threads int, fn func(i, worker int)) {
	if threads <= 1 || n < 2 {
		for i := 0; i < n; i++ {
			fn(i, 0)
		}
		return
	}
	workers := min(threads, n)
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i, w)
			}
		}(w, lo, hi)
	}
	wg.Wait()
}

// WithThreads runs fn with GOMAXPROCS set to threads — gonum's matrix products parallelise over GOMAXPROCS — and
// restores it after. Profiling measures one configuration at a time, so the process-wide setting is what pins
// the worker pool (and emulates a Lambda size's vCPU share).
func WithThreads(threads int, fn func()) {
	old := runtime.GOMAXPROCS(max(threads, 1))
	defer runtime.GOMAXPROCS(old)
	fn()
}
