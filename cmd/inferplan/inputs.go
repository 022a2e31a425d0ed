package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/trace"
)

// traceFlags are the contract's trace column flags, shared by every command that reads a trace.
type traceFlags struct {
	timeCol, sizeCol, timeUnit string
}

func (f *traceFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.timeCol, "time-col", "timestamp", "trace column with the arrival time (case-insensitive)")
	fs.StringVar(&f.sizeCol, "size-col", "size", "trace column with the request size (case-insensitive)")
	enumFlag(cmd, &f.timeUnit, "time-unit", "", "s", []string{"s", "ms"}, "unit of numeric timestamps")
}

func (f *traceFlags) options() (trace.Options, error) {
	u, err := trace.ParseTimeUnit(f.timeUnit)
	if err != nil {
		return trace.Options{}, &flagError{err: err}
	}
	return trace.Options{TimeCol: f.timeCol, SizeCol: f.sizeCol, Unit: u}, nil
}

func (f *traceFlags) read(path string) (*trace.Trace, error) {
	opt, err := f.options()
	if err != nil {
		return nil, err
	}
	return trace.ReadFile(path, opt)
}

// fileSHA256 is the hex digest of a file, recorded in plans so a CI check can tell what they were computed from.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &inputerr.Error{File: path, Err: err}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", &inputerr.Error{File: path, Err: err}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func bytesSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readProfile(path string) (*profile.Profile, error) {
	return profile.ReadFile(path)
}

// catalog returns the price catalog runs use: prices fetched by `prices update` when there are some, else the
// embedded snapshot.
func catalog(io *ioStreams) (*pricing.Catalog, error) {
	c, warning := pricing.Default()
	if warning != "" {
		fmt.Fprintln(io.ErrOut, "warning: "+warning)
	}
	return c, nil
}
