package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/cluster"
	"github.com/inferplan/inferplan/internal/redisproc"
	"github.com/inferplan/inferplan/internal/resp"
	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/network"
	"github.com/inferplan/inferplan/reports"
)

// workerEnv is added to the environment of every worker process this binary starts; tests set it so the test
// binary runs as the CLI.
var workerEnv []string

// workerLauncher starts `inferplan worker KIND` processes from this very binary. Each worker gets one
// scheduler thread (a worker is one vCPU, as a 1,769 MB Lambda function is) and no garbage collection until
// it nears its share of memory (its garbage is bounded by its partitions; collections would be noise in
// what is measured).
func workerLauncher(kind string, workers int) (cluster.Launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return cluster.Launcher{}, fmt.Errorf("finding this executable to start workers: %w", err)
	}
	env := append([]string{"GOMAXPROCS=1", "GOGC=off"}, workerEnv...)
	if cpu, err := hw.ReadCPU(procRoot); err == nil && cpu.MemoryGiB > 0 && workers > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%d", int64(cpu.MemoryGiB*(1<<30)*0.8)/int64(workers)))
	}
	return cluster.Launcher{Command: []string{exe, "worker", kind}, Env: env}, nil
}

// redisFor connects to --redis-url, or starts a private redis-server and returns how to stop it.
func redisFor(ctx context.Context, io *ioStreams, url string) (resp.Endpoint, string, func(), error) {
	if url != "" {
		e, err := resp.ParseURL(url)
		if err != nil {
			return resp.Endpoint{}, "", nil, &flagError{err: err}
		}
		c, err := resp.Dial(ctx, e)
		if err != nil {
			return resp.Endpoint{}, "", nil, err
		}
		defer c.Close()
		if err := c.Ping(ctx); err != nil {
			return resp.Endpoint{}, "", nil, err
		}
		return e, "redis at " + e.Addr, func() {}, nil
	}
	srv, err := redisproc.Start(ctx)
	if err != nil {
		if errors.Is(err, redisproc.ErrNotInstalled) {
			return resp.Endpoint{}, "", nil, fmt.Errorf("%w (--redis-url)", err)
		}
		return resp.Endpoint{}, "", nil, err
	}
	fmt.Fprintf(io.ErrOut, "started a private redis-server on %s\n", srv.Addr)
	stop := func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(io.ErrOut, "warning: %v\n", err)
		}
	}
	return srv.Endpoint(), srv.Version + " (private, on " + srv.Addr + ")", stop, nil
}

type networkOptions struct {
	io           *ioStreams
	channel      string
	peers        int
	out          string
	base         string
	redisURL     string
	sizes        string
	reps         int
	pingPongs    int
	messageBytes int
	format       string
}

