package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/network"
	"github.com/inferplan/inferplan/reports"
	"github.com/inferplan/inferplan/shuffle"
)

func newBenchCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run real mini jobs and compare them with the planner's prediction",
	}
	cmd.AddCommand(newBenchShuffleCmd(io))
	return cmd
}

type benchShuffleOptions struct {
	io            *ioStreams
	workers       int
	rows          int64
	channel       string
	redisURL      string
	format        string
	repeat        int
	keys          int
	seed          uint64
	channelParams string
	calPeers      int
	calRows       int64
}

func newBenchShuffleCmd(io *ioStreams) *cobra.Command {
	o := &benchShuffleOptions{io: io}
	cmd := &cobra.Command{
		Use:   "shuffle",
		Short: "Shuffle generated rows across worker processes and compare each phase with the model",
		Long: `shuffle runs a real data-parallel job on this host: --workers worker processes generate --rows rows
of 64 bytes (an 8-byte key drawn from --keys keys, a value, a payload), hash-partition them by key,
exchange the partitions all-to-all — over direct TCP between the workers, or through Redis
(--redis-url, or a private redis-server on a free loopback port, stopped afterwards) — and sum the
values by key. Every row is checked to arrive once, at the worker that owns its key.

Beside each phase it prints the planner's prediction for the same job (a shuffle stage of the rows'
bytes) from calibrated parameters: compute rates from a one-worker run of the same kernels, and the
channel measured as 'inferplan profile network' does (with --calibration-peers workers, at this job's
partition size), unless --channel-params gives parameters. Workers share this host's CPUs: with more
workers than CPUs each gets its share of one, as a Lambda function gets its memory's share of a vCPU.

The job's time is connect + partition + exchange + merge. Each of --repeat runs is predicted from a
calibration made just before it, so other load on the host that comes and goes skews one pair, not all;
the medians of the measurements and of the predictions are reported, with every pair.`,
		Example: `  inferplan bench shuffle --workers 4 --rows 4000000 --channel direct
  inferplan bench shuffle --workers 8 --rows 4000000 --channel redis --format json
  inferplan bench shuffle --workers 4 --rows 1000000 --channel redis --redis-url redis://localhost:6379`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchShuffle(cmd.Context(), cmd, o) },
	}
	fs := cmd.Flags()
	fs.IntVar(&o.workers, "workers", 4, "worker processes (at least 2)")
	fs.Int64Var(&o.rows, "rows", 4_000_000, "rows in all (64 bytes each), spread evenly over the workers")
	fs.StringVar(&o.channel, "channel", "", "how workers exchange partitions: direct or redis")
	fs.StringVar(&o.redisURL, "redis-url", "", "redis: redis://[:password@]host:port[/db] of a running server (default: start a private one)")
	fs.IntVar(&o.repeat, "repeat", 5, "runs, each after its own calibration; the medians are reported")
	fs.IntVar(&o.keys, "keys", shuffle.DefaultKeys, "distinct keys")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated rows (recorded in the output)")
	fs.StringVar(&o.channelParams, "channel-params", "", "channel parameters to predict with (default: measure the channel first)")
	fs.IntVar(&o.calPeers, "calibration-peers", shuffle.DefaultCalibrationPeers, "worker processes of the channel measurement")
	fs.Int64Var(&o.calRows, "calibration-rows", shuffle.DefaultCalibrationRows, "rows of the one-worker compute calibration")
	formatFlag(cmd, &o.format, "report")
	_ = cmd.RegisterFlagCompletionFunc("channel", completeFixed(channel.Direct, channel.Redis))
	return cmd
}

func runBenchShuffle(ctx context.Context, cmd *cobra.Command, o *benchShuffleOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.channel != channel.Direct && o.channel != channel.Redis {
		return flagErrorf("--channel %q: want direct or redis", o.channel)
	}
	if o.workers < 2 || o.workers > 256 {
		return flagErrorf("--workers %d: want 2 to 256 worker processes", o.workers)
	}
	if o.rows < int64(o.workers) {
		return flagErrorf("--rows %d: want at least one row per worker", o.rows)
	}
	if o.repeat < 1 || o.keys < 1 || o.calRows < 1 || o.calPeers < 2 {
		return flagErrorf("--repeat, --keys and --calibration-rows must be positive and --calibration-peers at least 2")
	}
	if o.redisURL != "" && o.channel != channel.Redis {
		return flagErrorf("--redis-url is for --channel redis")
	}
	bytes := float64(o.rows) * shuffle.RowBytes
	// each worker holds its rows, its partitions and what it receives: three times its share
	if cpu, err := hw.ReadCPU(procRoot); err == nil && cpu.MemoryGiB > 0 && 3*bytes > 0.7*cpu.MemoryGiB*(1<<30) {
		return flagErrorf("--rows %d: the workers would need %.1f GiB, more than this host's %.1f GiB allow", o.rows, 3*bytes/(1<<30), cpu.MemoryGiB)
	}
	if part := bytes / float64(o.workers*o.workers); o.channel == channel.Redis && part >= 512<<20 {
		return flagErrorf("--rows %d over %d workers: partitions of %.0f MB are over Redis's 512 MB value limit", o.rows, o.workers, part/1e6)
	}
	var params *channel.Params
	if o.channelParams != "" {
		p, err := channel.Read(o.channelParams)
		if err != nil {
			return err
		}
		params = &p
	}
	launcher, err := workerLauncher("shuffle", o.workers)
	if err != nil {
		return err
	}
	netLauncher, err := workerLauncher("network", o.calPeers)
	if err != nil {
		return err
	}
	opts := shuffle.BenchOptions{Channel: o.channel, Workers: o.workers, Rows: o.rows, Keys: o.keys, Seed: o.seed, Repeat: o.repeat,
		Launcher: launcher, NetLauncher: netLauncher, Params: params, CalibrationPeers: o.calPeers, CalibrationRows: o.calRows,
		Cores: runtime.NumCPU()}
	if o.channel == channel.Redis {
		e, _, stop, err := redisFor(ctx, o.io, o.redisURL)
		if err != nil {
			return err
		}
		defer stop()
		opts.Redis = e
	}
	res, err := shuffle.Bench(ctx, opts)
	if err != nil {
		return err
	}
	if format == reports.JSON {
		return reports.WriteJSON(o.io.Out, res)
	}
	return reports.BenchDocument(res).Render(o.io.Out, format)
}

// newWorkerCmd is the hidden command worker processes run: `inferplan worker shuffle|network --coord ADDR
// --rank I --workers N`, started by bench shuffle and profile network.
func newWorkerCmd(io *ioStreams) *cobra.Command {
	cmd := &cobra.Command{Use: "worker", Hidden: true, Short: "A worker process of bench shuffle or profile network"}
	for kind, main := range map[string]func(context.Context, []string) error{"shuffle": shuffle.WorkerMain, "network": network.WorkerMain} {
		cmd.AddCommand(&cobra.Command{
			Use:    kind,
			Short:  "One worker process of a " + kind + " run (started by inferplan itself)",
			Hidden: true,
			Example: "  # started by the coordinator, one per worker, not by hand\n  inferplan worker " + kind +
				" --coord 127.0.0.1:40213 --rank 0 --workers 4",
			DisableFlagParsing: true, // the coordinator's arguments go to the worker as they are
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := main(cmd.Context(), args); err != nil {
					return fmt.Errorf("worker %s: %w", kind, err)
				}
				return nil
			},
		})
	}
	return cmd
}

func jsonRaw(v any) (json.RawMessage, error) {
	data, err := json.Marshal(v)
	return data, err
}
