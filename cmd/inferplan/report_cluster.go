package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/reports"
)

// clusterReport writes a cluster plan's report from the replay the plan records: its tables and, for a scaled
// plan, each service's traffic against forecast, capacity and spill over the windows.
func clusterReport(io *ioStreams, p *plan.Plan, htmlPath, chartsDir, chartFormat string) error {
	charts, err := reports.ClusterCharts(p)
	if err != nil {
		return err
	}
	if htmlPath != "" {
		var b bytes.Buffer
		if err := reports.RenderClusterHTML(&b, p, charts); err != nil {
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