func newProfileNetworkCmd(io *ioStreams) *cobra.Command {
	o := &networkOptions{io: io}
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Measure a channel's latency and bandwidth between worker processes and write channel parameters",
		Long: `network measures, for real, what a data-parallel job's messages cost over a channel, between
worker processes this command starts:

  direct   TCP between the workers, connected from the addresses a rendezvous server hands out
           (on loopback here; run it between hosts to measure a network)
  redis    through a Redis server: --redis-url, or a private redis-server started on a free
           loopback port and stopped afterwards

It measures the one-way latency (half the median of one-byte ping-pongs), one stream's bandwidth
(least squares over --sizes), the set-up of a direct connection, and what every worker gets when all
--peers exchange at once (an all-to-all of --message-bytes per pair). -o writes channel parameters —
FMI's defaults (or --base) with the measured channel replaced — for plan --platform dataparallel
--channel-params FILE.

What a byte costs can depend on the message size (Redis copies large values through its allocator):
calibrate with --message-bytes near your job's partition size (data / workers²).`,
		Example: `  inferplan profile network --channel direct --peers 4 -o net.json
  inferplan profile network --channel redis --base net.json -o net.json
  inferplan profile network --channel redis --redis-url redis://10.0.0.7:6379 --message-bytes 4194304 -o redis.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runProfileNetwork(cmd.Context(), o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.channel, "channel", "", "channel to measure: direct or redis")
	fs.IntVar(&o.peers, "peers", 4, "worker processes (at least 2)")
	fs.StringVarP(&o.out, "out", "o", "", "write the channel parameters here (- for stdout)")
	fs.StringVar(&o.base, "base", "", "channel parameters to start from (default FMI's published defaults)")
	fs.StringVar(&o.redisURL, "redis-url", "", "redis: redis://[:password@]host:port[/db] of a running server (default: start a private one)")
	fs.StringVar(&o.sizes, "sizes", "65536,1048576,4194304,16777216", "message sizes in bytes for the bandwidth fit")
	fs.IntVar(&o.reps, "reps", network.DefaultReps, "times each size is sent (the median counts)")
	fs.IntVar(&o.pingPongs, "ping-pongs", network.DefaultPingPongs, "one-byte round trips for the latency")
	fs.IntVar(&o.messageBytes, "message-bytes", network.DefaultAllToAllBytes, "bytes every pair exchanges in the all-to-all")
	formatFlag(cmd, &o.format, "summary")
	_ = cmd.RegisterFlagCompletionFunc("channel", completeFixed(channel.Direct, channel.Redis))
	return cmd
}

func runProfileNetwork(ctx context.Context, o *networkOptions) error {
	format, err := reports.ParseFormat(o.format)
	if err != nil {
		return &flagError{err: err}
	}
	if o.channel != channel.Direct && o.channel != channel.Redis {
		return flagErrorf("--channel %q: want direct or redis (S3 is modelled from FMI's figures; it cannot be measured here)", o.channel)
	}
	if o.peers < 2 || o.peers > 256 {
		return flagErrorf("--peers %d: want 2 to 256 worker processes", o.peers)
	}
	if o.redisURL != "" && o.channel != channel.Redis {
		return flagErrorf("--redis-url is for --channel redis")
	}
	sizes, err := intList("sizes", o.sizes)
	if err != nil {
		return err
	}
	if len(sizes) < 2 {
		return flagErrorf("--sizes: the bandwidth fit needs at least two sizes")
	}
	if o.reps < 1 || o.pingPongs < 1 || o.messageBytes < 1 {
		return flagErrorf("--reps, --ping-pongs and --message-bytes must be positive")
	}
	base := channel.Defaults()
	if o.base != "" {
		if base, err = channel.Read(o.base); err != nil {
			return err
		}
	}
	launcher, err := workerLauncher("network", o.peers)
	if err != nil {
		return err
	}
	opts := network.Options{Channel: o.channel, Peers: o.peers, Launcher: launcher, Sizes: sizes, Reps: o.reps,
		PingPongs: o.pingPongs, AllToAllBytes: o.messageBytes, Now: o.io.Now}
	redisDesc := ""
	if o.channel == channel.Redis {
		e, desc, stop, err := redisFor(ctx, o.io, o.redisURL)
		if err != nil {
			return err
		}
		defer stop()
		opts.Redis, redisDesc = e, desc
	}
	r, err := network.Measure(ctx, opts)
	if err != nil {
		return err
	}
	cpu, _ := hw.ReadCPU(procRoot)
	r.Host, r.RedisServer = network.HostDescription(cpu.Model), redisDesc
	params := base
	r.Apply(&params)
	params.Source = fmt.Sprintf("measured with inferplan profile network --channel %s --peers %d on %s at %s", r.Channel, r.Peers, r.Host, r.MeasuredAt)
	if o.base != "" {
		params.Source += "; other channels from " + o.base
	}
	params.Measured, err = jsonRaw(r)
	if err != nil {
		return err
	}
	summary := o.io.Out
	if o.out != "" {
		data, err := params.Marshal()
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
	if format == reports.JSON {
		if err := reports.WriteJSON(summary, r); err != nil {
			return err
		}
	} else if err := reports.NetworkDocument(r, params, o.out).Render(summary, format); err != nil {
		return err
	}
	if o.out != "" && o.out != "-" {
		fmt.Fprintf(o.io.ErrOut, "wrote %s\n", o.out)
	}
	return nil
}
