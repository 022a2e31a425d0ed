package workerhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
)

// gpuPlan is one instance with four ways of running on GPUs: GPU 0 split 70/30 by MPS between two services, GPU 1
// into two MIG slices, GPU 2 time-sliced, and a CPU worker.
func gpuPlan() *plan.Plan {
	w := func(svc string) plan.Worker {
		return plan.Worker{Service: svc, MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 5, Hardware: "nvidia-a100-sxm4-40gb", SMShare: 1}
	}
	mps := func(svc string, pct int) plan.Worker {
		x := w(svc)
		x.SMShare, x.MPSActiveThreadPct = float64(pct)/100, pct
		return x
	}
	mig := func(svc string) plan.Worker {
		x := w(svc)
		x.SMShare, x.MIGProfile = 3.0/7, "3g.20gb"
		return x
	}
	cpu := w("embed")
	cpu.SMShare, cpu.Hardware, cpu.VCPUs, cpu.Threads = 0, "x86_64-host-16core", 4, 2
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformCluster, Cluster: &plan.Cluster{
		Services: []plan.Service{{Name: "embed", Model: "bert-base", SLO: plan.SLO{Percentile: 99, LatencyMs: 100}},
			{Name: "rerank", Model: "bert-large", SLO: plan.SLO{Percentile: 99, LatencyMs: 300}}},
		Pools: []plan.Pool{{InstanceType: "p4d.24xlarge", Count: 1, USDPerHour: 32.77, VCPUs: 96, GPU: "a100",
			GPUs: []plan.GPU{
				{Index: 0, Sharing: plan.SharingMPS, Workers: []plan.Worker{mps("embed", 70), mps("rerank", 30)}},
				{Index: 1, Sharing: plan.SharingMIG, Workers: []plan.Worker{mig("embed"), mig("rerank")}},
				{Index: 2, Sharing: plan.SharingTimeSlice, Workers: []plan.Worker{w("embed"), w("rerank")}},
			},
			CPUWorkers: []plan.Worker{cpu}}},
	}}
}

// fakeTools puts stand-ins for nvidia-cuda-mps-control and nvidia-smi first on PATH. The MPS tool records each call
// (arguments, pipe and log folders, stdin) in the first file returned and, with -d, forks a "daemon" that runs
// until quit arrives; nvidia-smi records its arguments in the second and, with -L, prints smiList.
func fakeTools(t *testing.T, smiList string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	record, smiRecord := filepath.Join(dir, "mps-calls"), filepath.Join(dir, "smi-calls")
	mps := fmt.Sprintf(`#!/bin/sh
if [ "$1" = -d ]; then
  echo "-d pipe=$CUDA_MPS_PIPE_DIRECTORY log=$CUDA_MPS_LOG_DIRECTORY" >> %[1]s
  ( while [ ! -e "$CUDA_MPS_PIPE_DIRECTORY/quit" ]; do sleep 0.02; done ) </dev/null >/dev/null 2>&1 &
  exit 0
fi
read -r line
echo "$* pipe=$CUDA_MPS_PIPE_DIRECTORY stdin=$line" >> %[1]s
[ "$line" = quit ] && touch "$CUDA_MPS_PIPE_DIRECTORY/quit"
exit 0
`, record)
	smi := "#!/bin/sh\necho \"$*\" >> " + smiRecord + "\n[ \"$1\" = -L ] || exit 9\ncat <<'EOF'\n" + smiList + "EOF\n"
	for name, script := range map[string]string{"nvidia-cuda-mps-control": mps, "nvidia-smi": smi} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return record, smiRecord
}

const a100s = `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0c8f1d2a-0000-0000-0000-000000000000)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-1c8f1d2a-0000-0000-0000-000000000000)
  MIG 3g.20gb     Device  0: (UUID: MIG-5f1b2e3c-aaaa-5de3-91c7-45d71c87eb3f)
  MIG 3g.20gb     Device  1: (UUID: MIG-6a2c3f4d-bbbb-5b7e-b2bd-b2e0ac2f5b6b)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-2c8f1d2a-0000-0000-0000-000000000000)
GPU 3: NVIDIA A100-SXM4-40GB (UUID: GPU-3c8f1d2a-0000-0000-0000-000000000000)
`

