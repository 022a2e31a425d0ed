package plan

import (
	"github.com/inferplan/inferplan/internal/inputerr"
)

// Validation is how a plan did on traffic it was not fitted to: `plan --validate F` plans on the earlier part of
// the trace and replays the plan over the later part it held out; `plan --validate-trace FILE` replays it over a
// second trace. The plan's Estimate stays the replay over the whole planning trace.
type Validation struct {
	// Method is "holdout" (the later part of the planning trace held out) or "trace" (a second trace).
	Method string `json:"method"`
	// HeldOutFraction is the share of the planning trace's span that was held out (method holdout).
	HeldOutFraction float64 `json:"held_out_fraction,omitempty"`
	// Trace and TraceSHA256 name the held-out trace (method trace).
	Trace       string `json:"trace,omitempty"`
	TraceSHA256 string `json:"trace_sha256,omitempty"`
	// InSample is the replay over the requests the plan was fitted to, HeldOut over those it was not.
	InSample Estimate `json:"in_sample"`
	HeldOut  Estimate `json:"held_out"`
	// HeldOutSingleBuffer is the best single buffer chosen in hindsight on the held-out requests (BATCH, had it
	// seen them): the bar a plan fitted without them should still beat.
	HeldOutSingleBuffer *Estimate `json:"held_out_single_buffer,omitempty"`
}

// Validation methods.
const (
	ValidationHoldout = "holdout"
	ValidationTrace   = "trace"
)

// Margin records the attainment margin a plan was searched with: it had to meet the SLO percentile plus Points
// percentage points on its planning trace, so that it holds on the next window of the same traffic.
type Margin struct {
	Points float64 `json:"points"`
	// Method is "given" (--margin) or "calibrated" (from the spread of attainment across time folds).
	Method string `json:"method"`
	// Folds and FoldSpreadPoints describe the calibration: the standard deviation, in percentage points, of the
	// fitted plan's attainment over that many consecutive time folds of the trace.
	Folds            int     `json:"folds,omitempty"`
	FoldSpreadPoints float64 `json:"fold_spread_points,omitempty"`
}

func (v *Validation) validate(field string) error {
	if v == nil {
		return nil
	}
	switch v.Method {
	case ValidationHoldout:
		if !(v.HeldOutFraction > 0 && v.HeldOutFraction < 1) {
			return inputerr.New("", 0, field+".held_out_fraction", "%v is not in (0, 1)", v.HeldOutFraction)
		}
	case ValidationTrace:
	default:
		return inputerr.New("", 0, field+".method", "%q: want %q or %q", v.Method, ValidationHoldout, ValidationTrace)
	}
	if err := v.InSample.validate(field + ".in_sample"); err != nil {
		return err
	}
	if err := v.HeldOut.validate(field + ".held_out"); err != nil {
		return err
	}
	if v.HeldOutSingleBuffer != nil {
		return v.HeldOutSingleBuffer.validate(field + ".held_out_single_buffer")
	}
	return nil
}

// Met reports whether the held-out replay meets the SLO.
func (v *Validation) Met(s SLO) bool { return v != nil && s.Met(v.HeldOut.SLOAttainment) }

func (m *Margin) validate(field string) error {
	if m != nil && !(m.Points >= 0 && m.Points < 100) {
		return inputerr.New("", 0, field+".points", "%v is not a number of percentage points in [0, 100)", m.Points)
	}
	return nil
}
