package main

import (
	"bytes"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/reports"
)

// clusterReport writes a cluster plan's report from the replay it records: its tables and, for a scaled plan, each
// service's traffic against forecast, capacity and spill over the windows.
func clusterReport(io *ioStreams, p *plan.Plan, htmlPath, chartsDir, chartFormat string) error {
	charts, err := reports.ClusterCharts(p)
	if err != nil {
		return err
	}
	return writeReport(io, htmlPath, chartsDir, chartFormat, charts,
		func(b *bytes.Buffer) error { return reports.RenderClusterHTML(b, p, charts) })
}
