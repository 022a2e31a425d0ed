package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/inferplan/inferplan/profiler"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/profile"
)

// openExternal opens the exec, http or lambda target named by --target, and returns what closes it.
func (o *profileOptions) openExternal(ctx context.Context) ([]profiler.Target, func(), error) {
	switch t := o.target; {
	case strings.HasPrefix(t, "exec:"):
		cmdline := strings.TrimSpace(strings.TrimPrefix(t, "exec:"))
		if cmdline == "" {
			return nil, nil, flagErrorf("--target exec: needs a command, e.g. exec:\"python3 harness.py\"")
		}
		e, err := profiler.StartExec(ctx, cmdline, nil, 10*time.Minute, o.io.ErrOut)
		if err != nil {
			return nil, nil, err
		}
		var target profiler.Target = e
		closer := func() {}
		if info := e.HarnessInfo(); info.Platform == string(profile.GPU) && o.telemetry {
			if gpus, err := hw.OpenNVML(); err != nil {
				fmt.Fprintf(o.io.ErrOut, "note: no GPU telemetry (%v)\n", err)
			} else {
				idx := 0
				if info.GPUIndex != nil {
					idx = *info.GPUIndex
				}
				target = profiler.WithTelemetry(e, gpus, idx, 25*time.Millisecond)
				closer = func() { _ = gpus.Close() }
			}
		}
		return []profiler.Target{target}, closer, nil
	case strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://"):
		header := http.Header{}
		for _, h := range o.headers {
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return nil, nil, flagErrorf("--header %q: want NAME: VALUE", h)
			}
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		h, err := profiler.NewHTTPV2(ctx, t, o.concurrency, header, o.device, o.hardware)
		if err != nil {
			return nil, nil, err
		}
		return []profiler.Target{h}, func() {}, nil
	case strings.HasPrefix(t, "lambda:"):
		fn := strings.TrimPrefix(t, "lambda:")
		if fn == "" {
			return nil, nil, flagErrorf("--target lambda: needs a function name, e.g. lambda:my-function")
		}
		cfg, err := o.aws.config(ctx)
		if err != nil {
			return nil, nil, err
		}
		s, err := profiler.OpenLambda(ctx, profiler.LambdaClient(cfg, o.aws.endpoint, 20*time.Second), fn)
		if err != nil {
			return nil, nil, err
		}
		mems := []int{s.OriginalMemoryMB()}
		if o.memory != "" {
			if mems, err = intList("memory", o.memory); err != nil {
				return nil, nil, err
			}
		}
		var targets []profiler.Target
		for _, mb := range mems {
			tg, err := s.At(mb)
			if err != nil {
				return nil, nil, &flagError{err: err}
			}
			targets = append(targets, tg)
		}
		restore := func() {
			if err := s.Restore(ctx); err != nil {
				fmt.Fprintf(o.io.ErrOut, "inferplan: could not restore %s to %d MB: %v\n", fn, s.OriginalMemoryMB(), err)
				return
			}
			fmt.Fprintf(o.io.ErrOut, "restored %s to %d MB\n", fn, s.OriginalMemoryMB())
		}
		return targets, restore, nil
	}
	return nil, nil, flagErrorf("--target %q: want builtin, exec:CMD, http://…/v2/models/NAME or lambda:FUNCTION", o.target)
}

// sharingSweeps runs the co-location sweeps of --colocate for an exec target.
func (o *profileOptions) sharingSweeps(ctx context.Context, prog *progress) ([]profile.Measurement, error) {
	if o.colocate == "" {
		return nil, nil
	}
	if !strings.HasPrefix(o.target, "exec:") {
		return nil, flagErrorf("--colocate runs copies of an exec harness; use --target exec:CMD")
	}
	colocate, err := intList("colocate", o.colocate)
	if err != nil {
		return nil, err
	}
	pcts, err := intList("mps-pct", o.mpsPct)
	if err != nil {
		return nil, err
	}
	var modes []string
	for _, m := range strings.Split(o.sharing, ",") {
		m = strings.TrimSpace(m)
		if m != "time-slice" && m != "mps" {
			return nil, flagErrorf("--sharing %q: want time-slice and/or mps", m)
		}
		modes = append(modes, m)
	}
	batches, _ := intList("batches", o.batches)
	sizes, _ := intList("sizes", o.sizes)
	return profiler.Sweep(ctx, profiler.SweepConfig{
		Command: strings.TrimSpace(strings.TrimPrefix(o.target, "exec:")), Colocate: colocate, Sharing: modes, MPSPct: pcts,
		Shapes: profiler.Grid(batches, sizes), Window: o.window, Stderr: o.io.ErrOut,
		Progress: func(done, total int) { prog.report("sharing sweeps", done, total) },
	})
}

func profilerBuiltin(model string, threads int, seed uint64, cpu hw.CPU) (profiler.Target, error) {
	return profiler.NewBuiltin(model, threads, seed, cpu)
}

func serveHarness(ctx context.Context, io *ioStreams, t profiler.Target) error {
	return profiler.ServeHarness(ctx, io.In, io.Out, t)
}
