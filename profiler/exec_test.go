package profiler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/profile"
)

// TestMain lets the test binary act as a real harness process: with INFERPLAN_TEST_HARNESS set it serves the
// built-in bert-tiny over the exec protocol on stdin/stdout (what `inferplan harness` does).
func TestMain(m *testing.M) {
	if mode := os.Getenv("INFERPLAN_TEST_HARNESS"); mode != "" {
		os.Exit(runTestHarness(mode))
	}
	os.Exit(m.Run())
}

func runTestHarness(mode string) int {
	switch mode {
	case "garbage":
		fmt.Println("loading model...") // a log line on stdout: a protocol error
		return 0
	case "crash":
		fmt.Fprintln(os.Stderr, "CUDA out of memory")
		return 3
	}
	b, err := NewBuiltin("bert-tiny", 1, 1, hw.CPU{Model: "test CPU", Cores: 1, Threads: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var t Target = b
	if mode == "timing-only" {
		t = timingOnly{b} // a harness from before the protocol served inputs
	}
	if err := ServeHarness(context.Background(), os.Stdin, os.Stdout, t); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// timingOnly hides the built-in model's Infer: a target that only times shapes.
type timingOnly struct{ b *Builtin }

func (t timingOnly) Info() Info                                        { return t.b.Info() }
func (t timingOnly) Run(ctx context.Context, n, s int) (Sample, error) { return t.b.Run(ctx, n, s) }
func (t timingOnly) Close() error                                      { return nil }

func harnessCmd(mode string) string {
	return fmt.Sprintf("INFERPLAN_TEST_HARNESS=%s %s", mode, os.Args[0])
}

func TestExecHarnessEndToEnd(t *testing.T) {
	e, err := StartExec(context.Background(), harnessCmd("builtin"), nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	info := e.Info()
	if info.Platform != profile.CPU || info.Model != "bert-tiny" || info.SizeUnit != "tokens" {
		t.Fatalf("info %+v", info)
	}
	ms, err := Measure(context.Background(), e, Grid([]int{1, 2}, []int{8, 16}), Options{MaxRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 || ms[3].Batch != 2 || ms[3].Size != 16 || !(ms[3].LatencyMs > 0) {
		t.Fatalf("measurements %+v", ms)
	}
	// the harness rejects what it cannot run, and the error reaches the caller
	if _, err := e.Run(context.Background(), 1, 100000); err == nil || !strings.Contains(err.Error(), "positions") {
		t.Fatalf("size 100000: %v", err)
	}
	// back-to-back runs from a common start
	lat, err := e.RunFor(context.Background(), 1, 8, 300*time.Millisecond, time.Now().Add(100*time.Millisecond))
	if err != nil || len(lat) < 2 {
		t.Fatalf("RunFor: %d latencies, %v", len(lat), err)
	}
}

// TestExecHarnessServesInputs sends real batches through the exec protocol: every input gets its own row of the
// model's width, and a row does not depend on the batch it was padded into (the harness masks the padding).
func TestExecHarnessServesInputs(t *testing.T) {
	e, err := StartExec(context.Background(), harnessCmd("builtin"), nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.HarnessInfo().MaxSize; got != 512 { // bert-tiny's positions (profiler/encoder)
		t.Errorf("ready line max_size %d, want 512", got)
	}
	alone, ms, err := e.Infer(context.Background(), [][]int64{{101, 7592, 102}}, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(alone) != 1 || len(alone[0]) != 128 || !(ms > 0) { // bert-tiny's hidden size
		t.Fatalf("alone: %d rows of %d, %v ms", len(alone), len(alone[0]), ms)
	}
	batch, _, err := e.Infer(context.Background(), [][]int64{{101, 2088, 2003, 2307, 999, 102}, {101, 7592, 102}}, 8, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 2 || len(batch[1]) != 128 {
		t.Fatalf("batch: %d rows", len(batch))
	}
	for j := range alone[0] {
		if d := alone[0][j] - batch[1][j]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("value %d: %v alone, %v padded to 8 in a batch", j, alone[0][j], batch[1][j])
		}
	}
	// an input longer than the batch's size is the harness's error, and the harness stays in step
	if _, _, err := e.Infer(context.Background(), [][]int64{{1, 2, 3}}, 2, time.Minute); err == nil || !strings.Contains(err.Error(), "outside 1–2") {
		t.Errorf("row above size: %v", err)
	}
	if _, err := e.Run(context.Background(), 1, 8); err != nil {
		t.Errorf("a timing request after a served one: %v", err)
	}

	old, err := StartExec(context.Background(), harnessCmd("timing-only"), nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, _, err := old.Infer(context.Background(), [][]int64{{1, 2}}, 2, time.Minute); err == nil || !strings.Contains(err.Error(), "cannot serve") {
		t.Errorf("timing-only harness: %v", err)
	}
}

// TestExecOutOfStepAfterATimeout: a reply that comes after its request timed out must not answer the next request.
func TestExecOutOfStepAfterATimeout(t *testing.T) {
	e, err := StartExec(context.Background(), harnessCmd("builtin"), nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// one input padded to 512 tokens takes milliseconds on bert-tiny, far longer than a microsecond
	if _, _, err := e.Infer(context.Background(), [][]int64{{1}}, 512, time.Microsecond); err == nil {
		t.Fatal("no timeout")
	}
	if _, err := e.Run(context.Background(), 1, 8); err == nil || !strings.Contains(err.Error(), "out of step") {
		t.Errorf("after a timeout: %v", err)
	}
	select {
	case <-e.Exited():
		t.Error("exited before Close")
	default:
	}
	e.Close()
	<-e.Exited()
	if err := e.ExitError(); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("exit error %v", err)
	}
}

func TestExecHarnessFailures(t *testing.T) {
	_, err := StartExec(context.Background(), harnessCmd("garbage"), nil, time.Minute, nil)
	if err == nil || !strings.Contains(err.Error(), "not a JSON reply") {
		t.Errorf("stdout log line: %v", err)
	}
	_, err = StartExec(context.Background(), harnessCmd("crash"), nil, time.Minute, nil)
	if err == nil || !strings.Contains(err.Error(), "CUDA out of memory") {
		t.Errorf("crash: %v", err)
	}
	_, err = StartExec(context.Background(), "sleep 5", nil, 200*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "no reply within") {
		t.Errorf("silent harness: %v", err)
	}
}

// TestSweepTimeSliceAndMPS runs a co-location sweep with real harness processes. This machine has no GPU, so MPS
// is the orchestration only: a stand-in control tool records how it is started and stopped.
func TestSweepTimeSliceAndMPS(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "calls")
	control := filepath.Join(dir, "nvidia-cuda-mps-control")
	script := fmt.Sprintf("#!/bin/sh\necho \"$* pipe=$CUDA_MPS_PIPE_DIRECTORY stdin=$(if [ \"$1\" = -d ]; then echo; else cat; fi)\" >> %s\n", record)
	if err := os.WriteFile(control, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ms, err := Sweep(context.Background(), SweepConfig{
		Command: harnessCmd("builtin"), Colocate: []int{1, 2}, Sharing: []string{"time-slice", "mps"}, MPSPct: []int{50},
		Shapes: []Point{{1, 16}}, Window: 300 * time.Millisecond, Barrier: 300 * time.Millisecond, MPSControl: control,
	})
	if err != nil {
		t.Fatal(err)
	}
	// rows: time-slice ×1 (1), ×2 (2), mps 50% ×1 (1), ×2 (2)
	if len(ms) != 6 {
		t.Fatalf("%d rows", len(ms))
	}
	p := &profile.Profile{Version: 1, Measurements: ms}
	if err := p.Validate(); err != nil {
		t.Fatalf("sweep rows do not validate: %v", err)
	}
	last := ms[5]
	if last.Sharing != "mps" || last.Colocated != 2 || last.MPSPct != 50 || last.Optional["latency_p95_ms"] < last.LatencyMs {
		t.Fatalf("last row %+v", last)
	}
	calls, _ := os.ReadFile(record)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "-d pipe=") || !strings.Contains(lines[1], "stdin=quit") ||
		strings.Fields(lines[0])[1] != strings.Fields(lines[1])[0] {
		t.Fatalf("MPS control calls:\n%s", calls)
	}
	if _, err := Sweep(context.Background(), SweepConfig{Command: harnessCmd("builtin"), Colocate: []int{1}, Sharing: []string{"mps"},
		MPSPct: []int{100}, Shapes: []Point{{1, 8}}, MPSControl: "no-such-mps-control"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing MPS control: %v", err)
	}
}

// fakeMPSControl writes a stand-in nvidia-cuda-mps-control into dir that appends each call (arguments, pipe and
// log folders, what came on stdin) to record. With -d it forks a "daemon" (a subshell, so it keeps the tool's
// command name and environment) that runs until quit arrives — or for ever, when ignoreQuit.
func fakeMPSControl(t *testing.T, dir, record string, ignoreQuit bool) string {
	t.Helper()
	quit := `[ "$line" = quit ] && touch "$CUDA_MPS_PIPE_DIRECTORY/quit"`
	if ignoreQuit {
		quit = ":"
	}
	script := fmt.Sprintf(`#!/bin/sh
if [ "$1" = -d ]; then
  echo "-d pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY" >> %[1]s
  ( while [ ! -e "$CUDA_MPS_PIPE_DIRECTORY/quit" ]; do sleep 0.02; done ) </dev/null >/dev/null 2>&1 &
  exit 0
fi
read -r line
echo "$* pipe=$CUDA_MPS_PIPE_DIRECTORY stdin=$line" >> %[1]s
%[2]s
`, record, quit)
	path := filepath.Join(dir, "nvidia-cuda-mps-control")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMPSDaemonLeavesNothingBehind starts an MPS daemon (a stand-in that forks and runs until quit) in a private
// folder, and checks Stop sends quit with the same pipe folder, waits for the daemon to go and removes the folder;
// a daemon that ignores quit is killed and reported.
func TestMPSDaemonLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "calls")
	control := fakeMPSControl(t, dir, record, false)
	d, err := StartMPSIn(control, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.PipeDir(), filepath.Join(dir, "inferplan-mps-")) {
		t.Errorf("pipe folder %s is not a private folder under %s", d.PipeDir(), dir)
	}
	if pids := d.Processes(); len(pids) != 1 {
		t.Fatalf("daemon processes %v, want the one it forked", pids)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if pids := d.Processes(); len(pids) != 0 {
		t.Errorf("processes left after Stop: %v", pids)
	}
	if _, err := os.Stat(d.PipeDir()); !os.IsNotExist(err) {
		t.Errorf("pipe folder still there: %v", err)
	}
	calls, _ := os.ReadFile(record)
	want := fmt.Sprintf("-d pipe=%[1]s log=%[2]s\n pipe=%[1]s stdin=quit\n", d.PipeDir(), filepath.Join(filepath.Dir(d.PipeDir()), "log"))
	if string(calls) != want {
		t.Errorf("control calls:\n%s\nwant\n%s", calls, want)
	}

	stubborn := t.TempDir()
	d, err = StartMPSIn(fakeMPSControl(t, stubborn, filepath.Join(stubborn, "calls"), true), stubborn, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.QuitWait = 200 * time.Millisecond
	if err := d.Stop(); err == nil || !strings.Contains(err.Error(), "still ran") {
		t.Errorf("a daemon that ignores quit: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(d.Processes()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := d.Processes(); len(pids) != 0 {
		t.Errorf("the stubborn daemon survived: %v", pids)
	}
}

// torchPython is a Python that imports torch: $INFERPLAN_PYTHON, python3 on PATH, or Debian's /usr/bin/python3
// (where apt's python3-torch installs), else "".
func torchPython() string {
	for _, py := range []string{os.Getenv("INFERPLAN_PYTHON"), "python3", "/usr/bin/python3"} {
		if py != "" && exec.Command(py, "-c", "import torch").Run() == nil {
			return py
		}
	}
	return ""
}

// TestTorchHarness runs profiler/harness/torch_encoder.py for real where PyTorch is installed (the GPU machines;
// on a CPU, apt-get install python3-torch): timings, then real inputs served with the padding masked. Elsewhere it
// says why it is skipped.
func TestTorchHarness(t *testing.T) {
	py := torchPython()
	if py == "" {
		t.Skip("PyTorch is not installed here (import torch failed in $INFERPLAN_PYTHON, python3 and /usr/bin/python3); the harness runs on GPU machines")
	}
	e, err := StartExec(context.Background(), py+" harness/torch_encoder.py --model bert-tiny --dtype float32", nil, 5*time.Minute, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ms, err := Measure(context.Background(), e, Grid([]int{1, 4}, []int{16, 64}), Options{MaxRuns: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("torch harness on %s: %+v", e.Info().Hardware, ms)
	if got := e.HarnessInfo().MaxSize; got != 512 {
		t.Errorf("ready line max_size %d, want 512", got)
	}
	alone, _, err := e.Infer(context.Background(), [][]int64{{101, 7592, 102}}, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	batch, _, err := e.Infer(context.Background(), [][]int64{{101, 2088, 2003, 2307, 999, 102}, {101, 7592, 102}}, 6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(alone[0]) != 128 || len(batch) != 2 || len(batch[1]) != 128 { // bert-tiny's hidden size
		t.Fatalf("widths %d and %d×%d", len(alone[0]), len(batch), len(batch[1]))
	}
	for j := range alone[0] {
		if d := alone[0][j] - batch[1][j]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("value %d: %v alone, %v padded in a batch: the padding is not masked", j, alone[0][j], batch[1][j])
		}
	}
}
