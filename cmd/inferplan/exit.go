package main

import (
	"context"
	"errors"
	"strings"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner"
)

// Exit codes of contract §2, mapped from errors in one place.
const (
	exitOK         = 0
	exitFailure    = 1 // runtime failure: I/O, AWS, internal
	exitUsage      = 2 // bad flag or malformed input file
	exitThreshold  = 3 // a check threshold is broken
	exitInfeasible = 4 // no configuration meets the SLO
)

// flagError is a usage mistake on the command line; it prints a pointer to --help.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func flagErrorf(format string, args ...any) error {
	return &flagError{err: errorf(format, args...)}
}

// thresholdError reports that a check failed after its report was printed.
type thresholdError struct{ broken int }

func (e *thresholdError) Error() string {
	if e.broken == 1 {
		return "check failed: 1 threshold broken"
	}
	return "check failed: " + itoa(e.broken) + " thresholds broken"
}

// errorText is how an error is told to the user: a run stopped by SIGINT or SIGTERM says so plainly (the
// commands write their outputs only at the end, so nothing was written).
func errorText(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted; nothing was written"
	}
	return err.Error()
}

func exitCode(err error) int {
	var (
		fe *flagError
		te *thresholdError
		ie *planner.InfeasibleError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &te):
		return exitThreshold
	case errors.As(err, &ie), isJobInfeasible(err):
		return exitInfeasible
	case errors.As(err, &fe), inputerr.Is(err), isCobraUsageError(err):
		return exitUsage
	}
	return exitFailure
}

// isCobraUsageError recognises the errors cobra itself returns for a bad command line (its flag errors are
// wrapped into flagError by the root's FlagErrorFunc).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
