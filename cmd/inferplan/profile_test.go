package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/profiler/hw"
	"github.com/inferplan/inferplan/profiler/profile"
)

// TestMain lets the test binary be the inferplan CLI in a child process (INFERPLAN_TEST_MAIN=1), so exec targets
// can start `inferplan harness` for real.
func TestMain(m *testing.M) {
	if os.Getenv("INFERPLAN_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], systemIO()))
	}
	// outputs must not depend on prices someone fetched on this machine: an empty cache of the tests' own
	cache, err := os.MkdirTemp("", "inferplan-cache-")
	if err != nil {
		panic(err)
	}
	os.Setenv("INFERPLAN_CACHE_DIR", cache)
	os.Unsetenv("INFERPLAN_AUTH_TOKEN") // gateways the tests start must not inherit a token from the shell
	if sharedDir, err = os.MkdirTemp("", "inferplan-shared-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(cache)
	os.RemoveAll(sharedDir)
	os.Exit(code)
}

func selfCmd(args string) string {
	return fmt.Sprintf("INFERPLAN_TEST_MAIN=1 %s %s", os.Args[0], args)
}

func TestProfileBuiltinThenPlan(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.json")
	r := run(t, "profile", "--target", "builtin", "--model", "bert-tiny", "--threads", "1,2", "--batches", "1,2", "--sizes", "8,16", "--max-runs", "3", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p, err := profile.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Measurements) != 8 || p.Model != "bert-tiny" || p.SizeUnit != "tokens" || p.Measurements[7].VCPUs != 2 {
		t.Fatalf("profile %+v", p.Measurements)
	}
	if !strings.Contains(r.stdout, "cpu ") || !strings.Contains(r.stderr, "wrote ") {
		t.Fatalf("summary:\n%s\n%s", r.stdout, r.stderr)
	}
	tr := writeFile(t, dir, "t.csv", "timestamp,size\n0,8\n0.01,16\n0.02,8\n0.5,16\n1,12\n")
	r = run(t, "plan", "--profile", out, "--trace", tr, "--slo-ms", "2000", "--refine", "0")
	if r.code != 0 {
		t.Fatalf("plan from the measured profile: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "emulated from its CPU measurements") || !strings.Contains(r.stdout, "3538 MB") {
		t.Fatalf("no emulation warning:\n%s", r.stdout)
	}
}

func TestProfileExecHarnessAndSweep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "p.json")
	r := run(t, "profile", "--target", "exec:"+selfCmd("harness --model bert-tiny"), "--batches", "1,2", "--sizes", "8",
		"--max-runs", "3", "--colocate", "1,2", "--window", "300ms", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p, err := profile.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// 2 grid points, then time-slice sweeps: 1 worker × 2 shapes + 2 workers × 2 shapes
	var sweeps int
	for _, m := range p.Measurements {
		if m.Sharing == "time-slice" {
			sweeps++
			if _, ok := m.Extra["batches_per_s"]; !ok {
				t.Errorf("sweep row without batches_per_s: %+v", m)
			}
		}
	}
	if len(p.Measurements) != 8 || sweeps != 6 {
		t.Fatalf("%d measurements, %d sweep rows", len(p.Measurements), sweeps)
	}
}

func TestProfileUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		words string
	}{
		{[]string{"profile", "--batches", "1,0", "-o", "x.json"}, "--batches"},
		{[]string{"profile", "--sizes", "a", "-o", "x.json"}, "--sizes"},
		{[]string{"profile"}, "-o is required"},
		{[]string{"profile", "--target", "ftp://x", "-o", "x.json"}, "--target"},
		{[]string{"profile", "--model", "gpt-5", "-o", "x.json"}, `"--model" flag: want bert-mini, bert-tiny or distilbert-like`},
		{[]string{"profile", "--target", "lambda:", "-o", "x.json"}, "function name"},
		// checked before anything is measured (it used to measure the built-in model for 36 s first)
		{[]string{"profile", "--colocate", "2", "-o", "x.json"}, "exec harness"},
		{[]string{"profile", "--sharing", "mig", "-o", "x.json"}, "want time-slice or mps"},
		{[]string{"profile", "--device", "tpu", "-o", "x.json"}, "want cpu or gpu"},
		{[]string{"profile", "--target", "exec:./h", "--colocate", "2", "--mps-pct", "150", "-o", "x.json"}, "--mps-pct 150"},
		{[]string{"profile", "--target", "lambda:f", "--memory", "100000", "-o", "x.json"}, "outside Lambda's memory range"},
		{[]string{"profile", "--max-runs", "2", "--min-runs", "3", "-o", "x.json"}, "--max-runs"},
		{[]string{"profile", "--tolerance", "0", "-o", "x.json"}, "--tolerance"},
		{[]string{"profile", "-o", "/no/such/folder/x.json"}, "-o: write /no/such/folder/x.json"},
	} {
		r := run(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.words) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
	}
}