// shortDir is a folder with a short path: the MPS pipe folder holds Unix sockets.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "ipw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestWorkersOnAGPUHostWithStandIns runs the GPU plan's host with a harness on a machine that has stand-ins for the
// NVIDIA tools: the MPS daemon starts in a private pipe folder, each harness gets its GPU's environment (MPS workers
// the daemon's folders and their thread percentage, MIG workers their device, the others neither, whatever this process
// inherited), and the stop sends quit with the same folder and leaves no daemon and no folder behind.
func TestWorkersOnAGPUHostWithStandIns(t *testing.T) {
	record, _ := fakeTools(t, a100s)
	t.Setenv("CUDA_MPS_PIPE_DIRECTORY", "/var/run/someone-elses-mps") // must not leak to the workers
	envDir := t.TempDir()
	t.Setenv("INFERPLAN_TEST_ENV_DIR", envDir)
	var logs logBuffer
	cfg := testConfig(gpuPlan(), "p0-0", &logs)
	cfg.Harness, cfg.MPSDir = standInCmd("echo"), shortDir(t)
	cfg.Tools.GPUs = func() (int, string) { return 4, "" }
	h := startHost(t, cfg)

	var ids []string
	for _, mw := range h.Mapping().Workers {
		ids = append(ids, mw.ID)
	}
	if want := []string{"p0-0/gpu0/w0", "p0-0/gpu0/w1", "p0-0/gpu1/w0", "p0-0/gpu1/w1", "p0-0/gpu2/w0", "p0-0/gpu2/w1", "p0-0/cpu/w0"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("workers %v, want %v", ids, want)
	}
	calls, _ := os.ReadFile(record)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "-d pipe="+cfg.MPSDir+"/inferplan-mps-") {
		t.Fatalf("MPS control calls after start:\n%s", calls)
	}
	pipe := strings.Fields(strings.TrimPrefix(lines[0], "-d pipe="))[0]
	logDir := filepath.Join(filepath.Dir(pipe), "log")
	if _, err := os.Stat(pipe); err != nil {
		t.Fatalf("pipe folder: %v", err)
	}

	common := func(id, svc, model string) []string {
		return []string{"INFERPLAN_BATCH_SIZE=8", "INFERPLAN_MODEL=" + model, "INFERPLAN_SERVICE=" + svc, "INFERPLAN_WORKER_ID=" + id}
	}
	gpuEnv := func(id, svc, model, visible string, extra ...string) []string {
		env := append([]string{"CUDA_DEVICE_ORDER=PCI_BUS_ID"}, extra...)
		env = append(env, "CUDA_VISIBLE_DEVICES="+visible)
		return append(env, common(id, svc, model)...)
	}
	mpsEnv := func(pct string) []string {
		return []string{"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=" + pct, "CUDA_MPS_LOG_DIRECTORY=" + logDir, "CUDA_MPS_PIPE_DIRECTORY=" + pipe}
	}
	want := map[string][]string{
		"p0-0/gpu0/w0": gpuEnv("p0-0/gpu0/w0", "embed", "bert-base", "0", mpsEnv("70")...),
		"p0-0/gpu0/w1": gpuEnv("p0-0/gpu0/w1", "rerank", "bert-large", "0", mpsEnv("30")...),
		"p0-0/gpu1/w0": gpuEnv("p0-0/gpu1/w0", "embed", "bert-base", "MIG-5f1b2e3c-aaaa-5de3-91c7-45d71c87eb3f"),
		"p0-0/gpu1/w1": gpuEnv("p0-0/gpu1/w1", "rerank", "bert-large", "MIG-6a2c3f4d-bbbb-5b7e-b2bd-b2e0ac2f5b6b"),
		"p0-0/gpu2/w0": gpuEnv("p0-0/gpu2/w0", "embed", "bert-base", "2"),
		"p0-0/gpu2/w1": gpuEnv("p0-0/gpu2/w1", "rerank", "bert-large", "2"),
		"p0-0/cpu/w0":  append([]string{"CUDA_VISIBLE_DEVICES="}, append(common("p0-0/cpu/w0", "embed", "bert-base"), "OMP_NUM_THREADS=2")...),
	}
	for id, env := range want {
		data, err := os.ReadFile(filepath.Join(envDir, strings.ReplaceAll(id, "/", "_")+".env"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(strings.TrimSpace(string(data)), "\n"); !reflect.DeepEqual(got, env) {
			t.Errorf("%s's harness environment:\n  %s\nwant\n  %s", id, strings.Join(got, "\n  "), strings.Join(env, "\n  "))
		}
	}
	// the workers serve through the v2 front as on a CPU
	up, err := dispatch.NewUpstream(h.Mapping().Workers[1].URL, "rerank", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := up.Infer(context.Background(), batch([]int64{4, 5, 6}, []int64{7}))
	if err != nil || !reflect.DeepEqual(rows, [][]float32{{3, 15, 4}, {1, 7, 7}}) {
		t.Fatalf("rows %v, %v", rows, err)
	}

	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls, _ = os.ReadFile(record)
	if got := strings.Split(strings.TrimSpace(string(calls)), "\n"); len(got) != 2 || got[1] != " pipe="+pipe+" stdin=quit" {
		t.Errorf("MPS control calls after stop:\n%s\nwant quit with pipe=%s", calls, pipe)
	}
	if _, err := os.Stat(filepath.Dir(pipe)); !os.IsNotExist(err) {
		t.Errorf("the daemon's folder is still there: %v", err)
	}
	if !strings.Contains(logs.String(), "MPS control daemon quit") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestWorkersWithoutTheirMIGSlices: without the MIG devices the plan needs, nothing starts, and the error says what an
// operator would run.
func TestWorkersWithoutTheirMIGSlices(t *testing.T) {
	record, _ := fakeTools(t, `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-1)
  MIG 3g.20gb     Device  0: (UUID: MIG-5f1b2e3c-aaaa-5de3-91c7-45d71c87eb3f)
  MIG 1g.5gb      Device  1: (UUID: MIG-77777777-bbbb-5b7e-b2bd-b2e0ac2f5b6b)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-2)
`)
	envDir := t.TempDir()
	t.Setenv("INFERPLAN_TEST_ENV_DIR", envDir)
	var logs logBuffer
	cfg := testConfig(gpuPlan(), "p0-0", &logs)
	cfg.Harness, cfg.MPSDir = standInCmd("echo"), shortDir(t)
	cfg.Tools.GPUs = func() (int, string) { return 3, "" }
	_, err := Start(context.Background(), cfg)
	if err == nil {
		t.Fatal("started without the MIG slices")
	}
	for _, phrase := range []string{"never creates MIG instances", "GPU 1 lacks 3g.20gb (its MIG devices: 3g.20gb, 1g.5gb)",
		"nvidia-smi mig -i 1 -cgi 3g.20gb -C"} {
		if !strings.Contains(err.Error(), phrase) {
			t.Errorf("error lacks %q:\n%v", phrase, err)
		}
	}
	if strings.Contains(err.Error(), "-mig 1") {
		t.Errorf("MIG mode is on already (GPU 1 has MIG devices), yet the error says to turn it on:\n%v", err)
	}
	if calls, _ := os.ReadFile(record); len(calls) > 0 {
		t.Errorf("the MPS daemon was started: %s", calls)
	}
	if files, _ := os.ReadDir(envDir); len(files) > 0 {
		t.Errorf("%d harnesses were started", len(files))
	}
	// a MIG worker alone (--only) gets the first device of its profile, as it would beside the others, and the
	// device its neighbour lacks is not its problem
	cfg.Only = []string{"gpu1/w0"}
	h := startHost(t, cfg)
	if w := h.Workers()[0]; w.MIGDevice != "MIG-5f1b2e3c-aaaa-5de3-91c7-45d71c87eb3f" {
		t.Errorf("gpu1/w0 got %q", w.MIGDevice)
	}
}

// TestWorkersWithoutMPSControl: an MPS split with a harness needs the MPS control tool.
func TestWorkersWithoutMPSControl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var logs logBuffer
	cfg := testConfig(gpuPlan(), "p0-0", &logs)
	cfg.Harness, cfg.Only = "sh", []string{"gpu0/w0", "gpu0/w1"}
	cfg.Tools.GPUs = func() (int, string) { return 1, "" }
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "nvidia-cuda-mps-control not found on PATH") {
		t.Errorf("err = %v", err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("x", 40))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.MPSDir = long
	_, err := Start(context.Background(), cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Flag != "mps-pipe-dir" || !strings.Contains(err.Error(), "Unix sockets") {
		t.Errorf("a long MPS folder: %v", err)
	}
}

// TestWorkersOfAGPUPlanOnACPUMachine: without a GPU and without a harness, a GPU host's workers run on the CPU with the
// built-in model, and it says so; no MPS daemon, no MIG lookup.
func TestWorkersOfAGPUPlanOnACPUMachine(t *testing.T) {
	record, _ := fakeTools(t, "")
	var logs logBuffer
	cfg := testConfig(gpuPlan(), "p0-0", &logs)
	h := startHost(t, cfg)
	if n := len(h.Mapping().Workers); n != 7 {
		t.Fatalf("%d workers", n)
	}
	if !strings.Contains(logs.String(), "no NVIDIA GPU here (a test machine) and no --harness: the 6 GPU worker(s) of host p0-0 run on this machine's CPU with the built-in bert-tiny") {
		t.Errorf("no warning:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `placement="CPU, standing in for GPU 0 (mps)"`) {
		t.Errorf("placement not logged:\n%s", logs.String())
	}
	up, err := dispatch.NewUpstream(h.Mapping().Workers[2].URL, "embed", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := up.Infer(context.Background(), batch([]int64{1, 2})); err != nil || len(rows[0]) != 128 {
		t.Fatalf("%v %v", len(rows), err)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls, _ := os.ReadFile(record); len(calls) > 0 {
		t.Errorf("MPS control called: %s", calls)
	}
}

func TestWorkersMIGDevicesFromNvidiaSMI(t *testing.T) {
	got := parseSMIList(a100s + "  MIG 1g.5gb Device 2: (UUID: MIG-GPU-1c8f1d2a-0000-0000-0000-000000000000/7/0)\n")
	want := []migDevice{{1, "3g.20gb", "MIG-5f1b2e3c-aaaa-5de3-91c7-45d71c87eb3f"}, {1, "3g.20gb", "MIG-6a2c3f4d-bbbb-5b7e-b2bd-b2e0ac2f5b6b"},
		{3, "1g.5gb", "MIG-GPU-1c8f1d2a-0000-0000-0000-000000000000/7/0"}} // the older driver's form, under the GPU above it
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if !migMatches("3g", "3g.40gb") || migMatches("3g", "1g.5gb") || !migMatches("3g.40GB", "3g.40gb") || migMatches("3g.20gb", "3g.40gb") {
		t.Error("profile matching")
	}
	ws := []fleet.Worker{{ID: "p0-0/gpu0/w0", GPU: 0, Sharing: plan.SharingMIG, Worker: plan.Worker{MIGProfile: "2g"}}}
	_, err := assignMIG("p0-0", ws, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "nvidia-smi -i 0 -mig 1") || !strings.Contains(err.Error(), "-lgip") {
		t.Errorf("no MIG devices at all: %v", err)
	}
}

func TestWorkersHarnessLogLinesStayWhole(t *testing.T) {
	var logs logBuffer
	var mu sync.Mutex
	a := &prefixWriter{mu: &mu, out: &logs, prefix: []byte("[a] ")}
	b := &prefixWriter{mu: &mu, out: &logs, prefix: []byte("[b] ")}
	a.Write([]byte("one "))
	b.Write([]byte("two\nthr"))
	a.Write([]byte("line\n"))
	b.Flush()
	if got := logs.String(); got != "[b] two\n[a] one line\n[b] thr\n" {
		t.Errorf("got %q", got)
	}
}

// TestWorkersInAnExternalGPUEnvironment: in a Kubernetes pod the NVIDIA device plugin gives each worker's container
// its GPU share and runs the MPS daemon, so workers starts no daemon, looks up no MIG device, sets no
// CUDA_VISIBLE_DEVICES and keeps the MPS settings the pod has; an MPS worker gets the plan's thread percentage
// only when the pod sets none; and --only may start one worker of an MPS-split GPU.
func TestWorkersInAnExternalGPUEnvironment(t *testing.T) {
	record, smiRecord := fakeTools(t, a100s)
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
	t.Setenv("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps")
	envDir := t.TempDir()
	t.Setenv("INFERPLAN_TEST_ENV_DIR", envDir)
	var logs logBuffer
	cfg := testConfig(gpuPlan(), "p0-0", &logs)
	cfg.GPUEnv, cfg.Harness, cfg.Only = GPUEnvAuto, standInCmd("echo"), []string{"gpu0/w1", "gpu1/w0"}
	cfg.Tools.GPUs = func() (int, string) { return 1, "" } // the container sees only its own GPU
	h := startHost(t, cfg)
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"p0-0/gpu0/w1": {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=30", "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps", "INFERPLAN_BATCH_SIZE=8",
			"INFERPLAN_MODEL=bert-large", "INFERPLAN_SERVICE=rerank", "INFERPLAN_WORKER_ID=p0-0/gpu0/w1"},
		"p0-0/gpu1/w0": {"CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps", "INFERPLAN_BATCH_SIZE=8", "INFERPLAN_MODEL=bert-base",
			"INFERPLAN_SERVICE=embed", "INFERPLAN_WORKER_ID=p0-0/gpu1/w0"},
	}
	for id, env := range want {
		data, err := os.ReadFile(filepath.Join(envDir, strings.ReplaceAll(id, "/", "_")+".env"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(strings.TrimSpace(string(data)), "\n"); !reflect.DeepEqual(got, env) {
			t.Errorf("%s's harness environment:\n  %s\nwant\n  %s", id, strings.Join(got, "\n  "), strings.Join(env, "\n  "))
		}
	}
	for _, rec := range []string{record, smiRecord} {
		if calls, _ := os.ReadFile(rec); len(calls) > 0 {
			t.Errorf("%s called: %s", filepath.Base(rec), calls)
		}
	}
	if !strings.Contains(logs.String(), `GPU environment: external`) || !strings.Contains(logs.String(), "a Kubernetes pod") {
		t.Errorf("log:\n%s", logs.String())
	}

	// a pod that sets the percentage keeps it (the device plugin's cap; the variable can only lower it)
	t.Setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "50")
	cfg.Only = []string{"gpu0/w1"}
	h = startHost(t, cfg)
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(envDir, "p0-0_gpu0_w1.env")); !strings.Contains(string(data), "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50\n") {
		t.Errorf("environment:\n%s", data)
	}
}

func TestWorkersResolveGPUEnv(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, tc := range []struct {
		setting, nvidia string
		external        bool
	}{
		{GPUEnvAuto, "", false}, {GPUEnvAuto, "all", false}, {GPUEnvAuto, "GPU-0c8f1d2a", true}, {GPUEnvAuto, "1", true},
		{GPUEnvPlan, "1", false}, {GPUEnvExternal, "", true},
	} {
		t.Setenv("NVIDIA_VISIBLE_DEVICES", tc.nvidia)
		if got, why := ResolveGPUEnv(tc.setting); got != tc.external {
			t.Errorf("%s with NVIDIA_VISIBLE_DEVICES=%q: external %v (%s)", tc.setting, tc.nvidia, got, why)
		}
	}
	t.Setenv("NVIDIA_VISIBLE_DEVICES", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
	if got, _ := ResolveGPUEnv(GPUEnvAuto); !got {
		t.Error("a Kubernetes pod is not external")
	}
}
