package dispatch

import (
	"context"
	"sync/atomic"

	"github.com/inferplan/inferplan/planner/plan"
)

// Echo is a backend without a model, for testing the gateway and whatever drives it: it answers each input with
// [its first id, its length, the batch's size, the pad width], so a caller can tell it got its own answer from the
// batch it was in. Hook, when set, sees every call first (1-based) and may fail it or delay it.
type Echo struct {
	calls atomic.Int64
	Hook  func(call int64, b *Batch) error
}

// Infer answers at once, after the hook.
func (e *Echo) Infer(ctx context.Context, b *Batch) ([][]float32, error) {
	c := e.calls.Add(1)
	if e.Hook != nil {
		if err := e.Hook(c, b); err != nil {
			return nil, err
		}
	}
	out := make([][]float32, len(b.Inputs))
	for i, in := range b.Inputs {
		out[i] = []float32{float32(in[0]), float32(len(in)), float32(len(b.Inputs)), float32(b.PadTo)}
	}
	return out, nil
}

// Calls is how many batches it was given.
func (e *Echo) Calls() int64 { return e.calls.Load() }

// Check accepts every plan.
func (e *Echo) Check(*plan.Plan) error { return nil }

// Describe names it.
func (e *Echo) Describe() string { return "echo" }

// Close does nothing.
func (e *Echo) Close() error { return nil }
