package main

import (
	"bytes"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/trace"
)

func newTraceCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Inspect and prepare request traces",
	}
	cmd.AddCommand(newTraceStatsCmd(io), newTraceSynthCmd(io), newTraceSliceCmd(io))
	return cmd
}

func newTraceStatsCmd(io *ioStreams) *cobra.Command {
	var (
		tf     traceFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Summarise a trace: span, mean and peak rate, burstiness, size percentiles",
		Long: `stats reads a trace (contract §3.1) and prints its span, mean request rate, peak rate over 1-second
windows (aligned to the first arrival), the coefficient of variation of inter-arrival times (1 for a
Poisson process; above 1 is bursty) and nearest-rank size percentiles.`,
		Example: `  inferplan trace stats --time-col TIMESTAMP --size-col ContextTokens azure_llm_2023_conv.csv
  inferplan trace stats --time-unit ms --size-col input_length mooncake_conversation.csv --format json`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, err := reports.ParseFormat(format, reports.Table, reports.JSON, reports.Markdown)
			if err != nil {
				return &flagError{err: err}
			}
			tr, err := tf.read(args[0])
			if err != nil {
				return err
			}
			st := tr.Stats()
			if f == reports.JSON {
				return reports.WriteJSON(io.Out, st)
			}
			return reports.TraceStatsDocument(args[0], st).Render(io.Out, f)
		},
	}
	tf.register(cmd)
	formatFlag(cmd, &format, "output")
	return cmd
}

func newTraceSynthCmd(io *ioStreams) *cobra.Command {
	var (
		tf      traceFlags
		arrPath string
		mixPath string
		seed    uint64
		out     string
	)
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Pair a trace's real arrival times with sizes drawn from a size mix",
		Long: `synth writes a trace whose arrival times are those of --arrivals and whose sizes are drawn
independently, with a seed, from a size mix (a JSON file of {"size", "share"} classes, such as the MBS
workload's lambda-deepspeech-size-mix.json). Use it when no trace has both the arrivals and the sizes
you need: real bursts from one source, a real size distribution from another.`,
		Example: `  inferplan trace synth --arrivals azure_llm_2023_conv.csv --time-col TIMESTAMP --size-col ContextTokens \
      --size-mix lambda-deepspeech-size-mix.json --seed 1 -o scenario.csv`,
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			if arrPath == "" || mixPath == "" {
				return flagErrorf("--arrivals and --size-mix are required")
			}
			if err := checkOutput("-o", out); err != nil {
				return err
			}
			arr, err := tf.read(arrPath)
			if err != nil {
				return err
			}
			mix, err := trace.ReadSizeMix(mixPath)
			if err != nil {
				return err
			}
			return writeTrace(io, out, trace.WithSizes(arr, mix, seed), fmt.Sprintf("%d requests, sizes from %s, seed %d", arr.Len(), mixPath, seed))
		},
	}
	tf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&arrPath, "arrivals", "", "trace whose arrival times to keep (its size column must still parse)")
	fs.StringVar(&mixPath, "size-mix", "", "size mix JSON: {\"shares\": [{\"size\": 12, \"share\": 0.1}, …]}")
	fs.Uint64Var(&seed, "seed", 1, "seed of the size draws")
	fs.StringVarP(&out, "out", "o", "-", "output CSV (timestamp in seconds, size); - for stdout")
	return cmd
}

func newTraceSliceCmd(io *ioStreams) *cobra.Command {
	var (
		tf              traceFlags
		start, duration string
		maxSize, speed  float64
		out             string
	)
	cmd := &cobra.Command{
		Use:   "slice FILE",
		Short: "Cut a window out of a trace, optionally capping sizes and compressing time",
		Long: `slice writes the requests of FILE that arrive in [--start, --start + --duration) of trace time,
with times counted from the window's start. --max-size caps every size (a model's longest input, say),
and --speedup divides every time, so that the result is exactly the traffic 'inferplan replay' sends
at that speed-up: plan against it, then replay it with --speedup 1.`,
		Example: `  # ten minutes of real conversation traffic, inputs capped to 512 tokens
  inferplan trace slice azure_llm_2023_conv.csv --time-col TIMESTAMP --size-col ContextTokens \
      --duration 600 --max-size 512 -o conv-10min.csv`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			from, err := seconds("start", start)
			if err != nil {
				return err
			}
			dur, err := seconds("duration", duration)
			if err != nil {
				return err
			}
			if !(speed > 0) || math.IsInf(speed, 0) {
				return flagErrorf("--speedup %v: want a positive number", speed)
			}
			if maxSize < 0 || math.IsNaN(maxSize) {
				return flagErrorf("--max-size %v: want a positive cap (0 for none)", maxSize)
			}
			if err := checkOutput("-o", out); err != nil {
				return err
			}
			tr, err := tf.read(args[0])
			if err != nil {
				return err
			}
			cut := trace.Cut(tr, from.Microseconds(), dur.Microseconds(), maxSize, speed)
			return writeTrace(io, out, cut, fmt.Sprintf("%d of %d requests", cut.Len(), tr.Len()))
		},
	}
	tf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&start, "start", "0", "window start: SECONDS after the first arrival, or a duration such as 1h")
	fs.StringVar(&duration, "duration", "0", "window length: SECONDS or a duration such as 10m; 0 is to the end")
	fs.Float64Var(&maxSize, "max-size", 0, "cap sizes at this value (0: no cap)")
	fs.Float64Var(&speed, "speedup", 1, "divide every time by this")
	fs.StringVarP(&out, "out", "o", "-", "output CSV (timestamp in seconds, size); - for stdout")
	return cmd
}

// writeTrace writes t as CSV to out (whole or not at all), or to stdout for "" or "-", and says what it wrote.
func writeTrace(io *ioStreams, out string, t *trace.Trace, what string) error {
	var buf bytes.Buffer
	if err := trace.Write(&buf, t); err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err := io.Out.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(out, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(io.ErrOut, "wrote %s: %s\n", out, what)
	return nil
}
