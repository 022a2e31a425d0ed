package main

import (
	"strings"
)

// validate checks every profile flag before anything is measured: a mistake found after a 36-second sweep (or a
// Lambda memory update) wastes the user's time and money. The late checks where the values are used stay, for
// callers that skip this.
func (o *profileOptions) validate() error {
	if _, err := intList("batches", o.batches); err != nil {
		return err
	}
	if _, err := intList("sizes", o.sizes); err != nil {
		return err
	}
	if o.out == "" {
		return flagErrorf("-o is required (a file, or - for stdout)")
	}
	if err := checkOutput("-o", o.out); err != nil {
		return err
	}
	exec := strings.HasPrefix(o.target, "exec:")
	switch t := o.target; {
	case t == "builtin":
		if _, err := intList("threads", o.threads); err != nil {
			return err
		}
	case exec:
		if strings.TrimSpace(strings.TrimPrefix(t, "exec:")) == "" {
			return flagErrorf("--target exec: needs a command, e.g. exec:\"python3 harness.py\"")
		}
	case strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://"):
		for _, h := range o.headers {
			if _, _, ok := strings.Cut(h, ":"); !ok {
				return flagErrorf("--header %q: want NAME: VALUE", h)
			}
		}
	case strings.HasPrefix(t, "lambda:"):
		if strings.TrimPrefix(t, "lambda:") == "" {
			return flagErrorf("--target lambda: needs a function name, e.g. lambda:my-function")
		}
		if o.memory != "" {
			mems, err := intList("memory", o.memory)
			if err != nil {
				return err
			}
			for _, mb := range mems {
				if err := checkLambdaMemory("--memory", mb); err != nil {
					return err
				}
			}
		}
	default:
		return flagErrorf("--target %q: want builtin, exec:CMD, http://…/v2/models/NAME or lambda:FUNCTION", o.target)
	}
	if o.colocate != "" {
		if !exec {
			return flagErrorf("--colocate runs copies of an exec harness; use --target exec:CMD")
		}
		if _, err := intList("colocate", o.colocate); err != nil {
			return err
		}
		pcts, err := intList("mps-pct", o.mpsPct)
		if err != nil {
			return err
		}
		for _, p := range pcts {
			if p > 100 {
				return flagErrorf("--mps-pct %d: a percentage of the GPU's threads, 1–100", p)
			}
		}
		if o.window <= 0 {
			return flagErrorf("--window %v: want a positive duration", o.window)
		}
	}
	switch {
	case o.warmup < 0:
		return flagErrorf("--warmup %d: want 0 or more", o.warmup)
	case o.minRuns < 1:
		return flagErrorf("--min-runs %d: want at least 1", o.minRuns)
	case o.maxRuns < o.minRuns:
		return flagErrorf("--max-runs %d is below --min-runs %d", o.maxRuns, o.minRuns)
	case !(o.tol > 0 && o.tol < 1):
		return flagErrorf("--tolerance %v: want a fraction in (0, 1)", o.tol)
	case !(o.mape > 0 && o.mape < 100):
		return flagErrorf("--target-mape %v: want a percentage in (0, 100)", o.mape)
	case !(o.budget > 0 && o.budget <= 1):
		return flagErrorf("--budget %v: want a share of the grid in (0, 1]", o.budget)
	case o.concurrency < 1:
		return flagErrorf("--concurrency %d: want at least 1", o.concurrency)
	}
	return nil
}
