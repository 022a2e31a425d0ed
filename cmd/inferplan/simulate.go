package main

import (
	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/planner/lambda/replay"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/trace"
)

type simulateOptions struct {
	io          *ioStreams
	planPath    string
	profilePath string
	tracePath   string
	trace       traceFlags
	format      string
	example     bool
	workload    string
}

func newSimulateCmd(io *ioStreams) *cobra.Command {
	o := &simulateOptions{io: io}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a trace through a plan and report cost and latency",
		Long: `simulate replays every request of a trace through a plan's buffers with the batching and billing
semantics of contract §4 — batches close when full or at their timeout, run padded to their largest
request for the profile's latency, and bill per millisecond — and reports the cost, SLO attainment,
latency percentiles and padding. With --format json it prints one JSON object with the fields of a
plan's "estimate".

A cluster plan is replayed through its fleet over the traces of a workload file (--workload; by
default the one the plan was made from): every service's requests routed, batched per worker, queued
while workers are busy and slowed by GPU sharing, as docs/cluster-plan.md says.`,
		Example: `  inferplan simulate --plan plan.json --profile ds.json --trace trace.csv --format json

  # replay a plan over a different day's traffic
  inferplan simulate --plan plan.json --profile ds.json --trace tuesday.csv --time-col TIMESTAMP --size-col size

  # the example's profile and trace
  inferplan simulate --plan plan.json --example

  # a cluster plan over a workload's traces
  inferplan simulate --plan cluster.json --workload testdata/cluster/workload.yaml --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimulate(o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.planPath, "plan", "", "plan JSON (contract §3.3)")
	fs.StringVar(&o.profilePath, "profile", "", "latency profile JSON the plan's memory sizes were measured in")
	fs.StringVar(&o.tracePath, "trace", "", "request trace CSV")
	o.trace.register(cmd)
	formatFlag(cmd, &o.format, "output")
	fs.BoolVar(&o.example, "example", false, "use the embedded example's profile and trace")
	fs.StringVar(&o.workload, "workload", "", "cluster plans: the workload file whose traces to replay (default: the plan's own)")
	return cmd
}

func runSimulate(o *simulateOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.planPath == "" {
		return flagErrorf("--plan is required")
	}
	p, err := plan.ReadFile(o.planPath)
	if err != nil {
		return err
	}
	if p.Cluster != nil {
		return simulateCluster(o, p, format)
	}
	if o.workload != "" {
		return flagErrorf("--workload is for cluster plans; %s is a %s plan", o.planPath, p.Platform)
	}
	var (
		prof *profile.Profile
		tr   *trace.Trace
	)
	switch {
	case o.example && (o.profilePath != "" || o.tracePath != ""):
		return flagErrorf("--example replays the embedded data; leave out --profile and --trace")
	case o.example:
		if prof, err = example.Profile(); err != nil {
			return err
		}
		if tr, err = example.Trace(); err != nil {
			return err
		}
	case o.profilePath == "" || o.tracePath == "":
		return flagErrorf("--profile and --trace are required (or --example)")
	default:
		if prof, err = readProfile(o.profilePath); err != nil {
			return err
		}
		if tr, err = o.trace.read(o.tracePath); err != nil {
			return err
		}
	}
	tg, err := replay.Resolve(p, latency.NewTable(prof))
	if err != nil {
		return plan.Locate(err, o.planPath)
	}
	res, err := replay.Run(tg, tr, replay.Options{})
	if err != nil {
		return err
	}
	if format == reports.JSON {
		return reports.WriteJSON(o.io.Out, res.Estimate)
	}
	bufs := plan.Strip(p.Lambda.Buffers)
	for i := range bufs {
		st := res.Buffers[i]
		bufs[i].Stats = &st
	}
	return reports.SimulationDocument(p, bufs, res.Estimate, tr.Source).Render(o.io.Out, format)
}

// simulateCluster replays a cluster plan over its workload's traces.
func simulateCluster(o *simulateOptions, p *plan.Plan, format reports.Format) error {
	if o.example || o.profilePath != "" || o.tracePath != "" {
		return flagErrorf("a cluster plan is replayed over a workload file (--workload), not --profile/--trace/--example")
	}
	path := o.workload
	if path == "" && p.Inputs != nil {
		path = p.Inputs.Workload
	}
	if path == "" {
		return flagErrorf("--workload is required: %s does not say which workload it was made from", o.planPath)
	}
	w, err := cluster.ReadWorkload(path)
	if err != nil {
		return err
	}
	cat, err := catalog(o.io)
	if err != nil {
		return err
	}
	e, err := cluster.Simulate(p, w, cluster.Options{Common: planner.Common{Catalog: cat}})
	if err != nil {
		return err
	}
	if format == reports.JSON {
		return reports.WriteJSON(o.io.Out, e)
	}
	return reports.ClusterSimulationDocument(p, *e, path).Render(o.io.Out, format)
}
