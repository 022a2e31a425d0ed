package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/example"
	"github.com/inferplan/inferplan/planner/explain"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/trace"
)

func newReportCmd(io *ioStreams) *cobra.Command {
	var (
		htmlPath, chartsDir, chartFormat string
		profilePath, tracePath           string
		tf                               traceFlags
		useExample                       bool
	)
	cmd := &cobra.Command{
		Use:   "report PLAN",
		Short: "Write an HTML report of a plan with charts (and the charts as SVG or PNG)",
		Long: `report replays a plan and its baselines over the trace it was planned on and writes a single
self-contained HTML page (no scripts, no external files): the summary tables, the trace's size
histogram with the buffer boundaries, the latency distributions of the plan and its baselines against
the SLO, their cost per million requests beside the ideal bound, each buffer's batch size and padding,
and, for a plan with a schedule, the cost of every window. --charts writes the same charts as files.

For a cluster plan the page shows the replay the plan records: its tables, the cost an hour of the plan
and its baselines, each service's tail latency against its SLO and, for a scaled plan, each service's
arrival rate, forecast, provisioned capacity and spilled requests over the windows.

The profile and trace are the ones the plan records (checked against their digests), or --profile and
--trace.`,
		Example: `  inferplan report plan.json --html plan.html
  inferplan report plan.json --charts charts/ --chart-format png
  inferplan report plan.json --profile ds.json --trace today.csv --html today.html`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if htmlPath == "" && chartsDir == "" {
				return flagErrorf("say what to write: --html FILE and/or --charts DIR")
			}
			if err := checkOutput("--html", htmlPath); err != nil {
				return err
			}
			if err := checkOutputDir("--charts", chartsDir); err != nil {
				return err
			}
			if jp, err := readJobPlan(args[0]); err != nil || jp != nil {
				if err != nil {
					return err
				}
				return reportJobPlan(io, jp, htmlPath, chartsDir, chartFormat)
			}
			p, err := plan.ReadFile(args[0])
			if err != nil {
				return err
			}
			if p.Platform == plan.PlatformCluster {
				for _, f := range []string{"profile", "trace", "example"} {
					if cmd.Flags().Changed(f) {
						return flagErrorf("--%s is for Lambda plans; a cluster plan's report shows the replay it records", f)
					}
				}
				return clusterReport(io, p, htmlPath, chartsDir, chartFormat)
			}
			prof, tr, err := reportInputs(io, p, profilePath, tracePath, &tf, cmd.Flags().Changed, useExample)
			if err != nil {
				return err
			}
			d, err := explain.Build(p, latency.NewTable(prof), tr)
			if err != nil {
				return plan.Locate(err, args[0])
			}
			charts, err := reports.Charts(d)
			if err != nil {
				return err
			}
			return writeReport(io, htmlPath, chartsDir, chartFormat, charts,
				func(b *bytes.Buffer) error { return reports.RenderHTML(b, d, charts) })
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&htmlPath, "html", "", "write the HTML report here")
	fs.StringVar(&chartsDir, "charts", "", "write the charts into this folder")
	enumFlag(cmd, &chartFormat, "chart-format", "", "svg", []string{"svg", "png"}, "chart files")
	fs.StringVar(&profilePath, "profile", "", "profile the plan's memory sizes were measured in (default: the one the plan records)")
	fs.StringVar(&tracePath, "trace", "", "trace to replay (default: the one the plan records)")
	tf.register(cmd)
	fs.BoolVar(&useExample, "example", false, "use the embedded example's profile and trace")
	return cmd
}

// reportInputs finds the profile and trace of a plan: flags first, then what the plan records (the embedded
// example's data for example plans), warning when a recorded file has changed since planning.
func reportInputs(io *ioStreams, p *plan.Plan, profilePath, tracePath string, tf *traceFlags, changed func(string) bool, useExample bool) (*profile.Profile, *trace.Trace, error) {
	in := p.Inputs
	if in == nil {
		in = &plan.Inputs{}
	}
	if useExample || profilePath == "" && strings.HasPrefix(in.Profile, "example:") {
		prof, err := example.Profile()
		if err != nil {
			return nil, nil, err
		}
		tr, err := example.Trace()
		return prof, tr, err
	}
	check := func(path, recorded, digest string) {
		if path == recorded && digest != "" {
			if sum, err := fileSHA256(path); err == nil && sum != digest {
				fmt.Fprintf(io.ErrOut, "warning: %s has changed since the plan was made (sha256 differs)\n", path)
			}
		}
	}
	if profilePath == "" {
		profilePath = in.Profile
	}
	if tracePath == "" {
		tracePath = in.Trace
		// read the trace with the columns it was planned with, unless flags say otherwise
		if !changed("time-col") && in.TimeCol != "" {
			tf.timeCol = in.TimeCol
		}
		if !changed("size-col") && in.SizeCol != "" {
			tf.sizeCol = in.SizeCol
		}
		if !changed("time-unit") && in.TimeUnit != "" {
			tf.timeUnit = in.TimeUnit
		}
	}
	if profilePath == "" || tracePath == "" {
		return nil, nil, flagErrorf("the plan does not record its profile and trace: give --profile and --trace")
	}
	check(profilePath, in.Profile, in.ProfileSHA256)
	check(tracePath, in.Trace, in.TraceSHA256)
	prof, err := readProfile(profilePath)
	if err != nil {
		return nil, nil, err
	}
	tr, err := tf.read(tracePath)
	return prof, tr, err
}

// writeReport writes the HTML page render makes to htmlPath and the charts into chartsDir, each when asked for.
func writeReport(io *ioStreams, htmlPath, chartsDir, chartFormat string, charts []reports.Chart, render func(*bytes.Buffer) error) error {
	if htmlPath != "" {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			return err
		}
		if err := writeFileAtomic(htmlPath, b.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(io.ErrOut, "wrote %s (%d charts)\n", htmlPath, len(charts))
	}
	if chartsDir != "" {
		paths, err := reports.WriteCharts(charts, chartsDir, chartFormat)
		if err != nil {
			return &flagError{err: err}
		}
		fmt.Fprintf(io.ErrOut, "wrote %s\n", strings.Join(paths, ", "))
	}
	return nil
}
