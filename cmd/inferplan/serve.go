package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/encoder"
)

type serveOptions struct {
	io        *ioStreams
	planPath  string
	backend   string
	listen    string
	authToken string
	model     string
	upstream  string
	workers   int // the builtin backend's batches at once
	maxQueue  int
	maxFlight int
	attempts  int
	backendTO time.Duration
	requestTO time.Duration
	grace     time.Duration
	maxInput  int
	maxBody   int64
	priority  string
	seed      uint64
	logFormat string
	aws       awsFlags
	// memoryLimit is the Go runtime's soft memory limit: auto, off or a size (serve_flags.go)
	memoryLimit string
	// cluster plans
	workerFiles   []string
	admissionPath string
	spillLambda   []string
}

func newServeCmd(io *ioStreams) *cobra.Command {
	o := &serveOptions{io: io}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Batch live requests as a plan says and dispatch them to a backend",
		Long: `serve is the thin runtime. It takes Open Inference Protocol v2 requests one at a time
(POST /v2/models/NAME/infer, one INT64 input of token ids: its length is the request's size),
routes each to the plan's buffer for its size, and forms batches exactly as contract §4 says —
a batch leaves at its batch_size-th request or timeout_ms after its first — padded to its
largest input. Every batch is one backend call; every caller gets its own row of the answer.

Backends:
  builtin[:MODEL]     the built-in encoder (bert-tiny, bert-mini, distilbert-like) in-process
  http://…            an upstream v2 model server, one batched call per batch (input_ids and
                      attention_mask [n, pad]); …/v2/models/NAME or a base URL with --upstream-model
  lambda:FUNCTION     one invocation per batch of FUNCTION:inferplan-buffer-N, the alias that
                      'inferplan apply' points at a version with the buffer's memory size

Admission: each buffer admits at most --max-queue requests not yet dispatched (low priority up
to half of it, normal 90 %, high all) and keeps at most --max-inflight batches at the backend;
beyond that requests get 429 with Retry-After. Failed backend calls that may succeed later
(timeouts, throttles, 5xx) are retried --attempts times with backoff; every other failure is
returned to each caller of the batch as 502. Nothing admitted is ever dropped.

Signals: SIGTERM or SIGINT stops accepting (readiness turns 503), dispatches every open batch
at once, waits for the batches at the backend and exits 0; a second one exits at once.
SIGHUP reloads the plan file: new requests follow the new plan, open batches of the old one
leave at once; an invalid file is logged and the old plan kept.

Cluster plans (plan --platform cluster): every service is a model (/v2/models/SERVICE/infer).
A request goes to a worker of its service as the cluster simulator routes it — by size to a
worker group, round-robin within the group in arrival order — and each worker batches by its
own batch size and timeout and runs one batch at a time, at the URL --workers maps it to (the
mapping 'inferplan workers' prints; once per host). A request whose worker's expected queueing
delay is above the plan's spill threshold goes to Lambda (--spill-lambda SERVICE=FUNCTION),
batched by the spill rule's buffers. --admission FILE caps each service's requests inside the
gateway (lower priorities reach the cap sooner) and rate-limits tenants (a header names the
tenant); refused requests get 429 with Retry-After. /metrics counts per service and per worker.

Endpoints: /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/ready], /metrics
(Prometheus), /inferplan/plan (the plan being served). Listening beyond loopback needs
--auth-token (or INFERPLAN_AUTH_TOKEN); requests then need "Authorization: Bearer TOKEN".`,
		Example: `  # the built-in encoder, on loopback
  inferplan serve --plan plan.json --backend builtin:bert-tiny

  # a Triton server upstream
  inferplan serve --plan plan.json --backend http://triton:8000/v2/models/bert --model bert

  # Lambda, after 'inferplan apply --plan plan.json --function encoder'
  INFERPLAN_AUTH_TOKEN=… inferplan serve --plan plan.json --backend lambda:encoder --listen 0.0.0.0:8080

  # a cluster plan, in front of the workers 'inferplan workers' started on two hosts
  inferplan serve --plan cluster.json --workers p0-0.json --workers p1-0.json --admission policy.yaml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), o, cmd.Flags().Changed) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.planPath, "plan", "", "plan JSON to serve (contract §3.3)")
	fs.StringVar(&o.backend, "backend", "", "builtin[:MODEL], http://… or lambda:FUNCTION")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	fs.StringVar(&o.authToken, "auth-token", "", "bearer token clients must send (default $INFERPLAN_AUTH_TOKEN); required beyond loopback")
	fs.StringVar(&o.model, "model", "", "model name in request URLs (default: the plan's model)")
	fs.StringVar(&o.upstream, "upstream-model", "", "http backend: the upstream's model name when --backend is a base URL (default --model)")
	fs.IntVar(&o.workers, "builtin-workers", runtime.GOMAXPROCS(0), "builtin backend: batches run at once (their matrix products share every core)")
	fs.StringArrayVar(&o.workerFiles, "workers", nil, "cluster plan: a mapping of the plan's workers to URLs, as 'inferplan workers' prints it; once per host (Lambda plans: N is the old spelling of --builtin-workers N)")
	fs.StringVar(&o.admissionPath, "admission", "", "cluster plan: admission policy file (per service: concurrency cap, priority, per-tenant rate limits)")
	fs.StringArrayVar(&o.spillLambda, "spill-lambda", nil, "cluster plan: SERVICE=FUNCTION, the Lambda function (with an alias per spill buffer, from 'inferplan apply') the service's spill rule sends to; repeatable")
	fs.IntVar(&o.maxQueue, "max-queue", 1024, "per buffer: requests admitted and not yet dispatched")
	fs.IntVar(&o.maxFlight, "max-inflight", 64, "per buffer: batches at the backend at once")
	fs.IntVar(&o.attempts, "attempts", 3, "backend attempts per batch for failures worth retrying")
	fs.DurationVar(&o.backendTO, "backend-timeout", time.Minute, "per backend attempt")
	fs.DurationVar(&o.requestTO, "request-timeout", 5*time.Minute, "longest a request may take, queueing included (then 504)")
	fs.DurationVar(&o.grace, "grace", 5*time.Minute, "on shutdown, how long to wait for batches at the backend")
	fs.IntVar(&o.maxInput, "max-input", 0, "longest input in tokens (default: the built-in model's limit, else 16384)")
	fs.Int64Var(&o.maxBody, "max-body", 4<<20, "largest request body in bytes")
	enumFlag(cmd, &o.priority, "priority", "", "normal", []string{"low", "normal", "high"}, "the model's admission priority when a request names none")
	fs.Uint64Var(&o.seed, "seed", 1, "seeds the built-in model's weights and the retry jitter")
	enumFlag(cmd, &o.logFormat, "log-format", "", "text", []string{"text", "json"}, "log format on stderr")
	fs.StringVar(&o.memoryLimit, "memory-limit", "auto", "soft limit on the process's memory, e.g. 512MiB (auto: 256 MiB above the live heap at start, or $GOMEMLIMIT; off: none)")
	o.aws.register(cmd, "lambda backend: ")
	return cmd
}

func (o *serveOptions) logger() (*slog.Logger, error) {
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(o.io.ErrOut, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(o.io.ErrOut, nil)), nil
	}
	return nil, flagErrorf("--log-format %q: want text or json", o.logFormat)
}

// openBackend builds the backend --backend names, and the longest input it takes (0: no limit of its own).
func (o *serveOptions) openBackend(ctx context.Context, p *plan.Plan, model string) (dispatch.Backend, int, error) {
	b := o.backend
	switch {
	case b == "builtin" || strings.HasPrefix(b, "builtin:"):
		name := strings.TrimPrefix(strings.TrimPrefix(b, "builtin"), ":")
		if name == "" {
			name = p.Model
		}
		if _, ok := encoder.Models[name]; !ok {
			return nil, 0, flagErrorf("--backend builtin: the plan's model %q is not built in; name one: builtin:%s", name,
				strings.Join(encoder.ModelNames(), ", builtin:"))
		}
		be, err := dispatch.NewBuiltin(name, o.workers, o.seed)
		if err != nil {
			return nil, 0, err
		}
		return be, be.MaxSize(), nil
	case strings.HasPrefix(b, "http://") || strings.HasPrefix(b, "https://"):
		up := o.upstream
		if up == "" {
			up = model
		}
		be, err := dispatch.NewUpstream(b, up, os.Getenv("INFERPLAN_UPSTREAM_TOKEN"), &http.Client{})
		if err != nil {
			return nil, 0, &flagError{err: err}
		}
		return be, 0, nil
	case strings.HasPrefix(b, "lambda:"):
		fn := strings.TrimPrefix(b, "lambda:")
		if fn == "" {
			return nil, 0, flagErrorf("--backend lambda: needs a function name, e.g. lambda:my-function")
		}
		cfg, err := o.aws.config(ctx)
		if err != nil {
			return nil, 0, err
		}
		return dispatch.NewLambda(dispatch.NewLambdaClient(cfg, o.aws.endpoint), fn), 0, nil
	case b == "":
		return nil, 0, flagErrorf("--backend is required: builtin[:MODEL], http://… or lambda:FUNCTION")
	}
	return nil, 0, flagErrorf("--backend %q: want builtin[:MODEL], http://… or lambda:FUNCTION", b)
}

func runServe(ctx context.Context, o *serveOptions, changed func(string) bool) error {
	if err := o.validate(); err != nil { // serve_flags.go
		return err
	}
	log, err := o.logger()
	if err != nil {
		return err
	}
	pr, err := dispatch.ParsePriority(o.priority)
	if err != nil {
		return &flagError{err: err}
	}
	if o.authToken == "" {
		o.authToken = os.Getenv("INFERPLAN_AUTH_TOKEN")
	}
	if !dispatch.IsLoopback(o.listen) && o.authToken == "" {
		return flagErrorf("--listen %s is reachable beyond this host: set --auth-token (or INFERPLAN_AUTH_TOKEN), or listen on 127.0.0.1", o.listen)
	}
	p, err := plan.ReadFile(o.planPath)
	if err != nil {
		return err
	}
	if p.Platform == plan.PlatformCluster {
		return serveCluster(ctx, o, changed, p, log)
	}
	if err := checkLambdaPlanFlags(changed); err != nil {
		return err
	}
	if changed("workers") {
		n, err := strconv.Atoi(o.workerFiles[len(o.workerFiles)-1])
		if err != nil || len(o.workerFiles) != 1 || n < 1 {
			return flagErrorf("--workers %s: a Lambda plan takes --builtin-workers N; --workers FILE maps a cluster plan's workers", strings.Join(o.workerFiles, ","))
		}
		o.workers = n
	}
	model := o.model
	if model == "" {
		model = p.Model
	}
	if model == "" || strings.ContainsAny(model, "/?#% ") {
		return flagErrorf("--model: need a model name without / ? # %% or spaces (the plan names %q)", p.Model)
	}
	be, limit, err := o.openBackend(ctx, p, model)
	if err != nil {
		return err
	}
	defer be.Close()
	maxInput := o.maxInput
	switch {
	case maxInput > 0 && limit > 0 && maxInput > limit:
		return flagErrorf("--max-input %d is above what the backend takes (%d)", maxInput, limit)
	case maxInput <= 0 && limit > 0:
		maxInput = limit
	case maxInput <= 0:
		maxInput = 16384
	}
	metrics := dispatch.NewMetrics()
	g, err := dispatch.New(p, be, dispatch.Options{MaxQueue: o.maxQueue, MaxInFlight: o.maxFlight, Attempts: o.attempts,
		BackendTimeout: o.backendTO, Seed: o.seed, Logger: log, Metrics: metrics})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: dispatch.NewServer(g, dispatch.ServerOptions{ModelName: model, AuthToken: o.authToken, MaxBodyByte: o.maxBody,
			MaxInput: maxInput, Timeout: o.requestTO, Priority: pr, Version: versionString(), Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	live := dispatch.LiveHeap()
	debug.SetGCPercent(dispatch.ServeGCPercent(live))
	// GOGC alone lets the heap reach GOGC × whatever a burst left live (735 × … after three 5,000-request
	// bursts: 770 MB resident); a soft limit makes the collector run harder as the process nears it instead
	memLimit := applyMemoryLimit(o.memoryLimit, live)
	addr := ln.Addr().String()
	log.Info("serving", "url", "http://"+addr, "model", model, "plan", o.planPath, "buffers", len(p.Lambda.Buffers),
		"backend", be.Describe(), "max_input", maxInput, "auth", o.authToken != "", "memory_limit", memoryLimitText(memLimit))
	return o.serveUntilStopped(ctx, log, g, srv, ln, func() {
		np, err := plan.ReadFile(o.planPath)
		if err == nil {
			err = g.Reload(np)
		}
		if err != nil {
			log.Error("plan reload failed; serving the old plan", "plan", o.planPath, "err", err)
			return
		}
		log.Info("plan reloaded", "plan", o.planPath, "buffers", len(np.Lambda.Buffers))
	})
}

// serveUntilStopped serves on ln until the server fails or ctx ends (SIGTERM, SIGINT), calling hup on every SIGHUP,
// then shuts down.
func (o *serveOptions) serveUntilStopped(ctx context.Context, log *slog.Logger, g gateway, srv *http.Server, ln net.Listener, hup func()) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	for {
		select {
		case err := <-served:
			_ = g.Close(context.Background())
			return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		case <-hups:
			hup()
			continue
		case <-ctx.Done():
		}
		break
	}
	return shutdown(o, log, g, srv)
}

// shutdown drains the gateway (open batches leave now, new requests get 503), lets every handler answer, and waits
// for the batches at the backend. A second SIGTERM or SIGINT gives up at once.
func shutdown(o *serveOptions, log *slog.Logger, g gateway, srv *http.Server) error {
	log.Info("shutting down: dispatching open batches, refusing new requests")
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	ctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	go func() {
		select {
		case <-again:
			log.Warn("second signal: exiting without waiting")
			cancel()
		case <-ctx.Done():
		}
	}()
	g.Drain()
	err := srv.Shutdown(ctx) // stops accepting; waits for every handler, and each waits for its batch
	err = errors.Join(err, g.Close(ctx))
	admitted, answered := g.Counts()
	if err != nil {
		log.Error("shutdown incomplete", "admitted", admitted, "answered", answered, "err", err)
		return fmt.Errorf("shutdown: %d of %d admitted requests answered: %w", answered, admitted, err)
	}
	log.Info("stopped", "admitted", admitted, "answered", answered)
	return nil
}
