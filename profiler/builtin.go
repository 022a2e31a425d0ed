package profiler

import (
	"context"
	"fmt"
	"time"

	"github.com/inferplan/inferplan/profiler/encoder"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/profile"
)

// Builtin runs the Go encoder of package encoder in this process with a fixed number of threads.
type Builtin struct {
	model   *encoder.Model
	name    string
	threads int
	seed    uint64
	cpu     hw.CPU
}

// NewBuiltin builds a built-in model (encoder.Models) with weights from seed, to run on threads threads.
func NewBuiltin(model string, threads int, seed uint64, cpu hw.CPU) (*Builtin, error) {
	cfg, ok := encoder.Models[model]
	if !ok {
		return nil, fmt.Errorf("no built-in model %q (have %v)", model, encoder.ModelNames())
	}
	if threads < 1 {
		return nil, fmt.Errorf("threads %d: want at least 1", threads)
	}
	m, err := encoder.New(cfg, seed)
	if err != nil {
		return nil, err
	}
	return &Builtin{model: m, name: model, threads: threads, seed: seed, cpu: cpu}, nil
}

// Info describes the runs: a CPU with threads vCPUs.
func (b *Builtin) Info() Info {
	c := b.model.Config()
	return Info{
		Platform: profile.CPU, Hardware: b.cpu.Model, VCPUs: float64(b.threads), DType: "float32",
		Model: b.name, SizeUnit: "tokens",
		Source: fmt.Sprintf("inferplan built-in %s encoder (%d layers, hidden %d, %d heads, FF %d; random weights, seed %d) in Go on gonum float32 BLAS, %d thread(s), on %s (%d cores, %d threads); wall-clock time of one forward pass.",
			b.name, c.Layers, c.Hidden, c.Heads, c.FF, b.seed, b.threads, b.cpu.Model, b.cpu.Cores, b.cpu.Threads),
	}
}

// Run times one forward pass of batch sequences of size tokens.
func (b *Builtin) Run(ctx context.Context, batch, size int) (Sample, error) {
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}
	if size > b.model.Config().MaxPos {
		return Sample{}, fmt.Errorf("size %d is above the model's %d positions", size, b.model.Config().MaxPos)
	}
	ids := TokenIDs(batch, size, b.model.Config().Vocab)
	var (
		elapsed time.Duration
		err     error
	)
	encoder.WithThreads(b.threads, func() {
		start := time.Now()
		_, err = b.model.Forward(ids, b.threads)
		elapsed = time.Since(start)
	})
	if err != nil {
		return Sample{}, err
	}
	return Sample{LatencyMs: float64(elapsed.Nanoseconds()) / 1e6}, nil
}

// Infer runs real inputs: each row padded to pad with token 0 and masked, token ids taken modulo the vocabulary
// (the weights are random, so any id stands for a token), and answers each row's first-token hidden state.
func (b *Builtin) Infer(ctx context.Context, ids [][]int64, pad int) ([][]float32, float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	cfg := b.model.Config()
	if pad > cfg.MaxPos {
		return nil, 0, fmt.Errorf("size %d is above the model's %d positions", pad, cfg.MaxPos)
	}
	seqs := make([][]int32, len(ids))
	lengths := make([]int, len(ids))
	for i, row := range ids {
		if len(row) < 1 || len(row) > pad {
			return nil, 0, fmt.Errorf("input %d has %d tokens, outside 1–%d", i, len(row), pad)
		}
		seqs[i] = make([]int32, pad)
		lengths[i] = len(row)
		for p, v := range row {
			if v < 0 {
				return nil, 0, fmt.Errorf("input %d, token %d: %d is not a token id", i, p, v)
			}
			seqs[i][p] = int32(v % int64(cfg.Vocab))
		}
	}
	var (
		hidden  []float32
		elapsed time.Duration
		err     error
	)
	encoder.WithThreads(b.threads, func() {
		start := time.Now()
		hidden, err = b.model.ForwardMasked(seqs, lengths, b.threads)
		elapsed = time.Since(start)
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([][]float32, len(seqs))
	for i := range out {
		row := i * pad * cfg.Hidden // the first token of sequence i
		out[i] = hidden[row : row+cfg.Hidden : row+cfg.Hidden]
	}
	return out, float64(elapsed.Nanoseconds()) / 1e6, nil
}

// MaxSize is the longest input the model takes.
func (b *Builtin) MaxSize() int { return b.model.Config().MaxPos }

// Close releases nothing: the model is garbage-collected.
func (b *Builtin) Close() error { return nil }

// TokenIDs is a deterministic batch of token ids (the content does not change the cost of an encoder).
func TokenIDs(batch, size, vocab int) [][]int32 {
	ids := make([][]int32, batch)
	for i := range ids {
		ids[i] = make([]int32, size)
		for p := range ids[i] {
			ids[i][p] = int32((i*7919 + p*104729 + 101) % vocab)
		}
	}
	return ids
}
