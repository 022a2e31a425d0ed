package profiler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/inferplan/inferplan/profiler/profile"
)

// SweepConfig is a GPU-sharing sweep: N copies of a harness running the same batches at once, under CUDA
// time-slicing (the default between processes) or under MPS with a limit on each worker's share of the SMs.
type SweepConfig struct {
	Command  string   // the exec harness
	Colocate []int    // numbers of workers
	Sharing  []string // time-slice, mps
	MPSPct   []int    // CUDA_MPS_ACTIVE_THREAD_PERCENTAGE values (mps only)
	Shapes   []Point  // batch × size of the runs
	Window   time.Duration
	// Barrier is how far ahead of the common start the workers get their request (default 2 s).
	Barrier time.Duration
	// MPSControl is the MPS control binary (default nvidia-cuda-mps-control on PATH).
	MPSControl string
	Stderr     io.Writer
	Progress   func(done, total int)
}

// Sweep runs every combination and returns one measurement per worker (like the shared H100 co-location data):
// its median and p95 latency and its batches per second over the window; all workers start together at a
// barrier a couple of seconds after the last one is ready.
func Sweep(ctx context.Context, c SweepConfig) ([]profile.Measurement, error) {
	if c.Window <= 0 {
		c.Window = 6 * time.Second
	}
	if c.Barrier <= 0 {
		c.Barrier = 2 * time.Second
	}
	type group struct {
		mode string
		n    int
		pct  int // 0 for time-slice
	}
	var groups []group
	for _, mode := range c.Sharing {
		switch mode {
		case "time-slice":
			for _, n := range c.Colocate {
				groups = append(groups, group{mode, n, 0})
			}
		case "mps":
			for _, n := range c.Colocate {
				for _, p := range c.MPSPct {
					groups = append(groups, group{mode, n, p})
				}
			}
		default:
			return nil, fmt.Errorf("sharing %q: want time-slice or mps", mode)
		}
	}
	total := len(groups) * len(c.Shapes)
	done := 0
	var out []profile.Measurement
	var mps *MPSDaemon
	defer func() {
		if mps != nil {
			_ = mps.Stop()
		}
	}()
	for _, g := range groups {
		var env []string
		if g.mode == "mps" {
			if mps == nil {
				var err error
				if mps, err = StartMPS(c.MPSControl, c.Stderr); err != nil {
					return out, err
				}
			}
			env = append(mps.Env(), fmt.Sprintf("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%d", g.pct))
		}
		workers, err := startWorkers(ctx, c.Command, g.n, env, c.Stderr)
		if err != nil {
			return out, err
		}
		for _, sh := range c.Shapes {
			ms, err := runGroup(ctx, workers, sh, c.Window, c.Barrier, g.mode, g.n, g.pct)
			if err != nil {
				closeAll(workers)
				return out, fmt.Errorf("%s × %d, batch %d, size %d: %w", g.mode, g.n, sh.Batch, sh.Size, err)
			}
			out = append(out, ms...)
			done++
			if c.Progress != nil {
				c.Progress(done, total)
			}
		}
		closeAll(workers)
	}
	return out, nil
}

func startWorkers(ctx context.Context, cmd string, n int, env []string, stderr io.Writer) ([]*Exec, error) {
	workers := make([]*Exec, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i], errs[i] = StartExec(ctx, cmd, env, 10*time.Minute, stderr)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(workers)
		return nil, err
	}
	return workers, nil
}

func closeAll(ws []*Exec) {
	for _, w := range ws {
		if w != nil {
			_ = w.Close()
		}
	}
}

func runGroup(ctx context.Context, workers []*Exec, sh Point, window, barrier time.Duration, mode string, n, pct int) ([]profile.Measurement, error) {
	start := time.Now().Add(barrier) // every worker has the request well before the common start
	lats := make([][]float64, len(workers))
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i], errs[i] = w.RunFor(ctx, sh.Batch, sh.Size, window, start)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []profile.Measurement
	for i, l := range lats {
		info := workers[i].Info()
		m := profile.Measurement{Platform: info.Platform, Hardware: info.Hardware, DType: info.DType, VCPUs: info.VCPUs,
			Sharing: mode, Colocated: n, MPSPct: float64(pct), Batch: sh.Batch, Size: float64(sh.Size),
			LatencyMs: round3(median(l)),
			Optional: map[string]float64{
				"latency_p50_ms": round3(median(l)), "latency_p95_ms": round3(nearestRank(l, 95)),
				"latency_min_ms": round3(minOf(l)), "latency_max_ms": round3(maxOf(l)),
			}}
		setExtra(&m, "runs", len(l))
		setExtra(&m, "window_s", window.Seconds())
		setExtra(&m, "batches_per_s", round3(float64(len(l))/window.Seconds()))
		out = append(out, m)
	}
	return out, nil
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// MPSDaemon is an MPS control daemon of our own, in its own pipe and log folders, so it neither needs nor
// disturbs a daemon someone else runs; Stop always sends it quit.
type MPSDaemon struct {
	control string
	dir     string
	stderr  io.Writer
}

// StartMPS starts `nvidia-cuda-mps-control -d` with CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_LOG_DIRECTORY in a new
// temporary folder.
func StartMPS(control string, stderr io.Writer) (*MPSDaemon, error) {
	if control == "" {
		control = "nvidia-cuda-mps-control"
	}
	path, err := exec.LookPath(control)
	if err != nil {
		return nil, fmt.Errorf("MPS: %s not found: MPS sweeps need the NVIDIA driver's MPS control daemon", control)
	}
	dir, err := os.MkdirTemp("", "inferplan-mps-")
	if err != nil {
		return nil, err
	}
	d := &MPSDaemon{control: path, dir: dir, stderr: stderr}
	for _, sub := range []string{"pipe", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(path, "-d")
	cmd.Env = append(os.Environ(), d.Env()...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("MPS: start control daemon: %w", err)
	}
	return d, nil
}

// Env is the environment that points CUDA processes (and the control tool) at this daemon.
func (d *MPSDaemon) Env() []string {
	return []string{"CUDA_MPS_PIPE_DIRECTORY=" + filepath.Join(d.dir, "pipe"), "CUDA_MPS_LOG_DIRECTORY=" + filepath.Join(d.dir, "log")}
}

// Stop sends quit to the control daemon and removes its folders.
func (d *MPSDaemon) Stop() error {
	cmd := exec.Command(d.control)
	cmd.Env = append(os.Environ(), d.Env()...)
	cmd.Stdin = strings.NewReader("quit\n")
	cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
	err := cmd.Run()
	os.RemoveAll(d.dir)
	if err != nil {
		return fmt.Errorf("MPS: quit control daemon: %w", err)
	}
	return nil
}
