package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/internal/atomicfile"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/workerhost"
)

type workersOptions struct {
	io           *ioStreams
	planPath     string
	host         string
	only         []string
	listen       string
	advertise    string
	harness      string
	builtinModel string
	mapping      string
	mpsDir       string
	gpuEnv       string
	grace        time.Duration
	authToken    string
	maxQueue     int
	maxBody      int64
	batchTO      time.Duration
	readyTO      time.Duration
	seed         uint64
	logFormat    string
	// set on the command line (not just defaults)
	harnessSet, builtinSet bool
}

func newWorkersCmd(io *ioStreams) *cobra.Command {
	o := &workersOptions{io: io}
	cmd := &cobra.Command{
		Use:   "workers",
		Short: "Run one host's workers of a cluster plan, each behind a v2 server, for serve to front",
		Long: `workers starts the workers a cluster plan puts on one of its hosts (p<pool>-<instance>, as
'plan --platform cluster' lays the fleet out), each behind its own Open Inference Protocol v2
server, and prints which URL serves which worker: the mapping 'serve --plan PLAN --workers FILE'
reads. A worker runs one batch at a time, as the cluster simulator assumes; batches that arrive
while it is busy wait (at most --max-queue; beyond that 503).

A worker's model is your exec harness (--harness, run as sh -c CMD; the protocol 'profile
--target exec:' speaks, with input_ids to serve real requests: see 'inferplan harness --help'),
one process per worker, with the plan's share of the machine:
  CPU worker     CUDA_VISIBLE_DEVICES empty, OMP_NUM_THREADS = the threads its profile measured
  GPU worker     CUDA_VISIBLE_DEVICES=<GPU index> (CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML's numbering)
  MPS split      an MPS control daemon of this run's own, in a private pipe folder, and
                 CUDA_MPS_ACTIVE_THREAD_PERCENTAGE per worker; quit when the workers stop
  MIG split      CUDA_VISIBLE_DEVICES=MIG-<uuid> of a MIG device of the worker's profile on its
                 GPU (nvidia-smi -L); workers never creates MIG instances or changes GPU settings
  time-slicing   plain co-location on the GPU
Every harness also gets INFERPLAN_WORKER_ID, INFERPLAN_SERVICE, INFERPLAN_MODEL (the service's
model in the plan) and INFERPLAN_BATCH_SIZE.

Where something else has given this process its GPU share — a Kubernetes pod, whose NVIDIA device
plugin allocates the GPU, MIG slice or MPS share and runs the MPS daemon, or a container given
particular GPUs (NVIDIA_VISIBLE_DEVICES) — --gpu-env auto (the default) keeps the environment as
it is: no MPS daemon, no MIG look-up, no CUDA_VISIBLE_DEVICES; an MPS worker gets the plan's
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE unless one is set. --gpu-env plan or external forces either.

Without --harness the workers run the built-in encoder (--builtin-model) in this process on the
CPU; a GPU worker does so only on a machine without an NVIDIA GPU, with a warning (how CI runs a
GPU plan).

Every setting is checked, and every port bound, before anything starts. On SIGTERM or SIGINT the
workers stop taking batches, finish those they took (up to --grace), their harnesses are asked to
exit (stdin closed; killed 3 s later), the MPS daemon is sent quit and checked gone, and workers
exits 0; a second signal stops waiting. A worker whose harness exits answers 502 to batches and
503 to /v2/health/live and /ready, and is not restarted; when no worker is left, workers exits 1.

Each worker serves /v2/health/live, /v2/health/ready, /v2, /v2/models/SERVICE[/ready] and POST
/v2/models/SERVICE/infer (input_ids and an optional attention_mask, INT64 [n, pad]; one FP32
output of n rows). Listening beyond loopback needs --auth-token (or INFERPLAN_AUTH_TOKEN).`,
		Example: `  # every worker of host p0-0 with the built-in model, on loopback; the mapping on stdout
  inferplan workers --plan cluster.json --host p0-0 > workers.json

  # a GPU host with the PyTorch harness, the model named by the plan, fixed ports 9000, 9001, …
  INFERPLAN_AUTH_TOKEN=… inferplan workers --plan cluster.json --host p1-0 --listen 0.0.0.0:9000 \
      --advertise 10.0.3.17 --mapping /run/inferplan/p1-0.json \
      --harness 'python3 torch_encoder.py --model "$INFERPLAN_MODEL" --dtype float16'

  # one worker of the host only
  inferplan workers --plan cluster.json --host p0-0 --only cpu/w1`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.harnessSet = cmd.Flags().Changed("harness")
			o.builtinSet = cmd.Flags().Changed("builtin-model")
			return runWorkers(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.planPath, "plan", "", "a cluster plan (plan --platform cluster)")
	fs.StringVar(&o.host, "host", "", "the plan's host to run: p<pool>-<instance>, e.g. p0-0")
	fs.StringSliceVar(&o.only, "only", nil, "start only these of the host's workers, by host-relative id (gpu0/w1, cpu/w0); repeatable")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "HOST:PORT; port 0: each worker on an ephemeral port of its own; port P: the k-th worker started on P+k")
	fs.StringVar(&o.advertise, "advertise", "", "host name or IP in the mapping's URLs (default: the listen host, or this machine's name when it listens on every interface)")
	fs.StringVar(&o.harness, "harness", "", "exec harness for every worker, run as sh -c CMD (default: the built-in model on the CPU)")
	fs.StringVar(&o.builtinModel, "builtin-model", "bert-tiny", "without --harness: the built-in model (bert-tiny, bert-mini, distilbert-like)")
	fs.StringVar(&o.mapping, "mapping", "", "write the worker-to-URL mapping to FILE (default: print it on stdout once every worker is ready)")
	fs.StringVar(&o.mpsDir, "mps-pipe-dir", "", "folder in which the MPS daemon's private pipe and log folders are made (default the system's temporary folder; keep it short: it holds Unix sockets)")
	fs.StringVar(&o.gpuEnv, "gpu-env", workerhost.GPUEnvAuto, "who applies the plan's GPU shares: plan (workers does), external (the environment has: a Kubernetes device plugin), or auto (external in a Kubernetes pod or a container given particular GPUs)")
	fs.DurationVar(&o.grace, "grace", 2*time.Minute, "on SIGTERM, how long to wait for the batches the workers took")
	fs.StringVar(&o.authToken, "auth-token", "", "bearer token requests must carry (default $INFERPLAN_AUTH_TOKEN); required beyond loopback")
	fs.IntVar(&o.maxQueue, "max-queue", 64, "per worker: batches that may wait while it is busy (then 503)")
	fs.Int64Var(&o.maxBody, "max-body", 64<<20, "largest request body in bytes")
	fs.DurationVar(&o.batchTO, "batch-timeout", 2*time.Minute, "longest a harness may take for one batch; then it is stopped and its worker answers 502")
	fs.DurationVar(&o.readyTO, "ready-timeout", 10*time.Minute, "longest a harness may take to load its model and print its ready line")
	fs.Uint64Var(&o.seed, "seed", 1, "seeds the built-in model's weights")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	_ = cmd.RegisterFlagCompletionFunc("log-format", completeFixed("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("gpu-env", completeFixed("auto", "plan", "external"))
	_ = cmd.RegisterFlagCompletionFunc("builtin-model", completeFixed("bert-tiny", "bert-mini", "distilbert-like"))
	return cmd
}

// config checks the flags and reads the plan: everything but what needs the machine, before anything starts.
func (o *workersOptions) config() (workerhost.Config, *slog.Logger, error) {
	var log *slog.Logger
	switch o.logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(o.io.ErrOut, nil))
	case "json":
		log = slog.New(slog.NewJSONHandler(o.io.ErrOut, nil))
	default:
		return workerhost.Config{}, nil, flagErrorf("--log-format %q: want text or json", o.logFormat)
	}
	switch {
	case o.planPath == "":
		return workerhost.Config{}, nil, flagErrorf("--plan is required: a cluster plan (plan --platform cluster)")
	case o.harnessSet && o.harness == "":
		return workerhost.Config{}, nil, flagErrorf("--harness is empty: give the command that starts your harness, or leave the flag out for the built-in model")
	case o.harnessSet && o.builtinSet:
		return workerhost.Config{}, nil, flagErrorf("--builtin-model is for workers without --harness; with --harness, your harness loads the model (INFERPLAN_MODEL names the plan's)")
	case o.grace <= 0:
		return workerhost.Config{}, nil, flagErrorf("--grace %v: want a positive duration", o.grace)
	case o.batchTO <= 0:
		return workerhost.Config{}, nil, flagErrorf("--batch-timeout %v: want a positive duration", o.batchTO)
	case o.readyTO <= 0:
		return workerhost.Config{}, nil, flagErrorf("--ready-timeout %v: want a positive duration", o.readyTO)
	case o.maxQueue < 1:
		return workerhost.Config{}, nil, flagErrorf("--max-queue %d: want at least 1", o.maxQueue)
	case o.maxBody < 1:
		return workerhost.Config{}, nil, flagErrorf("--max-body %d: want at least 1 byte", o.maxBody)
	}
	if o.mapping != "" {
		if st, err := os.Stat(o.mapping); err == nil && st.IsDir() {
			return workerhost.Config{}, nil, flagErrorf("--mapping %s is a folder: name a file", o.mapping)
		}
		if st, err := os.Stat(filepath.Dir(o.mapping)); err != nil || !st.IsDir() {
			return workerhost.Config{}, nil, flagErrorf("--mapping %s: its folder %s does not exist", o.mapping, filepath.Dir(o.mapping))
		}
	}
	if o.authToken == "" {
		o.authToken = os.Getenv("INFERPLAN_AUTH_TOKEN")
	}
	p, err := plan.ReadFile(o.planPath)
	if err != nil {
		return workerhost.Config{}, nil, err
	}
	cfg := workerhost.Config{Plan: p, PlanPath: o.planPath, Host: o.host, Only: o.only, Listen: o.listen, Advertise: o.advertise,
		Harness: o.harness, BuiltinModel: o.builtinModel, Seed: o.seed, MPSDir: o.mpsDir, GPUEnv: o.gpuEnv, AuthToken: o.authToken,
		MaxQueue: o.maxQueue, MaxBody: o.maxBody, BatchTimeout: o.batchTO, ReadyTimeout: o.readyTO, Version: versionString(),
		Logger: log, Stderr: o.io.ErrOut}
	if err := cfg.Check(); err != nil {
		return cfg, nil, usageOf(err)
	}
	return cfg, log, nil
}

