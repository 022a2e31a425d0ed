package main

import (
	"io"
	"os"
	"time"
)

// ioStreams are the standard streams of a run, replaceable in tests.
type ioStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY says stderr is a terminal: progress is shown only then.
	ErrTTY bool
	// Now is the clock.
	Now func() time.Time
}

func systemIO() *ioStreams {
	return &ioStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, ErrTTY: isTerminal(os.Stderr), Now: time.Now}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
