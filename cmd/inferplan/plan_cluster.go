package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/reports"
)

// notForClusterFlags are plan's flags that a cluster plan does not take: a cluster workload names its own
// profiles, traces and SLOs, and a cluster plan is not fitted with an attainment margin.
var notForClusterFlags = []string{"profile", "trace", "slo-ms", "percentile", "example", "arch", "max-buffers", "refine",
	"time-col", "size-col", "time-unit", "validate", "validate-trace", "margin"}

// runPlanCluster plans a fleet for a workload file.
func runPlanCluster(cmd *cobra.Command, o *planOptions, format reports.Format) error {
	for _, name := range notForClusterFlags {
		if cmd.Flags().Changed(name) {
			return flagErrorf("--%s is for --platform lambda; a cluster workload file names each service's profiles, trace and SLO", name)
		}
	}
	if o.workload == "" {
		return flagErrorf("--platform cluster needs --workload FILE")
	}
	if !o.autoscale {
		for _, name := range []string{"window", "startup", "min-instances"} {
			if cmd.Flags().Changed(name) {
				return flagErrorf("--%s is for --autoscale: a static cluster plan is one fleet for the whole trace", name)
			}
		}
	}
	window := o.window
	if window == 0 {
		window = 5 * time.Minute
	}
	if window < 10*time.Second {
		return flagErrorf("--window %v: want a scaling window of at least 10s (e.g. 5m)", o.window)
	}
	if o.startup < 0 {
		return flagErrorf("--startup %v: want a non-negative duration (e.g. 90s)", o.startup)
	}
	if o.minInst < 1 {
		return flagErrorf("--min-instances %d: want at least 1", o.minInst)
	}
	w, err := cluster.ReadWorkload(o.workload)
	if err != nil {
		return err
	}
	cat, err := catalog(o.io)
	if err != nil {
		return err
	}
	prog := newProgress(o.io, o.quiet)
	startup := o.startup.Seconds()
	p, err := cluster.Plan(cmd.Context(), w, cluster.Options{
		Common:    planner.Common{Catalog: cat, Seed: o.seed, Progress: prog.report, Now: o.io.Now},
		Autoscale: o.autoscale, WindowS: window.Seconds(), StartupS: &startup, MinInstances: o.minInst,
	})
	prog.done()
	if err != nil {
		return err
	}
	return o.emit(p, format)
}
