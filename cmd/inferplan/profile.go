package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/profiler"
	"github.com/inferplan/inferplan/profiler/encoder"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/reports"
)

type profileOptions struct {
	io       *ioStreams
	target   string
	model    string
	threads  string
	batches  string
	sizes    string
	out      string
	seed     uint64
	quiet    bool
	adaptive bool
	mape     float64
	budget   float64
	warmup   int
	minRuns  int
	maxRuns  int
	tol      float64

	// http
	concurrency int
	headers     []string
	device      string
	hardware    string
	// lambda
	memory string
	aws    awsFlags
	// sharing sweeps (exec)
	colocate  string
	sharing   string
	mpsPct    string
	window    time.Duration
	telemetry bool
}

func newProfileCmd(io *ioStreams) *cobra.Command {
	o := &profileOptions{io: io}
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Measure a model's latency over batch sizes × request sizes and write a profile",
		Long: `profile measures the latency of one batched invocation over a grid of batch sizes × request sizes
and writes a profile (contract §3.2) that plan reads directly. Targets:

  builtin             a transformer encoder built into inferplan (Go, gonum BLAS; --model, --threads):
                      works on any machine, no server needed
  exec:CMD            your own harness in your framework, speaking JSON lines on stdin/stdout
                      (request {"batch": N, "size": S}, reply {"latency_ms": T}); see
                      profiler/harness/torch_encoder.py for PyTorch, or 'inferplan harness' for the
                      built-in model
  http://HOST/v2/models/NAME
                      a served model speaking the Open Inference Protocol v2 (Triton, TorchServe,
                      MLServer, KServe): one POST …/infer of an INT64 [batch, size] tensor per run
  lambda:FUNCTION     an AWS Lambda function, at every --memory size: it is invoked with
                      {"batch": N, "size": S} and timed by the Duration of its REPORT log line; cold
                      starts are kept apart; the function's memory is restored afterwards, even on
                      failure or Ctrl-C

Every point gets warm-up runs, then timed runs until the median is stable within --tolerance (or
--max-runs); the profile records median, p95, min, max and the run counts. With --adaptive only
a coarse grid and then the points where the fitted model is least sure are measured, until its
held-out error is below --target-mape or --budget of the grid is spent.`,
		Example: `  # the built-in model on this CPU, one thread (one Lambda vCPU)
  inferplan profile --target builtin --model bert-mini --batches 1,2,4,8 --sizes 16,32,64,128 -o p.json

  # one, two and four threads; only as many points as the model needs
  inferplan profile --model distilbert-like --threads 1,2,4 --batches 1,2,4,8,16 --sizes 16,32,64,128,256,512 --adaptive -o p.json

  # PyTorch on a GPU through the harness, with co-location sweeps under time-slicing and MPS
  inferplan profile --target exec:"python3 profiler/harness/torch_encoder.py --model bert-base-uncased --dtype float16" \
      --batches 1,8,32 --sizes 128,512 --colocate 1,2,4 --sharing time-slice,mps --mps-pct 100,50,25 -o gpu.json

  # a model served by Triton
  inferplan profile --target http://localhost:8000/v2/models/bert --concurrency 1 -o triton.json

  # a Lambda function at three memory sizes
  inferplan profile --target lambda:deepspeech --memory 1024,2048,3008 --batches 1,4,8 --sizes 12,72,144 -o ds.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runProfile(cmd.Context(), o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.target, "target", "builtin", "what to measure: builtin, exec:CMD, http://…/v2/models/NAME or lambda:FUNCTION")
	enumFlag(cmd, &o.model, "model", "", "bert-mini", encoder.ModelNames(), "built-in model")
	fs.StringVar(&o.threads, "threads", "1", "builtin: threads, or a list (1,2,4) to profile each; Lambda gives 1 vCPU per 1,769 MB")
	fs.StringVar(&o.batches, "batches", "1,2,4,8", "batch sizes to measure")
	fs.StringVar(&o.sizes, "sizes", "16,32,64,128", "request sizes to measure (tokens for the built-in model)")
	fs.StringVarP(&o.out, "out", "o", "", "write the profile JSON here (- for stdout)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the built-in model's random weights")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bars on stderr")
	fs.BoolVar(&o.adaptive, "adaptive", false, "measure a coarse grid, then only where the fitted model is least sure")
	fs.Float64Var(&o.mape, "target-mape", 5, "--adaptive: stop once the model's held-out error is below this (percent)")
	fs.Float64Var(&o.budget, "budget", 0.25, "--adaptive: measure at most this share of the grid")
	fs.IntVar(&o.warmup, "warmup", 1, "warm-up runs before timing each point")
	fs.IntVar(&o.minRuns, "min-runs", 3, "timed runs per point at least")
	fs.IntVar(&o.maxRuns, "max-runs", 15, "timed runs per point at most")
	fs.Float64Var(&o.tol, "tolerance", 0.02, "stop timing a point once one more run moves its median by less than this fraction")
	fs.IntVar(&o.concurrency, "concurrency", 1, "http: requests in flight at once (each timed on its own)")
	fs.StringArrayVar(&o.headers, "header", nil, "http: extra request header NAME:VALUE (repeatable), e.g. 'Authorization: Bearer …'")
	enumFlag(cmd, &o.device, "device", "", "gpu", []string{"cpu", "gpu"}, "http: what the server runs the model on (the protocol does not say)")
	fs.StringVar(&o.hardware, "hardware", "", "http: the server's hardware, for the profile (e.g. nvidia-a10g)")
	fs.StringVar(&o.memory, "memory", "", "lambda: memory sizes in MB to measure (the function's own size when empty)")
	o.aws.register(cmd, "lambda: ")
	fs.StringVar(&o.colocate, "colocate", "", "exec: also run co-location sweeps with these numbers of workers (1,2,4)")
	enumListFlag(cmd, &o.sharing, "sharing", "time-slice", []string{"time-slice", "mps"}, "exec sweeps: GPU sharing modes")
	fs.StringVar(&o.mpsPct, "mps-pct", "100", "exec sweeps under mps: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE values")
	fs.DurationVar(&o.window, "window", 6*time.Second, "exec sweeps: how long every worker runs back-to-back batches")
	fs.BoolVar(&o.telemetry, "telemetry", true, "sample GPU utilisation, SM clock, memory and power through NVML while measuring (when a GPU is there)")
	cmd.AddCommand(newProfileShowCmd(io), newProfileImportCmd(io), newProfileNetworkCmd(io))
	return cmd
}

func intList(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, flagErrorf("--%s: %q is not a positive whole number", flag, f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, flagErrorf("--%s: empty list", flag)
	}
	return out, nil
}

func runProfile(ctx context.Context, o *profileOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	batches, err := intList("batches", o.batches)
	if err != nil {
		return err
	}
	sizes, err := intList("sizes", o.sizes)
	if err != nil {
		return err
	}
	if o.out == "" {
		return flagErrorf("-o is required (a file, or - for stdout)")
	}
	targets, closeAll, err := o.openTargets(ctx)
	if err != nil {
		return err
	}
	defer closeAll()

	prog := newProgress(o.io, o.quiet)
	defer prog.done()
	var (
		all   []profile.Measurement
		info  profiler.Info
		notes []string
	)
	for i, t := range targets {
		info = t.Info()
		stage := fmt.Sprintf("profiling %s (%d/%d)", configName(info), i+1, len(targets))
		opt := profiler.Options{Warmup: o.warmup, MinRuns: o.minRuns, MaxRuns: o.maxRuns, Tolerance: o.tol,
			Now: o.io.Now, Progress: func(done, total int) { prog.report(stage, done, total) }}
		if o.warmup == 0 {
			opt.Warmup = -1
		}
		var ms []profile.Measurement
		if o.adaptive {
			var rep profiler.AdaptiveReport
			ms, rep, err = profiler.MeasureAdaptive(ctx, t, batches, sizes, opt, profiler.AdaptiveOptions{TargetMAPE: o.mape, Budget: o.budget})
			notes = append(notes, fmt.Sprintf("%s: adaptive sampling measured %d of %d grid points; model held-out MAPE %.1f%%, largest disagreement with interpolation %.1f%% (target %.1f%%: %s).",
				configName(info), rep.Measured, rep.Grid, rep.HeldOutMAPE, rep.MaxDisagreement, o.mape, map[bool]string{true: "reached", false: "not reached within the budget"}[rep.Reached]))
		} else {
			ms, err = profiler.Measure(ctx, t, profiler.Grid(batches, sizes), opt)
		}
		if tw, ok := t.(*profiler.Telemetry); ok {
			tw.Annotate(ms)
		}
		all = append(all, ms...)
		if err != nil {
			prog.done()
			if len(all) > 0 {
				if werr := o.write(info, all, notes); werr == nil {
					return fmt.Errorf("%s: %w (the %d points measured before it were written to %s)", configName(info), err, len(all), o.out)
				}
			}
			return fmt.Errorf("%s: %w", configName(info), err)
		}
	}
	if sweeps, err := o.sharingSweeps(ctx, prog); err != nil {
		return err
	} else {
		all = append(all, sweeps...)
	}
	prog.done()
	if err := o.write(info, all, notes); err != nil {
		return err
	}
	p := profiler.NewProfile(info, all, "")
	summary := o.io.Out
	if o.out == "-" {
		summary = o.io.ErrOut
	}
	if err := reports.MeasurementsDocument(p, latency.Summarise(p), notes).Render(summary, reports.Table); err != nil {
		return err
	}
	if o.out != "-" {
		fmt.Fprintf(o.io.ErrOut, "wrote %s: %d measurements\n", o.out, len(all))
	}
	return nil
}

func (o *profileOptions) write(info profiler.Info, ms []profile.Measurement, notes []string) error {
	p := profiler.NewProfile(info, ms, strings.Join(notes, " "))
	if err := p.Validate(); err != nil {
		return fmt.Errorf("the measured profile does not validate: %w", err)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return err
	}
	if o.out == "-" {
		_, err := o.io.Out.Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(o.out, buf.Bytes())
}

func configName(i profiler.Info) string {
	k := profile.Key{Platform: i.Platform, Hardware: i.Hardware, MemoryMB: i.MemoryMB, VCPUs: i.VCPUs, DType: i.DType,
		Sharing: i.Sharing, Colocated: i.Colocated, MPSPct: i.MPSPct}
	return k.String()
}

// openTargets opens one target per configuration to measure (per thread count, per memory size).
func (o *profileOptions) openTargets(ctx context.Context) ([]profiler.Target, func(), error) {
	var targets []profiler.Target
	closeAll := func() {
		for _, t := range targets {
			_ = t.Close()
		}
	}
	switch {
	case o.target == "builtin":
		threads, err := intList("threads", o.threads)
		if err != nil {
			return nil, nil, err
		}
		cpu, err := hw.ReadCPU("/")
		if err != nil {
			return nil, nil, err
		}
		for _, n := range threads {
			t, err := profiler.NewBuiltin(o.model, n, o.seed, cpu)
			if err != nil {
				return nil, nil, &flagError{err: err}
			}
			targets = append(targets, t)
		}
	default:
		t, cl, err := o.openExternal(ctx)
		if err != nil {
			return nil, nil, err
		}
		targets = append(targets, t...)
		prev := closeAll
		closeAll = func() {
			prev()
			cl()
		}
	}
	return targets, closeAll, nil
}

func newProfileShowCmd(io *ioStreams) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Validate a profile and show its configurations and how well a model fits them",
		Long: `show validates a profile (contract §3.2) and lists its measured configurations — platform,
hardware, memory or vCPUs — with their batch and size ranges, and the error of a least-squares latency
model fitted to each (for Lambda, one model across memory sizes): the mean and largest error on points
held out of the fit (5-fold cross-validation), which says how far interpolating or extrapolating
between the measurements can be trusted.`,
		Example: `  inferplan profile show lambda-deepspeech.json
  inferplan profile show gpu-h100-bert-base-float16.json --format markdown`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := reports.ParseFormat(format)
			if err != nil {
				return &flagError{err: err}
			}
			p, err := readProfile(args[0])
			if err != nil {
				return err
			}
			sum := reports.ProfileSummary(latency.Summarise(p))
			if f == reports.JSON {
				return reports.WriteJSON(io.Out, sum)
			}
			return sum.Document(args[0]).Render(io.Out, f)
		},
	}
	formatFlag(cmd, &format, "output")
	return cmd
}
