// Package workerhost runs one host's workers of a cluster plan: each worker a model behind a small Open Inference
// Protocol v2 server that takes the batches `inferplan serve` forms and runs them one at a time, as the cluster
// simulator assumes. A worker's model is the exec harness (profiler/exec.go) in its own process, with the GPU
// share the plan gives it — CUDA_VISIBLE_DEVICES for its GPU, an MPS daemon of the host's own and an active thread
// percentage under MPS, its MIG device under MIG, plain co-location under time-slicing — or, without a harness,
// the built-in encoder in this process on the CPU. The host says which URL serves which worker as a fleet.Mapping.
package workerhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler"
	"github.com/inferplan/inferplan/profiler/encoder"
)

// Config says which of a plan's workers this host runs, and how.
type Config struct {
	Plan     *plan.Plan // a cluster plan
	PlanPath string     // the plan's file, recorded in the mapping
	Host     string     // one of the plan's hosts: "p0-0"
	Only     []string   // host-relative worker ids to start ("gpu0/w1"); none: every worker of the host
	// Listen is host:port. Port 0 gives every worker an ephemeral port of its own; a port P gives the k-th
	// worker started P+k.
	Listen string
	// Advertise is the host name the mapping's URLs carry (default: the listen host, or this machine's name
	// when it listens on every interface).
	Advertise string
	// Harness is the exec harness (run as sh -c Harness); "" runs the built-in BuiltinModel in this process.
	Harness      string
	BuiltinModel string // default bert-tiny
	Seed         uint64 // the built-in model's weights
	// MPSDir is where the MPS daemon's private folder is made (default the system's temporary folder).
	MPSDir string
	// GPUEnv says who applies the plan's GPU shares: GPUEnvPlan (workers: CUDA_VISIBLE_DEVICES, its own MPS
	// daemon, MIG devices), GPUEnvExternal (the environment already has: a Kubernetes device plugin, a container
	// runtime's --gpus), or GPUEnvAuto (default: external in a Kubernetes pod or where NVIDIA_VISIBLE_DEVICES
	// names particular devices, else plan).
	GPUEnv       string
	AuthToken    string        // bearer token every request but the health checks needs ("" = none)
	MaxQueue     int           // batches that may wait for a busy worker (default 64); beyond, 503
	MaxBody      int64         // largest request body (default 64 MiB)
	BatchTimeout time.Duration // longest a harness may take for a batch before it is given up (default 2 min)
	ReadyTimeout time.Duration // longest a harness may take to print its ready line (default 10 min)
	Version      string        // in the v2 server metadata
	Logger       *slog.Logger
	Stderr       io.Writer // the harnesses' stderr, each line prefixed with its worker
	Tools        Tools
}

// Tools are the NVIDIA tools and GPUs of the machine, replaceable in tests.
type Tools struct {
	MPSControl string // the MPS control tool, looked up on PATH (default nvidia-cuda-mps-control)
	NvidiaSMI  string // lists MIG devices with -L, looked up on PATH (default nvidia-smi)
	// GPUs counts this machine's NVIDIA GPUs, or says why there are none (default DetectGPUs).
	GPUs func() (int, string)
}

// Who applies the plan's GPU shares.
const (
	GPUEnvAuto     = "auto"
	GPUEnvPlan     = "plan"
	GPUEnvExternal = "external"
)

// ResolveGPUEnv says whether the GPU environment is external for a setting (auto, plan or external), and why, in
// words: auto is external inside a Kubernetes pod (KUBERNETES_SERVICE_HOST is set: the NVIDIA device plugin gives
// each container its GPU, MIG slice or MPS share, and runs the MPS daemon) or where NVIDIA_VISIBLE_DEVICES names
// particular devices (a container runtime chose them, and numbers them from 0 inside).
func ResolveGPUEnv(setting string) (bool, string) {
	switch setting {
	case GPUEnvPlan:
		return false, "--gpu-env plan"
	case GPUEnvExternal:
		return true, "--gpu-env external"
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true, "a Kubernetes pod: its device plugin gives each container its GPU share"
	}
	switch v := strings.TrimSpace(os.Getenv("NVIDIA_VISIBLE_DEVICES")); v {
	case "", "all", "none", "void":
	default:
		return true, "NVIDIA_VISIBLE_DEVICES=" + v + ": the container runtime chose the GPUs"
	}
	return false, "not in a container that was given particular GPUs"
}

