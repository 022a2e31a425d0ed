package reports

import (
	"encoding/json"
	"fmt"

	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
)

// MeasurementsDocument shows what `profile` measured: every point with its statistics, then how well the latency
// model fits each configuration, and notes (adaptive sampling's report, say).
func MeasurementsDocument(p *profile.Profile, sum latency.Summary, notes []string) *Document {
	d := &Document{Title: fmt.Sprintf("Profile of %s: %d measurements", p.Model, len(p.Measurements))}
	sec := Section{Columns: []Column{{"Configuration", false}, {"Batch", true}, {"Size", true}, {"Median", true}, {"p95", true},
		{"Min", true}, {"Max", true}, {"Runs", true}, {"Extra", false}}}
	for _, m := range p.Measurements {
		extra := ""
		if v, ok := m.Extra["gpu_util_pct"]; ok {
			extra = "GPU " + string(v) + "% busy"
		}
		if v, ok := m.Optional["cold_start_ms"]; ok {
			extra = "cold start " + Ms(v)
		}
		if v, ok := m.Extra["batches_per_s"]; ok {
			extra = string(v) + " batches/s"
		}
		sec.Rows = append(sec.Rows, []string{m.Key().String(), fmt.Sprint(m.Batch), Num(m.Size), Ms(m.LatencyMs),
			optMs(m, "latency_p95_ms"), optMs(m, "latency_min_ms"), optMs(m, "latency_max_ms"), rawInt(m.Extra["runs"]), extra})
	}
	for _, c := range sum.Configs {
		if c.Fit != nil && c.Fit.HeldOutMAPE != nil {
			sec.Notes = append(sec.Notes, fmt.Sprintf("%s: latency model %s fits with %.1f%% held-out error (largest %.1f%%).",
				c.Config, latency.Shape, *c.Fit.HeldOutMAPE, *c.Fit.HeldOutMaxAPE))
		}
	}
	d.Sections = append(d.Sections, sec)
	d.Notes = notes
	return d
}

func optMs(m profile.Measurement, k string) string {
	if v, ok := m.Optional[k]; ok {
		return Ms(v)
	}
	return "–"
}

func rawInt(raw json.RawMessage) string {
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return "–"
	}
	return fmt.Sprint(n)
}

// HardwareDocument shows the host's CPU and GPUs.
func HardwareDocument(r hw.Report) *Document {
	c := r.CPU
	d := &Document{Title: "Hardware of " + r.Hostname}
	d.Sections = append(d.Sections, Section{Title: "CPU", Columns: []Column{{"Model", false}, {"Arch", false}, {"Sockets", true},
		{"Cores", true}, {"Threads", true}, {"Memory", true}},
		Rows: [][]string{{c.Model, c.Arch, fmt.Sprint(c.Sockets), fmt.Sprint(c.Cores), fmt.Sprint(c.Threads), fmt.Sprintf("%.1f GiB", c.MemoryGiB)}}})
	if len(r.GPUs) == 0 {
		d.Notes = append(d.Notes, "no NVIDIA GPU ("+r.NoGPU+")")
		return d
	}
	g := Section{Title: "NVIDIA GPUs (" + r.Driver + ")", Columns: []Column{{"#", true}, {"Name", false}, {"Memory", true}, {"CUDA cores", true},
		{"Compute cap.", true}, {"Max SM / mem clock", true}, {"Power limit", true}, {"MIG", false}, {"Compute mode", false}, {"Processes", false}}}
	for _, gpu := range r.GPUs {
		procs := "none"
		if len(gpu.Processes) > 0 {
			procs = ""
			for i, p := range gpu.Processes {
				if i > 0 {
					procs += ", "
				}
				procs += fmt.Sprintf("%d %s (%d MiB)", p.PID, p.Name, p.UsedMiB)
			}
		}
		cores := "–"
		if gpu.CUDACores > 0 {
			cores = Thousands(float64(gpu.CUDACores), 0)
		}
		g.Rows = append(g.Rows, []string{fmt.Sprint(gpu.Index), gpu.Name, fmt.Sprintf("%s MiB", Thousands(float64(gpu.MemoryMiB), 0)), cores,
			gpu.ComputeCapability, fmt.Sprintf("%d / %d MHz", gpu.MaxSMClockMHz, gpu.MaxMemClockMHz), fmt.Sprintf("%.0f W", gpu.PowerLimitW),
			gpu.MIGMode, gpu.ComputeMode, procs})
	}
	d.Sections = append(d.Sections, g)
	return d
}
