package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/atomicfile"
	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/lambda"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/trace"
)

type planOptions struct {
	io          *ioStreams
	profilePath string
	tracePath   string
	trace       traceFlags
	sloMs       float64
	percentile  float64
	platform    string
	out         string
	format      string
	example     bool
	arch        string
	seed        uint64
	maxBuffers  int
	window      time.Duration
	refine      int
	quiet       bool
	workload    string
	autoscale   bool
	startup     time.Duration
	minInst     int
	robust      planRobustFlags // --validate, --validate-trace, --margin, --progress (plan_robust.go)
	jobFlags    jobPlanFlags    // --job, --channel-params (job.go)
}

func newPlanCmd(io *ioStreams) *cobra.Command {
	o := &planOptions{io: io}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Search the cheapest deployment plan that meets a latency SLO",
		Long: `plan reads a latency profile and a request trace and searches a Lambda deployment plan: buffers
over the request-size axis and, per buffer, a batch size, a batch timeout and a memory size, for the
least cost whose replay of the trace meets the SLO percentile. The plan is verified by replaying
the trace (contract §4) and compared with two baselines: no batching, and one buffer for all sizes.

With --platform cluster it plans a fleet for the services of a workload file (--workload): which EC2
instance types and how many, which services share which GPU and how (time-slicing, MPS shares, MIG
slices), and how each worker batches, for the least cost per hour that meets every service's SLO on
its own trace — verified by the cluster simulator and compared with four baselines (dedicated,
time-slice-only, cpu-only, lambda). docs/cluster-plan.md describes the format and the simulator.

The plan JSON goes to -o (use -o - for stdout, with the summary on stderr); the summary goes to
stdout as a table, markdown or the plan JSON itself (--format).`,
		Example: `  # the embedded example: DeepSpeech on Lambda, 20 minutes of real Azure arrivals
  inferplan plan --example

  # your own profile and trace, Azure-style columns
  inferplan plan --profile ds.json --trace azure_conv.csv --time-col TIMESTAMP --size-col ContextTokens \
      --slo-ms 20000 --percentile 95 -o plan.json

  # arm64 prices, markdown summary for a pull request
  inferplan plan --profile ds.json --trace t.csv --slo-ms 800 --arch arm64 --format markdown -o plan.json

  # a fleet for several services on CPUs and GPUs
  inferplan plan --platform cluster --workload testdata/cluster/workload.yaml -o cluster.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.profilePath, "profile", "", "latency profile JSON (contract §3.2)")
	fs.StringVar(&o.tracePath, "trace", "", "request trace CSV (contract §3.1)")
	o.trace.register(cmd)
	fs.Float64Var(&o.sloMs, "slo-ms", 0, "latency bound in ms that the percentile must meet (default 20000 with --example)")
	fs.Float64Var(&o.percentile, "percentile", 95, "SLO percentile, in (0, 100]")
	enumFlag(cmd, &o.platform, "platform", "", "lambda", []string{"lambda", "cluster", "dataparallel"},
		"platform to plan for: lambda (a model on Lambda), cluster (services on a fleet, --workload) or dataparallel (a data-parallel job, --job)")
	fs.StringVar(&o.workload, "workload", "", "cluster: the workload file (services, their profiles, traces and SLOs)")
	fs.BoolVar(&o.autoscale, "autoscale", false, "cluster: a fleet that follows a forecast of every --window's peak rate and spills to Lambda")
	fs.DurationVar(&o.startup, "startup", 90*time.Second, "cluster --autoscale: how long an instance takes to start (it is launched that long before it is needed)")
	fs.IntVar(&o.minInst, "min-instances", 1, "cluster --autoscale: the fewest instances of each pool")
	fs.StringVarP(&o.out, "out", "o", "", "write the plan JSON to this file (- for stdout)")
	formatFlag(cmd, &o.format, "summary")
	fs.BoolVar(&o.example, "example", false, "plan the embedded example (DeepSpeech on Lambda, Azure arrivals) instead of --profile/--trace")
	enumFlag(cmd, &o.arch, "arch", "", "x86_64", []string{"x86_64", "arm64"}, "Lambda architecture to price")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every random choice the search makes (recorded in the plan)")
	fs.IntVar(&o.maxBuffers, "max-buffers", 16, "most buffers a plan may have")
	fs.DurationVar(&o.window, "window", 0, "lambda: also plan every window of this length separately (e.g. 1h, 10m) and print the schedule; cluster --autoscale: the scaling window (default 5m)")
	fs.IntVar(&o.refine, "refine", 30, "replays Bayesian optimisation may spend polishing the plan's timeouts (0: none)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bars on stderr")
	o.robust.register(cmd)
	o.jobFlags.register(cmd)
	return cmd
}

func runPlan(cmd *cobra.Command, o *planOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.platform != "dataparallel" && (o.jobFlags.job != "" || o.jobFlags.channelParams != "") {
		return flagErrorf("--job and --channel-params are for --platform dataparallel")
	}
	switch o.platform {
	case "lambda":
		for _, f := range []string{"workload", "autoscale", "startup", "min-instances"} {
			if cmd.Flags().Changed(f) {
				return flagErrorf("--%s is for --platform cluster; a Lambda plan takes --profile and --trace", f)
			}
		}
	case "cluster":
		return runPlanCluster(cmd, o, format)
	case "dataparallel":
		return runJobPlan(cmd, o, format)
	}
	if o.arch != "x86_64" && o.arch != "arm64" {
		return flagErrorf("--arch %q: want x86_64 or arm64", o.arch)
	}
	if !(o.percentile > 0 && o.percentile <= 100) {
		return flagErrorf("--percentile %v: want a number in (0, 100]", o.percentile)
	}
	if err := o.robust.check(o); err != nil {
		return err
	}
	in, err := o.input()
	if err != nil {
		return err
	}
	if o.example && o.sloMs == 0 {
		o.sloMs = 20000
	}
	if !(o.sloMs > 0) {
		return flagErrorf("--slo-ms is required and must be positive")
	}
	if err := checkSLO(o.sloMs, in.Trace); err != nil {
		return err
	}
	if o.maxBuffers < 1 {
		return flagErrorf("--max-buffers %d: want at least 1", o.maxBuffers)
	}
	if o.window < 0 || o.window > 0 && o.window < time.Second {
		return flagErrorf("--window %v: want a duration of at least 1s (e.g. 1h, 10m)", o.window)
	}
	cat, err := catalog(o.io)
	if err != nil {
		return err
	}
	refine := o.refine
	if refine == 0 {
		refine = -1 // planner: negative disables
	}
	prog := newProgress(o.io, o.quiet).forced(o.robust.progress)
	opt := lambda.Options{
		Common:       planner.Common{Catalog: cat, Seed: o.seed, Progress: prog.report, Now: o.io.Now},
		SLO:          plan.SLO{Percentile: o.percentile, LatencyMs: o.sloMs},
		Arch:         o.arch,
		MaxBuffers:   o.maxBuffers,
		RefineBudget: refine,
		Window:       o.window.Seconds(),
	}
	if err := o.robust.apply(o, &opt, &in); err != nil {
		return err
	}
	p, err := lambda.Plan(cmd.Context(), in, opt)
	prog.done()
	if err != nil {
		return err
	}
	return o.emit(p, format)
}

// emit writes the plan JSON where -o says and the summary in the chosen format (to stderr when the JSON goes to
// stdout).
func (o *planOptions) emit(p *plan.Plan, format reports.Format) error {
	summary := o.io.Out
	if o.out != "" {
		if err := writePlan(o.out, p, o.io.Out); err != nil {
			return err
		}
		if o.out == "-" {
			summary = o.io.ErrOut
		}
	}
	if err := reports.RenderPlan(summary, format, p); err != nil {
		return err
	}
	if o.out != "" && o.out != "-" {
		fmt.Fprintf(o.io.ErrOut, "wrote %s\n", o.out)
	}
	return nil
}

func (o *planOptions) input() (lambda.Input, error) {
	if o.example {
		if o.profilePath != "" || o.tracePath != "" {
			return lambda.Input{}, flagErrorf("--example plans the embedded data; leave out --profile and --trace")
		}
		prof, err := example.Profile()
		if err != nil {
			return lambda.Input{}, err
		}
		tr, err := example.Trace()
		if err != nil {
			return lambda.Input{}, err
		}
		return lambda.Input{Profile: prof, Trace: tr, Inputs: &plan.Inputs{
			Profile: example.ProfileName, ProfileSHA256: bytesSHA256(example.ProfileJSON()),
			Trace: tr.Source, TraceSHA256: bytesSHA256(example.AzureConvCSV()),
			Requests: tr.Len(), SpanS: float64(tr.Span()) / 1e6,
		}}, nil
	}
	if o.profilePath == "" || o.tracePath == "" {
		return lambda.Input{}, flagErrorf("--profile and --trace are required (or --example)")
	}
	prof, err := readProfile(o.profilePath)
	if err != nil {
		return lambda.Input{}, err
	}
	tr, err := o.trace.read(o.tracePath)
	if err != nil {
		return lambda.Input{}, err
	}
	in := inputsOf(o.profilePath, o.tracePath, tr)
	in.TimeCol, in.SizeCol, in.TimeUnit = o.trace.timeCol, o.trace.sizeCol, o.trace.timeUnit
	return lambda.Input{Profile: prof, Trace: tr, Inputs: in}, nil
}

func inputsOf(profilePath, tracePath string, tr *trace.Trace) *plan.Inputs {
	in := &plan.Inputs{Profile: profilePath, Trace: tracePath, Requests: tr.Len(), SpanS: float64(tr.Span()) / 1e6}
	in.ProfileSHA256, _ = fileSHA256(profilePath)
	in.TraceSHA256, _ = fileSHA256(tracePath)
	return in
}

// writePlan writes the plan JSON to path, or to stdout for "-". A file is written whole or not at all.
func writePlan(path string, p *plan.Plan, stdout io.Writer) error {
	data, err := p.Marshal()
	if err != nil {
		return err
	}
	return writeOutput(path, data, stdout)
}

// writeOutput writes data to path, or to stdout for "-"; a file whole or not at all.
func writeOutput(path string, data []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	return writeFileAtomic(path, data)
}

// writeFileAtomic writes a file whole or not at all, so a crash or a full disk never leaves a half-written plan
// for CI to read.
func writeFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }
