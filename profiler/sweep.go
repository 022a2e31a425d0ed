package profiler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// disturbs a daemon someone else runs; Stop always sends it quit and checks that nothing of it is left.
type MPSDaemon struct {
	control string
	dir     string
	stderr  io.Writer
	// QuitWait is how long Stop waits for the daemon and its servers to exit after quit (default 10 s).
	QuitWait time.Duration
}

// StartMPS starts `nvidia-cuda-mps-control -d` with CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_LOG_DIRECTORY in a new
// temporary folder.
func StartMPS(control string, stderr io.Writer) (*MPSDaemon, error) {
	return StartMPSIn(control, "", stderr)
}

// StartMPSIn is StartMPS with the daemon's private folder made under parent ("" for the system's temporary
// folder): parent/inferplan-mps-*/pipe and …/log. control is looked up on PATH (default nvidia-cuda-mps-control).
func StartMPSIn(control, parent string, stderr io.Writer) (*MPSDaemon, error) {
	if control == "" {
		control = "nvidia-cuda-mps-control"
	}
	if stderr == nil {
		stderr = io.Discard
	}
	path, err := exec.LookPath(control)
	if err != nil {
		return nil, fmt.Errorf("MPS: %s not found on PATH: an MPS split needs the NVIDIA driver's MPS control daemon", control)
	}
	dir, err := os.MkdirTemp(parent, "inferplan-mps-")
	if err != nil {
		return nil, fmt.Errorf("MPS: %w", err)
	}
	d := &MPSDaemon{control: path, dir: dir, stderr: stderr}
	for _, sub := range []string{"pipe", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("MPS: %w", err)
		}
	}
	if err := d.runControl("-d", ""); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("MPS: start control daemon: %w", err)
	}
	return d, nil
}

// control_ runs the control tool once with the daemon's environment. Its output goes to a file, not a pipe: the
// daemon it forks keeps the tool's stdout open, and a pipe would never reach its end.
func (d *MPSDaemon) runControl(arg, stdin string) error {
	var args []string
	if arg != "" {
		args = []string{arg}
	}
	cmd := exec.Command(d.control, args...)
	cmd.Env = append(os.Environ(), d.Env()...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := os.CreateTemp(d.dir, "control-*.out")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	runErr := cmd.Run()
	said, _ := os.ReadFile(out.Name())
	_, _ = d.stderr.Write(said)
	if runErr != nil {
		if msg := strings.TrimSpace(string(said)); msg != "" {
			return fmt.Errorf("%s %s: %w: %s", d.control, strings.Join(args, " "), runErr, msg)
		}
		return fmt.Errorf("%s %s: %w", d.control, strings.Join(args, " "), runErr)
	}
	return nil
}

// Env is the environment that points CUDA processes (and the control tool) at this daemon.
func (d *MPSDaemon) Env() []string {
	return []string{"CUDA_MPS_PIPE_DIRECTORY=" + d.PipeDir(), "CUDA_MPS_LOG_DIRECTORY=" + filepath.Join(d.dir, "log")}
}

// PipeDir is the daemon's pipe folder.
func (d *MPSDaemon) PipeDir() string { return filepath.Join(d.dir, "pipe") }

// Stop sends quit to the control daemon, waits until no process of it (control daemon or MPS server) is left,
// killing any still there after QuitWait, and removes its folders. It reports a failed quit and any process it
// had to kill.
func (d *MPSDaemon) Stop() error {
	err := d.runControl("", "quit\n")
	if err != nil {
		err = fmt.Errorf("MPS: quit control daemon: %w", err)
	}
	wait := d.QuitWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	left := d.Processes()
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		left = d.Processes()
	}
	if len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		err = errors.Join(err, fmt.Errorf("MPS: %d process(es) of the daemon in %s still ran %v after quit (pid %v); killed them", len(left), d.PipeDir(), wait, left))
	}
	os.RemoveAll(d.dir)
	return err
}

// Processes lists the running processes of this daemon: those of the MPS control tool or server (by command
// name) whose environment points at this daemon's pipe folder. It reads /proc, so it sees only this user's
// processes unless run as root — the daemon is ours, so that is enough.
func (d *MPSDaemon) Processes() []int {
	want := []byte("\x00CUDA_MPS_PIPE_DIRECTORY=" + d.PipeDir() + "\x00")
	tool := filepath.Base(d.control)
	if len(tool) > 15 { // the kernel keeps 15 bytes of a command name
		tool = tool[:15]
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if name != tool && !strings.HasPrefix(name, "nvidia-cuda-mps") {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(append(append([]byte{0}, env...), 0), want) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(st) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// zombie reports whether a /proc/PID/stat line is a process that has exited and waits to be reaped.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
