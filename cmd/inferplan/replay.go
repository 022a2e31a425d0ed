package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/loadgen"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/trace"
)

type replayOptions struct {
	io          *ioStreams
	tracePath   string
	trace       traceFlags
	workload    string // a cluster gateway's: every service's trace
	url         string
	model       string
	token       string
	speedup     float64
	start       string
	duration    string
	profilePath string
	timeout     time.Duration
	seed        uint64
	format      string
	quiet       bool
}

func newReplayCmd(io *ioStreams) *cobra.Command {
	o := &replayOptions{io: io}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Drive a running serve with a trace and compare what it did with the simulator",
		Long: `replay is an open-loop load generator: it sends every request of a trace to a running
'inferplan serve' at its trace time (divided by --speedup) with as many token ids as its size,
never waiting for earlier answers, and measures each answer's latency.

It reports requests sent, answered OK, answered with an error, lost (sent, never answered) and
duplicated (answered with another request's id, or dispatched more often than answered); the
latency percentiles and SLO attainment against the served plan's SLO; and, from the gateway's
/metrics, the batches and mean batch size per buffer and the estimated cost — each beside the
replay simulator's figure for the same sped-up trace and plan. With --profile (the profile the
plan was made from) the simulated latency and cost are shown too.

A cluster gateway (serve --plan cluster.json) takes --workload FILE instead of --trace: every
service's trace is sent at once, each from its own first arrival as the planner reads them, to
its service's model, sizes truncated at the service's max_size. The report gives per service the
measured SLO attainment and p99 beside the cluster simulator's over the same sped-up traces and
over the arrivals as the gateway stamped them, and per worker the batches dispatched beside the
simulator's (--start and --duration cut every trace).

Run it against a gateway no one else is using: the batching comparison counts every batch the
gateway formed while the replay ran.`,
		Example: `  # the first 10 minutes of a trace at 10× speed
  inferplan replay --trace conv.csv --time-col TIMESTAMP --size-col size --url http://127.0.0.1:8080 \
      --duration 600 --speedup 10 --profile profile.json

  # one JSON object for scripts
  inferplan replay --trace trace.csv --url http://127.0.0.1:8080 --format json

  # a cluster gateway: two minutes of every service's trace
  inferplan replay --workload workload.yaml --duration 2m --url http://127.0.0.1:8080`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd.Context(), o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.tracePath, "trace", "", "request trace CSV")
	fs.StringVar(&o.workload, "workload", "", "a cluster gateway: the workload file whose services' traces to send (instead of --trace)")
	o.trace.register(cmd)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the gateway's base URL")
	fs.StringVar(&o.model, "model", "", "model name (default: the one the gateway serves)")
	fs.StringVar(&o.token, "auth-token", "", "bearer token (default $INFERPLAN_AUTH_TOKEN)")
	fs.Float64Var(&o.speedup, "speedup", 1, "replay this many times faster than the trace")
	fs.StringVar(&o.start, "start", "0", "skip the trace's first SECONDS (or a duration such as 1h)")
	fs.StringVar(&o.duration, "duration", "0", "replay only SECONDS of trace time from --start (or a duration such as 10m); 0 is all")
	fs.StringVar(&o.profilePath, "profile", "", "the plan's profile, to simulate latency and cost too")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "a request unanswered this long counts as lost")
	fs.Uint64Var(&o.seed, "seed", 1, "seeds the token ids sent")
	formatFlag(cmd, &o.format, "output")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

// seconds reads SECONDS or a Go duration.
func seconds(flag, s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, flagErrorf("--%s %s: want a non-negative number of seconds", flag, s)
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, flagErrorf("--%s %q: want seconds (600) or a duration (10m)", flag, s)
	}
	return d, nil
}

func runReplay(ctx context.Context, o *replayOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	switch {
	case o.tracePath == "" && o.workload == "":
		return flagErrorf("--trace is required (or --workload for a cluster gateway)")
	case o.tracePath != "" && o.workload != "":
		return flagErrorf("--trace and --workload: give one (--workload replays every service of a cluster gateway)")
	case o.workload != "" && o.profilePath != "":
		return flagErrorf("--profile is for --trace; a workload names its services' profiles")
	}
	if !(o.speedup > 0) || math.IsInf(o.speedup, 0) {
		return flagErrorf("--speedup %v: want a positive number", o.speedup)
	}
	start, err := seconds("start", o.start)
	if err != nil {
		return err
	}
	dur, err := seconds("duration", o.duration)
	if err != nil {
		return err
	}
	if o.workload != "" {
		return runReplayCluster(ctx, o, format, start, dur)
	}
	tr, err := o.trace.read(o.tracePath)
	if err != nil {
		return err
	}
	var tab *latency.Table
	if o.profilePath != "" {
		prof, err := readProfile(o.profilePath)
		if err != nil {
			return err
		}
		tab = latency.NewTable(prof)
	}
	tr = trace.Cut(tr, start.Microseconds(), dur.Microseconds(), 0, 1)
	if len(tr.Requests) == 0 {
		return &flagError{err: fmt.Errorf("%s: %w", o.tracePath, loadgen.ErrNoRequests)}
	}
	if o.token == "" {
		o.token = os.Getenv("INFERPLAN_AUTH_TOKEN")
	}
	prog := newProgress(o.io, o.quiet)
	opt := loadgen.Options{URL: o.url, Model: o.model, Token: o.token, Speedup: o.speedup, Timeout: o.timeout, Seed: o.seed,
		Progress: func(sent, answered, total int) { prog.report("replaying (answered)", answered, total) }}
	run, err := loadgen.Replay(ctx, tr, opt)
	prog.done()
	if err != nil {
		return err
	}
	rep, err := loadgen.Summarize(run, tr, opt, tab)
	if err != nil {
		return err
	}
	if format == reports.JSON {
		return reports.WriteJSON(o.io.Out, rep)
	}
	return reports.LoadDocument(rep, run.Plan).Render(o.io.Out, format)
}

// runReplayCluster replays a workload's traces against a cluster gateway and reports per service and worker.
func runReplayCluster(ctx context.Context, o *replayOptions, format reports.Format, start, dur time.Duration) error {
	w, err := cluster.ReadWorkload(o.workload)
	if err != nil {
		return err
	}
	cut := make([]*trace.Trace, len(w.Services))
	n := 0
	for i, s := range w.Services {
		cut[i] = trace.Cut(s.Trace, start.Microseconds(), dur.Microseconds(), 0, 1)
		n += cut[i].Len()
	}
	if n == 0 {
		return &flagError{err: fmt.Errorf("%s: %w", o.workload, loadgen.ErrNoRequests)}
	}
	if w, err = w.WithTraces(cut); err != nil {
		return err
	}
	if o.token == "" {
		o.token = os.Getenv("INFERPLAN_AUTH_TOKEN")
	}
	prog := newProgress(o.io, o.quiet)
	opt := loadgen.Options{URL: o.url, Token: o.token, Speedup: o.speedup, Timeout: o.timeout, Seed: o.seed,
		Progress: func(sent, answered, total int) { prog.report("replaying (answered)", answered, total) }}
	run, err := loadgen.ReplayCluster(ctx, w, opt)
	prog.done()
	if err != nil {
		return err
	}
	rep, err := loadgen.SummarizeCluster(run, w, opt)
	if err != nil {
		return err
	}
	if format == reports.JSON {
		return reports.WriteJSON(o.io.Out, rep)
	}
	return reports.ClusterLoadDocument(rep).Render(o.io.Out, format)
}