// ConfigError is a setting that cannot work, found before anything started; Flag names the setting.
type ConfigError struct {
	Flag string
	Err  error
}

func (e *ConfigError) Error() string { return "--" + e.Flag + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(flag, format string, args ...any) error {
	return &ConfigError{Flag: flag, Err: fmt.Errorf(format, args...)}
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.BuiltinModel == "" {
		c.BuiltinModel = "bert-tiny"
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 64
	}
	if c.MaxBody == 0 {
		c.MaxBody = 64 << 20
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 2 * time.Minute
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.GPUEnv == "" {
		c.GPUEnv = GPUEnvAuto
	}
	if c.Tools.MPSControl == "" {
		c.Tools.MPSControl = "nvidia-cuda-mps-control"
	}
	if c.Tools.NvidiaSMI == "" {
		c.Tools.NvidiaSMI = "nvidia-smi"
	}
	if c.Tools.GPUs == nil {
		c.Tools.GPUs = DetectGPUs
	}
}

// Check validates the settings without starting anything: the plan, the host and --only against it, the
// listen address, the harness or built-in model, the MPS folder, the limits. Its errors are *ConfigError.
func (c *Config) Check() error {
	c.defaults()
	if c.Plan == nil || c.Plan.Cluster == nil {
		platform := "no"
		if c.Plan != nil {
			platform = "a " + c.Plan.Platform
		}
		return configErr("plan", "%s plan: workers runs the workers of a cluster plan (plan --platform cluster)", platform)
	}
	f, err := fleet.Expand(c.Plan)
	if err != nil {
		return &ConfigError{Flag: "plan", Err: err}
	}
	if c.Host == "" {
		return configErr("host", "is required: one of the plan's hosts, %s", strings.Join(cut(f.HostNames(), 12), ", "))
	}
	sel, err := Select(f, c.Host, c.Only)
	if err != nil {
		return err
	}
	switch c.GPUEnv {
	case GPUEnvAuto, GPUEnvPlan, GPUEnvExternal:
	default:
		return configErr("gpu-env", "%q: want auto, plan or external", c.GPUEnv)
	}
	if external, _ := ResolveGPUEnv(c.GPUEnv); !external && c.Harness != "" {
		if err := checkMPSSplit(f, c.Host, sel); err != nil {
			return err
		}
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return configErr("listen", "%q is not HOST:PORT: %v", c.Listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return configErr("listen", "port %q is not a number in 0–65535", port)
	}
	if p > 0 && p+len(sel)-1 > 65535 {
		return configErr("listen", "the %d workers would listen on ports %d–%d, beyond 65535", len(sel), p, p+len(sel)-1)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		if _, err := net.LookupHost(host); err != nil {
			return configErr("listen", "host %q: %v", host, err)
		}
	}
	if !dispatch.IsLoopback(c.Listen) && c.AuthToken == "" {
		return configErr("listen", "%s is reachable beyond this machine: set --auth-token (or INFERPLAN_AUTH_TOKEN), or listen on 127.0.0.1", c.Listen)
	}
	if a := c.Advertise; a != "" {
		if net.ParseIP(a) == nil && (len(a) > 253 || slices.ContainsFunc([]rune(a), func(r rune) bool {
			return !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		})) {
			return configErr("advertise", "%q is not a host name or IP address", a)
		}
	}
	if c.Harness != "" {
		if strings.TrimSpace(c.Harness) == "" {
			return configErr("harness", "is blank: give the command that starts your harness")
		}
	} else if _, ok := encoder.Models[c.BuiltinModel]; !ok {
		return configErr("builtin-model", "%q is not built in: %v", c.BuiltinModel, encoder.ModelNames())
	}
	if c.MPSDir != "" {
		st, err := os.Stat(c.MPSDir)
		if err != nil {
			return configErr("mps-pipe-dir", "%v", err)
		}
		if !st.IsDir() {
			return configErr("mps-pipe-dir", "%s is not a folder", c.MPSDir)
		}
	}
	switch {
	case c.MaxQueue < 1:
		return configErr("max-queue", "%d is below 1", c.MaxQueue)
	case c.MaxBody < 1:
		return configErr("max-body", "%d is below 1", c.MaxBody)
	case c.BatchTimeout < 0:
		return configErr("batch-timeout", "%v is negative", c.BatchTimeout)
	case c.ReadyTimeout < 0:
		return configErr("ready-timeout", "%v is negative", c.ReadyTimeout)
	}
	return nil
}

// maxMPSDir bounds the MPS daemon's pipe folder: it holds Unix sockets, whose paths may be 107 bytes at most, and
// the daemon names some of them after itself.
const maxMPSDir = 70

// Host is a host's running workers.
type Host struct {
	cfg      Config
	log      *slog.Logger
	workers  []*Worker
	fronts   []*front
	mps      *profiler.MPSDaemon
	builtin  *dispatch.Builtin
	mapping  *fleet.Mapping
	external bool // the GPU environment is the process's own (see Config.GPUEnv)
	stderrMu sync.Mutex

	stopping chan struct{}
	failed   chan struct{}
	dead     atomic.Int64
	stopOnce sync.Once
	stopErr  error
}

// Start starts the host's workers (those cfg.Only names, or all): it checks the settings and the machine (GPUs,
// MPS control tool, MIG devices) and binds every port before it starts anything, then starts the MPS daemon when
// a started worker needs it, every worker's model, and its v2 server; it returns once every worker has answered
// a warm-up batch and its server answers ready. On an error nothing it started is left running.
func Start(ctx context.Context, cfg Config) (*Host, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	f, err := fleet.Expand(cfg.Plan)
	if err != nil {
		return nil, &ConfigError{Flag: "plan", Err: err}
	}
	sel, err := Select(f, cfg.Host, cfg.Only)
	if err != nil {
		return nil, err
	}
	fh, _ := f.Host(cfg.Host)
	all := make([]fleet.Worker, 0, len(fh.Workers))
	for _, i := range fh.Workers {
		all = append(all, f.Workers[i])
	}
	external, why := ResolveGPUEnv(cfg.GPUEnv)
	gpus := func() gpuInfo { n, why := cfg.Tools.GPUs(); return gpuInfo{n, why} }
	workers, warnings, err := place(&cfg, f, all, sel, external, gpus, func() (string, error) { return listMIG(cfg.Tools.NvidiaSMI) })
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		cfg.Logger.Warn(w)
	}
	if cfg.Harness != "" && slices.ContainsFunc(workers, func(w *Worker) bool { return w.GPU >= 0 }) {
		if external {
			cfg.Logger.Info("GPU environment: external, kept as this process inherits it (no MPS daemon, no MIG look-up, no CUDA_VISIBLE_DEVICES from the plan)", "why", why)
		} else {
			cfg.Logger.Info("GPU environment: the plan's, applied by workers", "why", why)
		}
	}
	needMPS := cfg.Harness != "" && !external && slices.ContainsFunc(workers, func(w *Worker) bool { return w.Sharing == plan.SharingMPS && !w.OnCPU })
	if needMPS {
		parent := cfg.MPSDir
		if parent == "" {
			parent = os.TempDir()
		}
		if n := len(parent) + len("/inferplan-mps-1234567890/pipe"); n > maxMPSDir {
			return nil, configErr("mps-pipe-dir", "the MPS pipe folder would be a path of %d bytes under %s; it holds Unix sockets, so give a short folder (such as /tmp)", n, parent)
		}
		if _, err := exec.LookPath(cfg.Tools.MPSControl); err != nil {
			return nil, fmt.Errorf("MPS: %s not found on PATH: the plan splits a GPU of host %s by MPS, which needs the NVIDIA driver's MPS control daemon", cfg.Tools.MPSControl, cfg.Host)
		}
	}
	lns, urls, err := listen(&cfg, len(workers))
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger, workers: workers, stopping: make(chan struct{}), failed: make(chan struct{})}
	for i, w := range workers {
		fr := newFront(w, lns[i], urls[i], &cfg)
		h.fronts = append(h.fronts, fr)
		fr.serve()
	}
	h.external = external
	if err := h.startRunners(ctx, needMPS); err != nil {
		h.abort()
		return nil, err
	}
	h.mapping = &fleet.Mapping{Plan: cfg.PlanPath, Host: cfg.Host}
	for _, fr := range h.fronts {
		h.mapping.Workers = append(h.mapping.Workers, fleet.MappedWorker{ID: fr.w.ID, Service: fr.w.ServiceName, URL: fr.url})
	}
	return h, nil
}

// listen binds every worker's port before anything starts, and says the URL each is reached at.
func listen(cfg *Config, n int) ([]net.Listener, []string, error) {
	host, port, _ := net.SplitHostPort(cfg.Listen)
	base, _ := strconv.Atoi(port)
	adv := cfg.Advertise
	if adv == "" {
		adv = host
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			name, err := os.Hostname()
			if err != nil {
				return nil, nil, fmt.Errorf("the machine's name for the workers' URLs (give --advertise): %w", err)
			}
			adv = name
		}
	}
	var lns []net.Listener
	var urls []string
	for k := range n {
		p := 0
		if base > 0 {
			p = base + k
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, nil, fmt.Errorf("listen for worker %d of %d: %w", k+1, n, err)
		}
		lns = append(lns, ln)
		_, got, _ := net.SplitHostPort(ln.Addr().String())
		urls = append(urls, "http://"+net.JoinHostPort(adv, got))
	}
	return lns, urls, nil
}

