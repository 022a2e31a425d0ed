package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/planner"
	"github.com/inferplan/inferplan/planner/cluster"
	"github.com/inferplan/inferplan/reports"
)

// lambdaOnlyFlags are plan's flags that only a Lambda plan takes: a cluster workload names its own profiles,
// traces and SLOs.
var lambdaOnlyFlags = []string{"profile", "trace", "slo-ms", "percentile", "example", "arch", "max-buffers", "refine",
	"time-col", "size-col", "time-unit"}

// runPlanCluster plans a fleet for a workload file.
func runPlanCluster(cmd *cobra.Command, o *planOptions, format reports.Format) error {
	for _, name := range lambdaOnlyFlags {
		if cmd.Flags().Changed(name) {
			return flagErrorf("--%s is for --platform lambda; a cluster workload file names each service's profiles, trace and SLO", name)
		}
	}
	if o.workload == "" {
		return flagErrorf("--platform cluster needs --workload FILE")
	}
	if o.window != 0 {
		return flagErrorf("--window: a cluster plan is one fleet for the whole trace in this version")
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
	p, err := cluster.Plan(cmd.Context(), w, cluster.Options{
		Common: planner.Common{Catalog: cat, Seed: o.seed, Progress: prog.report, Now: o.io.Now},
	})
	prog.done()
	if err != nil {
		return err
	}
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
