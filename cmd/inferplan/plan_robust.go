package main

import (
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/planner/lambda"
	"github.com/inferplan/inferplan/trace"
)

// planRobustFlags are plan's flags for plans that hold on the next window of traffic (issue 14): held-out
// validation, the attainment margin, and progress off a terminal. They are kept apart from plan's other flags.
type planRobustFlags struct {
	validate      float64
	validateTrace string
	margin        string
	progress      bool

	// parsed
	marginPoints float64
	autoMargin   bool
}

func (f *planRobustFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Float64Var(&f.validate, "validate", 0, "hold out this share of the trace's span (its later part, e.g. 0.5), plan on the rest and replay the plan over it")
	fs.StringVar(&f.validateTrace, "validate-trace", "", "replay the plan over this second trace (same columns) as traffic it was not fitted to")
	fs.StringVar(&f.margin, "margin", "auto", "points of SLO attainment beyond the percentile the plan must reach in sample, so it holds on the next window; auto calibrates it from the trace, 0 fits the trace exactly")
	fs.BoolVar(&f.progress, "progress", false, "show progress on stderr even when it is not a terminal (one line per step, for CI logs)")
	_ = cmd.RegisterFlagCompletionFunc("margin", completeFixed("auto", "0"))
}

// check validates the flags before any input is read.
func (f *planRobustFlags) check(o *planOptions) error {
	switch m := strings.TrimSpace(f.margin); m {
	case "auto":
		f.autoMargin = true
	default:
		v, err := strconv.ParseFloat(strings.TrimSuffix(m, "pts"), 64)
		if err != nil || !(v >= 0 && v < 100) {
			return flagErrorf("--margin %q: want auto, or percentage points of attainment in [0, 100) (0.5 plans p95 to 95.5%% in sample)", f.margin)
		}
		f.marginPoints = v
	}
	if f.validate != 0 && !(f.validate > 0 && f.validate < 1) {
		return flagErrorf("--validate %v: want the share of the trace to hold out, in (0, 1) (0.5: plan on the first half)", f.validate)
	}
	if f.validate != 0 && f.validateTrace != "" {
		return flagErrorf("--validate and --validate-trace both name held-out traffic; give one")
	}
	if f.validateTrace != "" && o.example {
		return flagErrorf("--validate-trace: --example has no second trace; use --validate 0.5")
	}
	if o.sloMs != 0 && !(o.sloMs > 0 && o.sloMs <= math.MaxFloat64) {
		return flagErrorf("--slo-ms %v: want a positive number of milliseconds", o.sloMs)
	}
	if o.refine < 0 {
		return flagErrorf("--refine %d: want 0 or more replays", o.refine)
	}
	return checkOutput("-o", o.out)
}

// checkSLO bounds the SLO by the trace it is planned over: a bound ten times the trace's span (or a day) is no
// bound at all, and larger ones only overflow the timeout arithmetic.
func checkSLO(sloMs float64, tr *trace.Trace) error {
	if limit := lambda.MaxSLOMs(tr); sloMs > limit {
		return flagErrorf("--slo-ms %g is longer than anything a trace of %s can tell apart; want at most %.0f ms (ten times its span, or a day)",
			sloMs, spanText(tr), limit)
	}
	return nil
}

func spanText(tr *trace.Trace) string {
	return strconv.FormatFloat(float64(tr.Span())/1e6, 'f', -1, 64) + " s"
}

// apply sets the search options and input these flags ask for, reading the validation trace.
func (f *planRobustFlags) apply(o *planOptions, opt *lambda.Options, in *lambda.Input) error {
	opt.Margin, opt.AutoMargin = f.marginPoints, f.autoMargin
	if f.validate > 0 {
		if _, _, err := lambda.SplitHoldOut(in.Trace, f.validate); err != nil {
			return flagErrorf("--validate %v: %v", f.validate, err)
		}
		opt.HoldOut = f.validate
	}
	if f.validateTrace != "" {
		tr, err := o.trace.read(f.validateTrace)
		if err != nil {
			return err
		}
		if tr.Len() == 0 {
			return flagErrorf("--validate-trace %s: no requests", f.validateTrace)
		}
		in.Validation, in.ValidationName = tr, f.validateTrace
		in.ValidationSHA256, _ = fileSHA256(f.validateTrace)
	}
	return nil
}
