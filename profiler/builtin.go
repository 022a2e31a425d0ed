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