// usageOf turns a setting workerhost refused into a usage error (exit 2).
func usageOf(err error) error {
	var ce *workerhost.ConfigError
	if errors.As(err, &ce) {
		return &flagError{err: err}
	}
	return err
}

func runWorkers(ctx context.Context, o *workersOptions) error {
	cfg, log, err := o.config()
	if err != nil {
		return err
	}
	h, err := workerhost.Start(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			log.Info("stopped before every worker was ready")
			return nil
		}
		return usageOf(err)
	}
	data, err := h.Mapping().Marshal()
	if err == nil && o.mapping != "" {
		err = atomicfile.Write(o.mapping, data)
	} else if err == nil {
		_, err = o.io.Out.Write(data)
	}
	if err != nil {
		_ = h.Stop(context.Background())
		return fmt.Errorf("writing the mapping: %w", err)
	}
	where := "stdout"
	if o.mapping != "" {
		where = o.mapping
	}
	log.Info("workers ready", "host", cfg.Host, "workers", len(h.Mapping().Workers), "mapping", where)
	failed := false
	select {
	case <-ctx.Done():
	case <-h.Failed():
		failed = true
	}
	if err := stopWorkers(log, h, o.grace); err != nil {
		return err
	}
	if failed {
		return fmt.Errorf("every worker of host %s lost its harness (see the log above)", cfg.Host)
	}
	return nil
}

// stopWorkers drains the host within grace; a second SIGTERM or SIGINT stops waiting at once.
func stopWorkers(log *slog.Logger, h *workerhost.Host, grace time.Duration) error {
	log.Info("shutting down: refusing new batches, finishing those taken")
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-again:
			log.Warn("second signal: stopping without waiting")
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := h.Stop(ctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
