package profiler

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/inferplan/inferplan/profiler/profile"
)

// The exec protocol: inferplan starts the harness (sh -c CMD) and speaks JSON lines over its stdin and stdout; the
// harness logs to stderr.
//
//	harness → {"ready": true, "info": {"platform": "gpu", "hardware": "…", "dtype": "float16", "model": "…",
//	           "size_unit": "tokens", "source": "…"}}                      once, when the model is loaded
//	inferplan → {"batch": 8, "size": 128}
//	harness → {"latency_ms": 4.21}                                        or {"error": "…"}
//	inferplan → {"batch": 8, "size": 128, "repeat_for_s": 6, "start_at_unix_ms": 1732364400000}
//	harness → {"latencies_ms": [4.2, 4.3, …]}                             back-to-back runs from the start time
//	inferplan → {"batch": 2, "size": 6, "input_ids": [[101, 7592, 102], [101, 2088, 2003, 2307, 999, 102]]}
//	harness → {"latency_ms": 1.93, "outputs": [[0.12, -0.4, …], [0.08, 0.31, …]]}
//
// The last pair serves real requests (`inferplan workers`): input_ids holds one row per request, its token ids
// unpadded (1 to size of them); the harness pads every row to size with token 0, masks the padding (an attention
// mask, so a row's answer does not depend on its batch) and answers one output row per input, every row of one
// width — for the encoders here, the first token's final hidden state. The ready line's info may say "max_size",
// the longest input the harness takes. A request without input_ids is the timing request above, so harnesses that
// only time shapes keep working for profiles; one that answers input_ids without outputs cannot serve, and
// Exec.Infer says so.
//
// Closing stdin asks the harness to exit.

// HarnessInfo is what a harness says about itself in its ready line.
type HarnessInfo struct {
	Platform string  `json:"platform"`
	Hardware string  `json:"hardware"`
	VCPUs    float64 `json:"vcpus,omitempty"`
	DType    string  `json:"dtype,omitempty"`
	Model    string  `json:"model,omitempty"`
	SizeUnit string  `json:"size_unit,omitempty"`
	Source   string  `json:"source,omitempty"`
	GPUIndex *int    `json:"gpu_index,omitempty"`
	MaxSize  int     `json:"max_size,omitempty"` // the longest input it takes (0: it does not say)
}

// Request is a line inferplan sends.
type Request struct {
	Batch      int     `json:"batch"`
	Size       int     `json:"size"`
	RepeatForS float64 `json:"repeat_for_s,omitempty"`
	StartAtMs  int64   `json:"start_at_unix_ms,omitempty"`
	// InputIDs are the requests of a batch to serve, one row of token ids each (unpadded, at most Size long).
	InputIDs [][]int64 `json:"input_ids,omitempty"`
}

// Reply is a line a harness sends.
type Reply struct {
	Ready       bool         `json:"ready,omitempty"`
	Info        *HarnessInfo `json:"info,omitempty"`
	LatencyMs   *float64     `json:"latency_ms,omitempty"`
	LatenciesMs []float64    `json:"latencies_ms,omitempty"`
	Outputs     [][]float32  `json:"outputs,omitempty"` // one row per input of a request with input_ids
	Error       string       `json:"error,omitempty"`
}

// Exec runs batches through a harness process.
type Exec struct {
	cmdline string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan []byte // stdout lines, from one reader goroutine; closed at EOF
	info    HarnessInfo
	stderr  *tailBuffer
	mu      sync.Mutex
	// stuck is set when a request got no reply in time (or its caller gave up): a late reply would be read as
	// the next request's, so the harness takes no more requests.
	stuck   error
	done    chan struct{}
	waitErr error
}

// StartExec starts a harness and waits (up to ready) for its ready line. env is added to the process
// environment (the MPS variables of a sharing sweep, say).
func StartExec(ctx context.Context, cmdline string, env []string, ready time.Duration, stderr io.Writer) (*Exec, error) {
	return StartExecEnv(ctx, cmdline, append(os.Environ(), env...), ready, stderr)
}

// StartExecEnv is StartExec with the harness's whole environment given (nothing inherited).
func StartExecEnv(ctx context.Context, cmdline string, env []string, ready time.Duration, stderr io.Writer) (*Exec, error) {
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own process group: Close stops the whole harness
	tail := &tailBuffer{max: 4096, out: stderr}
	cmd.Stderr = tail
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start harness %q: %w", cmdline, err)
	}
	e := &Exec{cmdline: cmdline, cmd: cmd, stdin: stdin, stderr: tail, done: make(chan struct{}), lines: make(chan []byte, 1)}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<16), 64<<20) // a sweep's reply can hold thousands of latencies
	go func() {
		for sc.Scan() {
			e.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(e.lines)
	}()
	go func() {
		e.waitErr = cmd.Wait()
		close(e.done)
	}()
	rep, err := e.read(ctx, ready)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("harness %q did not get ready: %w", cmdline, err)
	}
	if !rep.Ready || rep.Info == nil {
		e.Close()
		return nil, fmt.Errorf("harness %q: first line must be {\"ready\": true, \"info\": {…}}", cmdline)
	}
	e.info = *rep.Info
	switch profile.Platform(e.info.Platform) {
	case profile.CPU, profile.GPU, profile.Lambda:
	default:
		e.Close()
		return nil, fmt.Errorf("harness %q: info.platform %q is not cpu, gpu or lambda", cmdline, e.info.Platform)
	}
	return e, nil
}