// startRunners starts the MPS daemon when needed and every worker's model, warms each up with one batch, and
// makes the workers ready.
func (h *Host) startRunners(ctx context.Context, needMPS bool) error {
	cfg := &h.cfg
	var mpsEnv []string
	if needMPS {
		d, err := profiler.StartMPSIn(cfg.Tools.MPSControl, cfg.MPSDir, cfg.Stderr)
		if err != nil {
			return err
		}
		h.mps = d
		mpsEnv = d.Env()
		h.log.Info("MPS control daemon started", "pipe_dir", d.PipeDir())
	}
	if cfg.Harness == "" {
		// one model for every worker; each runs one batch at a time, so the pool has a goroutine for each
		b, err := dispatch.NewBuiltin(cfg.BuiltinModel, len(h.workers), cfg.Seed)
		if err != nil {
			return err
		}
		h.builtin = b
	}
	runners := make([]runner, len(h.fronts))
	errs := make([]error, len(h.fronts))
	var wg sync.WaitGroup
	for i, fr := range h.fronts {
		if cfg.Harness == "" {
			runners[i] = &builtinRunner{b: h.builtin}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := &prefixWriter{mu: &h.stderrMu, out: cfg.Stderr, prefix: []byte("[" + fr.w.ID + "] ")}
			e, err := profiler.StartExecEnv(ctx, cfg.Harness, processEnv(fr.w, mpsEnv, h.external), cfg.ReadyTimeout, out)
			if err != nil {
				out.Flush()
				errs[i] = fmt.Errorf("worker %s: %w", fr.w.ID, err)
				return
			}
			runners[i] = &harnessRunner{e: e, timeout: cfg.BatchTimeout, out: out}
		}()
	}
	wg.Wait()
	for i, r := range runners {
		if r == nil {
			continue
		}
		// a warm-up batch: the model answers real inputs (a harness that only times shapes fails here, not at
		// the first request), and its output width is known
		if errs[i] == nil {
			out, _, err := r.infer([][]int64{{101, 102}}, 2)
			if err != nil {
				errs[i] = fmt.Errorf("worker %s: warm-up batch: %w", h.fronts[i].w.ID, err)
			} else {
				h.fronts[i].start(r, len(out[0]))
				continue
			}
		}
		_ = r.close()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i, fr := range h.fronts {
		resp, err := client.Get("http://" + fr.ln.Addr().String() + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
		if err != nil {
			return fmt.Errorf("worker %s: its v2 server at %s is not ready: %w", fr.w.ID, fr.url, err)
		}
		r := runners[i]
		h.log.Info("worker ready", "worker", fr.w.ID, "service", fr.w.ServiceName, "url", fr.url, "backend", r.describe(),
			"output_width", fr.width, "placement", placement(fr.w, cfg.Harness != "", h.external))
		if ch := r.exited(); ch != nil {
			go h.watch(fr, r)
		}
	}
	return nil
}

// placement says in words where a worker runs.
func placement(w *Worker, harness, external bool) string {
	switch {
	case w.GPU >= 0 && harness && external:
		return fmt.Sprintf("GPU %d of the plan (%s), as the environment gives it", w.GPU, w.Sharing)
	case w.GPU < 0 && harness:
		return "CPU (CUDA_VISIBLE_DEVICES empty)"
	case w.GPU < 0:
		return "CPU"
	case w.OnCPU:
		return fmt.Sprintf("CPU, standing in for GPU %d (%s)", w.GPU, w.Sharing)
	case w.MIGDevice != "":
		return fmt.Sprintf("GPU %d, MIG %s %s", w.GPU, w.MIGProfile, w.MIGDevice)
	case w.Sharing == plan.SharingMPS:
		return fmt.Sprintf("GPU %d, MPS %d%%", w.GPU, w.MPSPct)
	}
	return fmt.Sprintf("GPU %d, %s", w.GPU, w.Sharing)
}

// watch marks a worker dead when its harness exits while the host is not stopping, and fails the host when no
// worker is left.
func (h *Host) watch(fr *front, r runner) {
	select {
	case <-r.exited():
	case <-h.stopping:
		return
	}
	select {
	case <-h.stopping:
		return
	default:
	}
	if err := r.exitErr(); fr.die(err) {
		fr.log.Error("worker lost its harness: its server answers 502 to batches and 503 to health checks; workers does not restart it", "err", err)
	}
	if int(h.dead.Add(1)) == len(h.fronts) {
		close(h.failed)
	}
}

// Mapping is the worker-to-URL mapping `inferplan serve --plan --workers` reads.
func (h *Host) Mapping() *fleet.Mapping { return h.mapping }

// Workers are the workers this host runs, in order.
func (h *Host) Workers() []*Worker { return h.workers }

// Failed is closed when every worker's harness has exited by itself: the host has nothing left to serve.
func (h *Host) Failed() <-chan struct{} { return h.failed }

// Stop drains the host: every worker stops taking batches (its server closes its port), finishes the batches it
// has taken (until ctx ends), and its harness is asked to exit (closing its stdin; killed a few seconds later
// if it does not); then the MPS daemon gets quit and its folder is removed. It returns nil when every batch
// taken was answered and nothing was left behind.
func (h *Host) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() {
		close(h.stopping)
		h.stopErr = h.stop(ctx)
	})
	return h.stopErr
}

func (h *Host) stop(ctx context.Context) error {
	errs := make([]error, len(h.fronts))
	var wg sync.WaitGroup
	for i, fr := range h.fronts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fr.drain(ctx); err != nil {
				errs[i] = fmt.Errorf("worker %s: batches still running when the grace ran out: %w", fr.w.ID, err)
			}
			if err := fr.stop(); err != nil {
				errs[i] = errors.Join(errs[i], fmt.Errorf("worker %s: %w", fr.w.ID, err))
			}
			h.log.Info("worker stopped", "worker", fr.w.ID, "batches", fr.batches.Load(), "requests", fr.requests.Load())
		}()
	}
	wg.Wait()
	if h.builtin != nil {
		_ = h.builtin.Close()
	}
	if h.mps != nil {
		err := h.mps.Stop()
		if err == nil {
			h.log.Info("MPS control daemon quit", "pipe_dir", h.mps.PipeDir())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// abort stops what a failed Start had started, at once.
func (h *Host) abort() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Stop(ctx); err != nil {
		h.log.Warn("stopping after a failed start", "err", err)
	}
}
