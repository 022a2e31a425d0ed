package dispatch

import (
	"context"
	"fmt"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/encoder"
)

// Builtin runs batches on the built-in encoder in this process, on a pool of workers (one batch per worker at a
// time), and answers each request with the hidden state of its first token. A batch's attention and element-wise
// work runs on its worker's goroutine, but gonum's matrix products use every core the process has: a lone batch
// runs about as fast as a profile measured with --threads equal to the cores, and concurrent batches share them.
// So service times match a Lambda profile only roughly; batching, which depends on arrivals alone, matches exactly.
type Builtin struct {
	model *encoder.Model
	name  string
	jobs  chan builtinJob
	quit  chan struct{}
}

type builtinJob struct {
	b   *Batch
	out chan builtinResult
}

type builtinResult struct {
	out [][]float32
	err error
}

// NewBuiltin starts workers workers running model (encoder.Models) with weights from seed.
func NewBuiltin(model string, workers int, seed uint64) (*Builtin, error) {
	cfg, ok := encoder.Models[model]
	if !ok {
		return nil, fmt.Errorf("no built-in model %q (have %v)", model, encoder.ModelNames())
	}
	m, err := encoder.New(cfg, seed)
	if err != nil {
		return nil, err
	}
	b := &Builtin{model: m, name: model, jobs: make(chan builtinJob), quit: make(chan struct{})}
	for w := 0; w < max(workers, 1); w++ {
		go b.work()
	}
	return b, nil
}

func (b *Builtin) work() {
	for {
		select {
		case <-b.quit:
			return
		case j := <-b.jobs:
			out, err := b.run(j.b)
			j.out <- builtinResult{out, err}
		}
	}
}

func (b *Builtin) run(bt *Batch) ([][]float32, error) {
	cfg := b.model.Config()
	ids := make([][]int32, len(bt.Inputs))
	lengths := make([]int, len(bt.Inputs))
	for i, in := range bt.Inputs {
		ids[i] = make([]int32, bt.PadTo) // padding with token 0, as a tokenizer's [PAD]
		lengths[i] = len(in)
		for p, v := range in {
			ids[i][p] = int32(v % int64(cfg.Vocab))
		}
	}
	// masked, as a BERT is run with its attention mask: a caller's answer does not depend on its batch
	hidden, err := b.model.ForwardMasked(ids, lengths, 1)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(ids))
	for i := range out {
		row := i * bt.PadTo * cfg.Hidden // the first token of sequence i
		out[i] = hidden[row : row+cfg.Hidden : row+cfg.Hidden]
	}
	return out, nil
}

// Infer queues the batch for a worker.
func (b *Builtin) Infer(ctx context.Context, bt *Batch) ([][]float32, error) {
	j := builtinJob{b: bt, out: make(chan builtinResult, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-j.out:
		if r.err != nil {
			return nil, r.err
		}
		return splitOutputs(r.out, len(bt.Inputs))
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// MaxSize is the longest input the model takes.
func (b *Builtin) MaxSize() int { return b.model.Config().MaxPos }

// Check accepts any plan: inputs above the model's positions are refused per request.
func (b *Builtin) Check(*plan.Plan) error { return nil }

func (b *Builtin) Describe() string {
	c := b.model.Config()
	return fmt.Sprintf("built-in %s encoder (%d layers, hidden %d)", b.name, c.Layers, c.Hidden)
}

// OutputWidth is the length of each output vector.
func (b *Builtin) OutputWidth() int { return b.model.Config().Hidden }

func (b *Builtin) Close() error {
	close(b.quit)
	return nil
}
