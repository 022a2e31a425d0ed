// Package dispatch is the thin runtime: a gateway that batches live requests exactly as a plan says (contract §4)
// and dispatches every batch to a backend — the built-in model, an upstream Open Inference Protocol v2 server, or a
// Lambda function — behind an Open Inference Protocol v2 HTTP server. (The load generator that replays a trace
// against it is package loadgen; `apply` is package deploy.)
//
// It never loses a request: every request admitted gets its own answer or an error, whether its batch succeeds,
// fails, is retried, or is flushed by a shutdown or a plan reload.
package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/inferplan/inferplan/planner/plan"
)

// Batch is one dispatch: the requests of one buffer, to be padded to PadTo tokens.
type Batch struct {
	Buffer   int // index in the plan
	MemoryMB int // the buffer's memory size (what a Lambda backend runs it at)
	Inputs   [][]int64
	PadTo    int
}

// Backend runs batches.
type Backend interface {
	// Infer runs one batch and returns one output per input, in order. Errors worth retrying are wrapped in
	// *RetryableError.
	Infer(ctx context.Context, b *Batch) ([][]float32, error)
	// Check says whether the backend can serve a plan (sizes it accepts, aliases it needs).
	Check(p *plan.Plan) error
	// Describe names the backend for logs and metadata.
	Describe() string
	Close() error
}

// RetryableError marks a backend failure that may succeed when tried again: a timeout, a throttled call, a
// server error. Inference has no side effects, so retrying it is safe.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as retryable.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// IsRetryable reports whether err (or a deadline) is worth another attempt.
func IsRetryable(err error) bool {
	var re *RetryableError
	return errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded)
}

// splitOutputs checks a backend's answer has one output per input.
func splitOutputs(out [][]float32, n int) ([][]float32, error) {
	if len(out) != n {
		return nil, fmt.Errorf("backend answered %d outputs for %d inputs", len(out), n)
	}
	return out, nil
}