// read reads one reply line, or fails after timeout, on ctx, or when the harness exits.
func (e *Exec) read(ctx context.Context, timeout time.Duration) (Reply, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line, ok := <-e.lines:
		if !ok {
			<-e.done
			return Reply{}, fmt.Errorf("harness exited (%v); its last words: %s", e.waitErr, e.stderr.String())
		}
		var rep Reply
		if err := json.Unmarshal(line, &rep); err != nil {
			return Reply{}, fmt.Errorf("harness wrote %q, not a JSON reply (log to stderr, not stdout)", truncate(string(line), 200))
		}
		if rep.Error != "" {
			return rep, fmt.Errorf("harness: %s", rep.Error)
		}
		return rep, nil
	case <-timer.C:
		return Reply{}, fmt.Errorf("no reply within %v", timeout)
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

func (e *Exec) send(ctx context.Context, req Request, timeout time.Duration) (Reply, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stuck != nil {
		return Reply{}, e.stuck
	}
	data, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	if _, err := e.stdin.Write(append(data, '\n')); err != nil {
		return Reply{}, fmt.Errorf("harness stdin: %w", err)
	}
	rep, err := e.read(ctx, timeout)
	if err != nil && rep.Error == "" {
		select {
		case <-e.done: // it exited: nothing more will come anyway
		default:
			e.stuck = fmt.Errorf("harness %q is out of step: an earlier request got no reply (%v), and a late one would answer the wrong request", e.cmdline, err)
		}
	}
	return rep, err
}

// Info describes the harness's runs.
func (e *Exec) Info() Info {
	src := e.info.Source
	if src == "" {
		src = "measured by the harness " + e.cmdline
	}
	return Info{Platform: profile.Platform(e.info.Platform), Hardware: e.info.Hardware, VCPUs: e.info.VCPUs,
		DType: e.info.DType, Model: e.info.Model, SizeUnit: e.info.SizeUnit, Source: src}
}

// HarnessInfo is the harness's ready-line description.
func (e *Exec) HarnessInfo() HarnessInfo { return e.info }

// Run asks the harness for one timed batch.
func (e *Exec) Run(ctx context.Context, batch, size int) (Sample, error) {
	rep, err := e.send(ctx, Request{Batch: batch, Size: size}, 10*time.Minute)
	if err != nil {
		return Sample{}, err
	}
	if rep.LatencyMs == nil || *rep.LatencyMs < 0 {
		return Sample{}, errors.New("harness reply has no latency_ms")
	}
	return Sample{LatencyMs: *rep.LatencyMs}, nil
}

// RunFor asks the harness to run batches back to back for the given time from start, and returns every latency.
func (e *Exec) RunFor(ctx context.Context, batch, size int, window time.Duration, start time.Time) ([]float64, error) {
	rep, err := e.send(ctx, Request{Batch: batch, Size: size, RepeatForS: window.Seconds(), StartAtMs: start.UnixMilli()},
		time.Until(start)+window+10*time.Minute)
	if err != nil {
		return nil, err
	}
	if len(rep.LatenciesMs) == 0 {
		return nil, errors.New("harness reply has no latencies_ms")
	}
	return rep.LatenciesMs, nil
}

// Infer serves one batch: ids holds each request's token ids (1 to pad of them), and the harness answers one
// output row per request, all of one width, and the batch's latency. A harness that answers without outputs
// speaks only the timing part of the protocol; that is an error here. After a reply that does not come within
// timeout (or a ctx that ends first) the harness takes no more requests: stop it.
func (e *Exec) Infer(ctx context.Context, ids [][]int64, pad int, timeout time.Duration) ([][]float32, float64, error) {
	if len(ids) == 0 {
		return nil, 0, errors.New("harness: an empty batch")
	}
	rep, err := e.send(ctx, Request{Batch: len(ids), Size: pad, InputIDs: ids}, timeout)
	if err != nil {
		return nil, 0, err
	}
	if len(rep.Outputs) == 0 {
		return nil, 0, fmt.Errorf("harness %q answered a batch of input_ids without \"outputs\": it only times shapes and cannot serve requests (profiler/exec.go describes the protocol)", e.cmdline)
	}
	if len(rep.Outputs) != len(ids) {
		return nil, 0, fmt.Errorf("harness %q answered %d output rows for %d inputs", e.cmdline, len(rep.Outputs), len(ids))
	}
	w := len(rep.Outputs[0])
	for i, row := range rep.Outputs {
		if len(row) == 0 || len(row) != w {
			return nil, 0, fmt.Errorf("harness %q: output row %d has %d values, row 0 has %d (want one width, above 0)", e.cmdline, i, len(row), w)
		}
	}
	lat := 0.0
	if rep.LatencyMs != nil {
		lat = *rep.LatencyMs
	}
	return rep.Outputs, lat, nil
}

// Broken says why the harness can take no more requests — it exited, or a reply did not come in time — or nil.
func (e *Exec) Broken() error {
	if err := e.ExitError(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stuck
}

// Exited is closed when the harness process has exited.
func (e *Exec) Exited() <-chan struct{} { return e.done }

// ExitError says how the harness exited and its last words on stderr; call it once Exited is closed.
func (e *Exec) ExitError() error {
	select {
	case <-e.done:
	default:
		return nil
	}
	status := "exit status 0"
	if e.waitErr != nil {
		status = e.waitErr.Error()
	}
	return fmt.Errorf("harness %q exited (%s); its last words: %s", e.cmdline, status, e.stderr.String())
}

// Close asks the harness to exit (closing its stdin) and stops its process group if it has not within 3 s.
func (e *Exec) Close() error {
	_ = e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
	return nil
}

// tailBuffer passes a harness's stderr through and keeps its last bytes for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
	out io.Writer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	if t.out != nil {
		_, _ = t.out.Write(p)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return "(nothing on stderr)"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
