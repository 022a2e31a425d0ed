package reports

import (
	"fmt"

	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/profiler/network"
	"github.com/inferplan/inferplan/shuffle"
)

func benchRate(bps float64) string {
	if bps <= 0 {
		return "no limit"
	}
	if bps >= 1e9 {
		return fmt.Sprintf("%.2f GB/s", bps/1e9)
	}
	return fmt.Sprintf("%.0f MB/s", bps/1e6)
}

func benchMicros(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.1f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.2f ms", s*1e3)
	}
	return JobSeconds(s)
}

func benchByteSize(b int) string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}

// NetworkDocument reports a channel measurement and the parameters it gives the model, beside FMI's defaults.
func NetworkDocument(r *network.Result, params channel.Params, out string) *Document {
	d := &Document{Title: fmt.Sprintf("Network measurement: %s, %d worker processes", r.Channel, r.Peers)}
	d.Lines = append(d.Lines, "Host: "+r.Host)
	if r.RedisServer != "" {
		d.Lines = append(d.Lines, "Redis: "+r.RedisServer)
	}
	d.Lines = append(d.Lines, "Measured at "+r.MeasuredAt)
	def := channel.Defaults()
	var fmi, got channel.Link
	setup, fmiSetup := "", ""
	switch r.Channel {
	case channel.Direct:
		fmi, got = def.Direct.Link, params.Direct.Link
		setup, fmiSetup = benchMicros(params.Direct.SetupS), benchMicros(def.Direct.SetupS)
	case channel.Redis:
		fmi, got = def.Redis.Link, params.Redis.Link
	}
	model := Section{Title: "Model parameters", Columns: []Column{{Name: "Parameter"}, {Name: "Measured", Right: true}, {Name: "FMI default", Right: true}}}
	model.Rows = append(model.Rows,
		[]string{"latency, one way (half the median ping-pong)", benchMicros(got.LatencyS), benchMicros(fmi.LatencyS)},
		[]string{"bandwidth, one stream (least-squares slope)", benchRate(got.BandwidthBps), benchRate(fmi.BandwidthBps)},
		[]string{fmt.Sprintf("aggregate, all %d exchanging", r.Peers), benchRate(got.AggregateBps), benchRate(fmi.AggregateBps)})
	if setup != "" {
		model.Rows = append(model.Rows, []string{"connection set-up per pair", setup, fmiSetup})
	}
	d.Notes = append(d.Notes, fmt.Sprintf("Fit: intercept %s, R² %.4f. All-to-all of %s per pair: %s, %s per worker.",
		benchMicros(r.FitInterceptS), r.FitR2, benchByteSize(r.AllToAllBytes), JobSeconds(r.AllToAllS), benchRate(r.PerWorkerBps)))
	pts := Section{Title: "Messages (worker 0 to 1, acknowledged)", Columns: []Column{{Name: "Size", Right: true}, {Name: "Median time", Right: true}, {Name: "Model", Right: true}}}
	for _, p := range r.Points {
		// the model's message plus the one-byte acknowledgement: two latencies and the bytes over the bandwidth
		pts.Rows = append(pts.Rows, []string{benchByteSize(p.Bytes), benchMicros(p.Seconds), benchMicros(2*r.LatencyS + float64(p.Bytes)/r.BandwidthBps)})
	}
	d.Sections = append(d.Sections, model, pts)
	d.Notes = append(d.Notes, "Model: a message costs the latency plus its bytes over the bandwidth; the acknowledged time is the message plus a one-byte reply.")
	if out != "" {
		d.Notes = append(d.Notes, fmt.Sprintf("Plan with these parameters: inferplan plan --platform dataparallel --job JOB --channel-params %s", out))
	}
	return d
}

// BenchDocument reports a shuffle benchmark: every phase measured and predicted.
func BenchDocument(r *shuffle.BenchResult) *Document {
	d := &Document{Title: fmt.Sprintf("Shuffle benchmark: %s rows (%s) over %d workers, %s", Thousands(float64(r.Rows), 0), benchHumanBytes(r.Bytes), r.Workers, r.Channel)}
	verified := "every row arrived once, at the worker owning its key"
	if !r.Verified {
		verified = "NOT verified"
	}
	d.Lines = append(d.Lines,
		fmt.Sprintf("Measured %s, predicted %s (%+.1f%%): medians of %d runs, each predicted from its own calibration", JobSeconds(r.MeasuredS), JobSeconds(r.PredictedS), r.ErrorPct, len(r.Trials)),
		"Runs (measured / predicted): "+benchTrials(r.Trials),
		fmt.Sprintf("Check: %s; %s groups aggregated", verified, Thousands(float64(r.Groups), 0)),
		fmt.Sprintf("Workers: %d processes on %d CPUs, %.2f vCPU each; seed %d, %s distinct keys", r.Workers, r.Cores, r.VCPUsPerWorker, r.Seed, Thousands(float64(r.Keys), 0)),
		fmt.Sprintf("Calibration (the median prediction's): compute %s MB/s per worker (partition %s, merge %s; %d workers side by side, %s rows each); channel: %s",
			Num(r.Calibration.ComputeMBPerS), Num(r.Calibration.PartitionMBPerS), Num(r.Calibration.MergeMBPerS), r.Calibration.Workers,
			Thousands(float64(r.Calibration.Rows), 0), r.Calibration.ParamsSource))
	sec := Section{Title: "Phases (medians)", Columns: []Column{{Name: "Phase"}, {Name: "Measured", Right: true}, {Name: "Predicted", Right: true}, {Name: "Error", Right: true}}}
	for _, p := range r.Phases {
		e := ""
		if p.MeasuredS > 0 {
			e = fmt.Sprintf("%+.0f%%", (p.PredictedS-p.MeasuredS)/p.MeasuredS*100)
		}
		sec.Rows = append(sec.Rows, []string{p.Name, benchMicros(p.MeasuredS), benchMicros(p.PredictedS), e})
	}
	sec.Rows = append(sec.Rows, []string{"total", benchMicros(r.MeasuredS), benchMicros(r.PredictedS), fmt.Sprintf("%+.0f%%", r.ErrorPct)})
	if l := r.LoadAverage; l != nil && *l > 0.5 {
		d.Notes = append(d.Notes, fmt.Sprintf("warning: the host's load average was %.2f before the runs: other processes were competing for the %d CPUs the prediction gives the workers, so the measurement is slower than the model expects", *l, r.Cores))
	}
	d.Notes = append(d.Notes, fmt.Sprintf("Not part of the job's time: generating the rows %s, starting the processes and the rendezvous %s.", benchMicros(r.GenerateS), benchMicros(r.StartupS)))
	d.Sections = append(d.Sections, sec)
	return d
}

func benchTrials(ts []shuffle.Trial) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.3f / %.3f", t.MeasuredS, t.PredictedS)
	}
	return s + " s"
}

func benchHumanBytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.0f MB", b/1e6)
	}
	return fmt.Sprintf("%.0f kB", b/1e3)
}
