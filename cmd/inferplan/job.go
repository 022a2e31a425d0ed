package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/planner/job"
	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/reports"
)

// jobPlanFlags are plan's flags for --platform dataparallel.
type jobPlanFlags struct {
	job           string
	channelParams string
}

func (f *jobPlanFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.job, "job", "", "dataparallel: the job file (YAML: input_gb, stages, workers, lambda_memory_mb, ec2_types, deadline_s or budget_usd)")
	cmd.Flags().StringVar(&f.channelParams, "channel-params", "", "dataparallel: channel parameters from 'inferplan profile network' in place of FMI's defaults")
}

// notForJobFlags are plan flags that mean nothing for a data-parallel job.
var notForJobFlags = []string{"profile", "trace", "slo-ms", "percentile", "example", "seed", "max-buffers", "window", "refine",
	"time-col", "size-col", "time-unit", "validate", "validate-trace", "margin", "workload", "autoscale", "startup", "min-instances"}

// runJobPlan plans a data-parallel job: every worker count × memory × channel on Lambda and every EC2 type,
// the strong-scaling table on the terminal, the plan JSON to -o. It exits 4 when nothing meets the deadline.
func runJobPlan(cmd *cobra.Command, o *planOptions, format reports.Format) error {
	for _, f := range notForJobFlags {
		if cmd.Flags().Changed(f) {
			return flagErrorf("--%s does not apply to --platform dataparallel (the job file says what to plan)", f)
		}
	}
	if o.jobFlags.job == "" {
		return flagErrorf("--platform dataparallel needs --job FILE")
	}
	j, err := job.ReadFile(o.jobFlags.job)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("arch") {
		if o.arch != "x86_64" && o.arch != "arm64" {
			return flagErrorf("--arch %q: want x86_64 or arm64", o.arch)
		}
		j.Arch = o.arch // the flag wins over the job file
	}
	params, paramsPath, err := jobChannelParams(o.jobFlags.channelParams, j)
	if err != nil {
		return err
	}
	cat, err := catalog(o.io)
	if err != nil {
		return err
	}
	in := job.Inputs{JobFile: o.jobFlags.job, ChannelParamsFile: paramsPath}
	in.JobSHA256, _ = fileSHA256(o.jobFlags.job)
	if paramsPath != "" {
		in.ChannelParamsSHA256, _ = fileSHA256(paramsPath)
	}
	p, planErr := job.Build(j, job.Options{Catalog: cat, Params: params, Inputs: in})
	var infeasible *job.InfeasibleError
	if planErr != nil && !errors.As(planErr, &infeasible) {
		return planErr
	}
	// an infeasible job still gets its plan and table: they show how close the fastest configuration comes
	summary := o.io.Out
	if o.out != "" {
		data, err := p.Marshal()
		if err != nil {
			return err
		}
		if err := writeOutput(o.out, data, o.io.Out); err != nil {
			return err
		}
		if o.out == "-" {
			summary = o.io.ErrOut
		}
	}
	if err := reports.RenderJobPlan(summary, format, p); err != nil {
		return err
	}
	if o.out != "" && o.out != "-" {
		fmt.Fprintf(o.io.ErrOut, "wrote %s\n", o.out)
	}
	return planErr
}

// jobChannelParams reads the channel parameters: the flag's file, else the one the job names, else FMI's defaults.
func jobChannelParams(flag string, j *job.Job) (channel.Params, string, error) {
	path := flag
	if path == "" {
		path = j.ChannelParamsPath()
	}
	if path == "" {
		return channel.Defaults(), "", nil
	}
	p, err := channel.Read(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return channel.Params{}, "", flagErrorf("channel parameters %s: no such file", path)
		}
		return channel.Params{}, "", err
	}
	return p, path, nil
}

func isJobInfeasible(err error) bool {
	var e *job.InfeasibleError
	return errors.As(err, &e)
}

// readJobPlan returns the data-parallel plan in path, or nil when the file is not one.
func readJobPlan(path string) (*job.Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil || !job.IsPlan(data) {
		// not readable or not ours: the Lambda plan reader says what is wrong
		return nil, nil
	}
	p, err := job.ParsePlan(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// reportJobPlan writes the HTML report and charts of a data-parallel plan.
func reportJobPlan(io *ioStreams, p *job.Plan, htmlPath, chartsDir, chartFormat string) error {
	charts, err := reports.JobCharts(p)
	if err != nil {
		return err
	}
	return writeReport(io, htmlPath, chartsDir, chartFormat, charts,
		func(b *bytes.Buffer) error { return reports.RenderJobHTML(b, p, charts) })
}