type fakeGPUs struct{ gpus []hw.GPU }

func (f fakeGPUs) List() ([]hw.GPU, error)          { return f.gpus, nil }
func (f fakeGPUs) Sample(int) (hw.Telemetry, error) { return hw.Telemetry{}, nil }
func (f fakeGPUs) Driver() string                   { return "driver 580.159, CUDA 13.0" }
func (f fakeGPUs) Close() error                     { return nil }

func TestHardware(t *testing.T) {
	defer func(s func() (hw.GPUs, error)) { gpuSource = s }(gpuSource)
	gpuSource = func() (hw.GPUs, error) {
		return fakeGPUs{gpus: []hw.GPU{{Index: 0, Name: "NVIDIA H100 80GB HBM3", MemoryMiB: 81559, CUDACores: 16896, ComputeCapability: "9.0",
			MaxSMClockMHz: 1980, MaxMemClockMHz: 2619, PowerLimitW: 700, MIGMode: "disabled", ComputeMode: "default",
			Processes: []hw.Process{{PID: 4242, Name: "python3", UsedMiB: 3072}}}}}, nil
	}
	r := run(t, "hardware")
	for _, w := range []string{"NVIDIA H100 80GB HBM3", "81,559 MiB", "16,896", "9.0", "700 W", "4242 python3 (3072 MiB)", "CUDA 13.0"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("hardware output lacks %q:\n%s", w, r.stdout)
		}
	}
	r = run(t, "hardware", "--format", "json")
	var rep hw.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.GPUs) != 1 || rep.CPU.Threads < 1 {
		t.Fatalf("json: %v %+v", err, rep)
	}
	gpuSource = func() (hw.GPUs, error) {
		return nil, fmt.Errorf("%w: NVML: libnvidia-ml.so.1 not found (no NVIDIA driver)", hw.ErrNoGPU)
	}
	r = run(t, "hardware")
	if r.code != 0 || !strings.Contains(r.stdout, "no NVIDIA GPU (NVML: libnvidia-ml.so.1 not found") {
		t.Fatalf("no GPU: exit %d\n%s", r.code, r.stdout)
	}
	if r = run(t, "hardware", "--require-gpu"); r.code != 1 || !strings.Contains(r.stderr, "--require-gpu") {
		t.Fatalf("--require-gpu: exit %d %s", r.code, r.stderr)
	}
}

func TestHarnessCommand(t *testing.T) {
	var out, errOut strings.Builder
	io := &ioStreams{In: strings.NewReader("{\"batch\": 2, \"size\": 8}\n{\"batch\": 0, \"size\": 8}\n"), Out: &out, ErrOut: &errOut, Now: fixedNow}
	if code := Main([]string{"harness", "--model", "bert-tiny"}, io); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"ready":true`) || !strings.Contains(lines[1], `"latency_ms"`) || !strings.Contains(lines[2], `"error"`) {
		t.Fatalf("harness output:\n%s", out.String())
	}
}
