// Package inputerr is the one error type for malformed user input. It names the file, the line and the field, so
// every parser reports problems the same way, and the CLI maps it to the contract's exit code 2.
package inputerr

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Error is a problem with an input file (or an input flag value) that the user must fix.
type Error struct {
	File  string // path as the user gave it; "" for flags
	Line  int    // 1-based; 0 when the problem is not on one line
	Field string // column name, JSON path or flag; "" when none applies
	Err   error
}

func (e *Error) Error() string {
	msg := ""
	if e.File != "" {
		msg = e.File
		if e.Line > 0 {
			msg += fmt.Sprintf(":%d", e.Line)
		}
		msg += ": "
	} else if e.Line > 0 {
		msg = fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Field != "" {
		msg += e.Field + ": "
	}
	return msg + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(file string, line int, field, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}

// Is reports whether err is (or wraps) an input error.
func Is(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// QuoteMax is how much of a user's input an error message quotes.
const QuoteMax = 100

// Quote quotes s for an error message, cut to its first QuoteMax bytes (on a character boundary) with its length
// said, so a malformed 200 MB line is never echoed whole to a terminal or a CI log.
func Quote(s string) string {
	if len(s) <= QuoteMax {
		return fmt.Sprintf("%q", s)
	}
	cut := QuoteMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}
