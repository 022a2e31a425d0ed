package profiler

import (
	"context"
	"fmt"

	"github.com/inferplan/inferplan/profiler/latency"
)

// Recorded is a target that answers from a recorded latency curve: every run of (batch, size) takes the curve's
// latency there (contract §4 interpolation between recorded points). It lets sampling strategies be checked
// against real measurements offline — the adaptive sampler's tests run it on the DeepSpeech Lambda profile.
type Recorded struct {
	Curve *latency.Curve
	Desc  Info
	Runs  int // how many runs were asked for
}

func (r *Recorded) Info() Info { return r.Desc }

func (r *Recorded) Run(_ context.Context, batch, size int) (Sample, error) {
	r.Runs++
	l, err := r.Curve.Latency(batch, float64(size))
	if err != nil {
		return Sample{}, fmt.Errorf("recorded profile: %w", err)
	}
	return Sample{LatencyMs: l}, nil
}

func (r *Recorded) Close() error { return nil }
