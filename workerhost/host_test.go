package workerhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler"
	"github.com/inferplan/inferplan/profiler/hw"
)

// TestMain lets the test binary stand in for a harness process (INFERPLAN_TEST_HARNESS=mode):
//
//	echo         answers each batch of input_ids with rows [tokens, sum of ids, first id] (width 3), and writes its
//	             environment to $INFERPLAN_TEST_ENV_DIR/<worker id>.env
//	slow         echo, taking $INFERPLAN_TEST_SLOW_MS per batch
//	die          echo for the warm-up batch, then exits 3 at the next one, with a CUDA error on stderr
//	timing-only  a harness from before the protocol served inputs: latency_ms only
//	builtin      the built-in bert-tiny through profiler.ServeHarness (what `inferplan harness` runs)
func TestMain(m *testing.M) {
	if mode := os.Getenv("INFERPLAN_TEST_HARNESS"); mode != "" {
		os.Exit(standIn(mode))
	}
	os.Exit(m.Run())
}

func standIn(mode string) int {
	if dir := os.Getenv("INFERPLAN_TEST_ENV_DIR"); dir != "" {
		var keep []string
		for _, kv := range os.Environ() {
			// what workers sets for a harness (the rest is the caller's environment, passed through as it is)
			name, _, _ := strings.Cut(kv, "=")
			set := slices.Contains([]string{"INFERPLAN_BATCH_SIZE", "INFERPLAN_MODEL", "INFERPLAN_SERVICE", "INFERPLAN_WORKER_ID"}, name)
			if strings.HasPrefix(kv, "CUDA_") || set || strings.HasPrefix(kv, "OMP_") {
				keep = append(keep, kv)
			}
		}
		slices.Sort(keep)
		name := strings.ReplaceAll(os.Getenv("INFERPLAN_WORKER_ID"), "/", "_") + ".env"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if mode == "builtin" {
		b, err := profiler.NewBuiltin("bert-tiny", 1, 1, hw.CPU{Model: "test CPU", Cores: 1, Threads: 1})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := profiler.ServeHarness(context.Background(), os.Stdin, os.Stdout, b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	var slow time.Duration
	if mode == "slow" {
		var ms int
		fmt.Sscan(os.Getenv("INFERPLAN_TEST_SLOW_MS"), &ms)
		slow = time.Duration(ms) * time.Millisecond
	}
	enc := json.NewEncoder(os.Stdout)
	fmt.Fprintln(os.Stderr, "stand-in harness loading")
	_ = enc.Encode(map[string]any{"ready": true, "info": map[string]any{"platform": "cpu", "hardware": "stand-in", "model": "echo", "max_size": 64}})
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	served := 0
	for sc.Scan() {
		var req profiler.Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			_ = enc.Encode(map[string]any{"error": err.Error()})
			continue
		}
		lat := 0.5
		if req.InputIDs == nil || mode == "timing-only" {
			_ = enc.Encode(map[string]any{"latency_ms": lat})
			continue
		}
		served++
		if mode == "die" && served > 1 {
			fmt.Fprintln(os.Stderr, "CUDA error: an illegal memory access was encountered")
			return 3
		}
		time.Sleep(slow)
		out := make([][]float32, len(req.InputIDs))
		for i, row := range req.InputIDs {
			sum := int64(0)
			for _, v := range row {
				sum += v
			}
			out[i] = []float32{float32(len(row)), float32(sum), float32(row[0])}
		}
		_ = enc.Encode(map[string]any{"latency_ms": lat, "outputs": out})
	}
	return 0
}

func standInCmd(mode string) string {
	return fmt.Sprintf("INFERPLAN_TEST_HARNESS=%s exec %s", mode, os.Args[0])
}

func readPlan(t *testing.T, path string) *plan.Plan {
	t.Helper()
	p, err := plan.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a logger whose text a test can read while workers write to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testConfig(p *plan.Plan, host string, logs *logBuffer) Config {
	return Config{Plan: p, PlanPath: "plan.json", Host: host, GPUEnv: GPUEnvPlan, Logger: slog.New(slog.NewTextHandler(logs, nil)), Stderr: logs,
		Tools: Tools{GPUs: func() (int, string) { return 0, "a test machine" }}}
}

func startHost(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(context.Background()) })
	return h
}

func batch(rows ...[]int64) *dispatch.Batch {
	pad := 0
	for _, r := range rows {
		pad = max(pad, len(r))
	}
	return &dispatch.Batch{Inputs: rows, PadTo: pad}
}

// TestWorkersOnACPUHostServeThroughUpstream runs both hosts of a two-service CPU plan with the built-in model, and
// sends batches through dispatch.Upstream — what `serve` sends — to every worker: each answers one row per input, of
// the model's width, the same row whatever the batch it was padded into. The mappings cover the plan, and the hosts
// drain and stop cleanly.
func TestWorkersOnACPUHostServeThroughUpstream(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	var maps []*fleet.Mapping
	var hosts []*Host
	for _, host := range []string{"p0-0", "p0-1"} {
		h := startHost(t, testConfig(p, host, &logs))
		hosts = append(hosts, h)
		maps = append(maps, h.Mapping())
	}
	m := maps[0]
	if m.Host != "p0-0" || m.Plan != "plan.json" || len(m.Workers) != 3 {
		t.Fatalf("mapping %+v", m)
	}
	for i, want := range []fleet.MappedWorker{{ID: "p0-0/cpu/w0", Service: "code-search"}, {ID: "p0-0/cpu/w1", Service: "chat-embed"}, {ID: "p0-0/cpu/w2", Service: "chat-embed"}} {
		if got := m.Workers[i]; got.ID != want.ID || got.Service != want.Service || !strings.HasPrefix(got.URL, "http://127.0.0.1:") {
			t.Errorf("worker %d: %+v, want %+v on loopback", i, got, want)
		}
	}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.ParseMapping(data, "workers.json"); err != nil {
		t.Fatalf("the mapping does not read back: %v\n%s", err, data)
	}
	f, err := fleet.Expand(p)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := f.URLs(maps...)
	if err != nil || len(urls) != 6 {
		t.Fatalf("fleet.URLs: %v, %v", urls, err)
	}
	if _, err := f.URLs(maps[0]); err == nil {
		t.Error("one host's mapping covered a two-host plan")
	}

	for _, mw := range m.Workers {
		up, err := dispatch.NewUpstream(mw.URL, mw.Service, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Check(p); err != nil {
			t.Fatalf("%s: %v", mw.ID, err)
		}
		alone, err := up.Infer(context.Background(), batch([]int64{101, 7592, 102}))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := up.Infer(context.Background(), batch([]int64{101, 2088, 2003, 2307, 999, 102}, []int64{101, 7592, 102}))
		if err != nil {
			t.Fatal(err)
		}
		if len(alone) != 1 || len(alone[0]) != 128 || len(rows) != 2 || len(rows[1]) != 128 { // bert-tiny's hidden size
			t.Fatalf("%s: rows %d×%d and %d×%d", mw.ID, len(alone), len(alone[0]), len(rows), len(rows[1]))
		}
		for j := range alone[0] {
			if d := alone[0][j] - rows[1][j]; d > 1e-4 || d < -1e-4 {
				t.Fatalf("%s value %d: %v alone, %v padded into a batch", mw.ID, j, alone[0][j], rows[1][j])
			}
		}
	}
	// the plan's model name for a service is accepted too; other names are not
	for _, tc := range []struct {
		name string
		code int
	}{{"chat-embed", 200}, {"bert-base", 200}, {"code-search", 404}} {
		resp, err := http.Get(m.Workers[1].URL + "/v2/models/" + tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("metadata of %s: %d, want %d: %v", tc.name, resp.StatusCode, tc.code, meta)
		}
		if tc.code == 200 && fmt.Sprint(meta["outputs"]) != "[map[datatype:FP32 name:output shape:[-1 128]]]" {
			t.Errorf("metadata outputs %v", meta["outputs"])
		}
	}
	for _, h := range hosts {
		if err := h.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	if _, err := http.Get(m.Workers[0].URL + "/v2/health/live"); err == nil {
		t.Error("a stopped worker still answers")
	}
	if !strings.Contains(logs.String(), `msg="worker stopped" worker=p0-0/cpu/w1 batches=2 requests=3`) {
		t.Errorf("logs lack the stopped worker's counts:\n%s", logs.String())
	}
}

func post(url, body string) (int, string) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWorkersInferRequests checks the v2 requests a worker takes and refuses, through a stand-in harness whose rows
// show what it was given: [real tokens, sum of ids, first id].
func TestWorkersInferRequests(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	cfg := testConfig(p, "p0-0", &logs)
	cfg.Harness, cfg.Only = standInCmd("echo"), []string{"cpu/w0"}
	h := startHost(t, cfg)
	url := h.Mapping().Workers[0].URL + "/v2/models/code-search/infer"
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"id": "b1", "inputs": [{"name": "input_ids", "shape": [2, 3], "datatype": "INT64", "data": [5, 6, 0, 7, 8, 9]},
		   {"name": "attention_mask", "shape": [2, 3], "datatype": "INT64", "data": [1, 1, 0, 1, 1, 1]}]}`, 200,
			`"id":"b1","model_name":"code-search","model_version":"1","outputs":[{"name":"output","shape":[2,3],"datatype":"FP32","data":[2,11,5,3,24,7]}]`},
		{`{"inputs": [{"name": "input_ids", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}]}`, 200, `"shape":[1,3],"datatype":"FP32","data":[3,6,1]`},
		{`{"inputs": [{"name": "input_ids", "shape": [1, 65], "datatype": "INT64", "data": [` + strings.Repeat("1,", 64) + `1]}]}`, 413, "above the model's 64"},
		{`{"inputs": [{"name": "input_ids", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3]}]}`, 400, "does not hold its 3 values"},
		{`{"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]},
		   {"name": "attention_mask", "shape": [1, 2], "datatype": "INT64", "data": [0, 1]}]}`, 400, "want 1s for its tokens then 0s"},
		{`{"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}`, 400, "want INT64 or INT32"},
		{`{"inputs": [{"name": "input_ids", "shape": [1, 1], "datatype": "INT64", "data": [-1]}]}`, 400, "not a token id"},
		{`{"inputs": [{"name": "pixels", "shape": [1, 1], "datatype": "INT64", "data": [1]}]}`, 400, `pixels`},
		{`{"inputs": [], "extra": 1}`, 400, "not a v2 inference request"},
	} {
		code, body := post(url, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%.60s…: %d %s, want %d with %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	if code, body := post(strings.Replace(url, "code-search", "chat-embed", 1), `{}`); code != 404 || !strings.Contains(body, `serves \"code-search\"`) {
		t.Errorf("another service's model: %d %s", code, body)
	}
	if !strings.Contains(logs.String(), "[p0-0/cpu/w0] stand-in harness loading") {
		t.Errorf("the harness's stderr is not in the log, prefixed with its worker:\n%s", logs.String())
	}
}

// TestWorkersDrainAnswersEveryBatchTaken stops a host while a slow worker has batches running and queued: every batch
// it took is answered, one beyond its queue is refused with 503, and after the stop its port is closed.
func TestWorkersDrainAnswersEveryBatchTaken(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	cfg := testConfig(p, "p0-0", &logs)
	cfg.Harness, cfg.Only, cfg.MaxQueue = standInCmd("slow"), []string{"cpu/w1"}, 2
	t.Setenv("INFERPLAN_TEST_SLOW_MS", "150")
	h := startHost(t, cfg)
	url := h.Mapping().Workers[0].URL + "/v2/models/chat-embed/infer"
	body := `{"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}`
	codes := make(chan int, 4)
	var wg sync.WaitGroup
	for range 3 { // one runs, two wait: the queue is full
		wg.Add(1)
		go func() { defer wg.Done(); c, _ := post(url, body); codes <- c }()
	}
	time.Sleep(50 * time.Millisecond)
	if c, b := post(url, body); c != 503 || !strings.Contains(b, "busy") {
		t.Errorf("beyond the queue: %d %s", c, b)
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a batch taken before the stop got %d", c)
		}
	}
	if c, _ := post(url, body); c != 0 {
		t.Errorf("after the stop: %d", c)
	}
}

// TestWorkersHarnessThatDiesAnswers502: a worker whose harness exits answers 502 with the harness's last words, its
// health checks turn 503, and a host with no worker left reports it has failed.
func TestWorkersHarnessThatDiesAnswers502(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	cfg := testConfig(p, "p0-0", &logs)
	cfg.Harness, cfg.Only = standInCmd("die"), []string{"cpu/w0"}
	h := startHost(t, cfg)
	base := h.Mapping().Workers[0].URL
	body := `{"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}`
	if c, b := post(base+"/v2/models/code-search/infer", body); c != 502 || !strings.Contains(b, "illegal memory access") {
		t.Errorf("the batch the harness died on: %d %s", c, b)
	}
	select {
	case <-h.Failed():
	case <-time.After(5 * time.Second):
		t.Fatal("the host did not fail with its only worker gone")
	}
	if c, b := post(base+"/v2/models/code-search/infer", body); c != 502 || !strings.Contains(b, "exit status 3") {
		t.Errorf("after: %d %s", c, b)
	}
	for _, path := range []string{"/v2/health/live", "/v2/health/ready"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 503 {
			t.Errorf("%s: %v %v", path, resp.Status, err)
		}
		resp.Body.Close()
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !strings.Contains(logs.String(), "does not restart it") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestWorkersStartFailuresLeaveNothing: a harness that cannot serve fails the start, and the workers started beside it
// are stopped.
func TestWorkersStartFailuresLeaveNothing(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	cfg := testConfig(p, "p0-0", &logs)
	cfg.Harness = standInCmd("timing-only")
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot serve requests") || !strings.Contains(err.Error(), "p0-0/cpu/w2") {
		t.Fatalf("timing-only harness: %v", err)
	}
	cfg.Harness = "exit 7"
	if _, err := Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "did not get ready") {
		t.Errorf("a harness that exits: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.Harness = "cat >/dev/null" // never ready; exits when its stdin closes
	if _, err := Start(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while starting: %v", err)
	}
}

// TestWorkersConfigErrors: every setting is checked before anything starts, and the error names the flag and what the
// plan has instead.
func TestWorkersConfigErrors(t *testing.T) {
	cpu := readPlan(t, "testdata/cpu-two-services.json")
	gpu := gpuPlan()
	lambda := &plan.Plan{Version: 1, Platform: plan.PlatformLambda, Lambda: &plan.Lambda{}}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		flag   string
		phrase string
	}{
		{"lambda plan", func(c *Config) { c.Plan = lambda }, "plan", "a lambda plan"},
		{"no host", func(c *Config) { c.Host = "" }, "host", "is required: one of the plan's hosts, p0-0, p0-1"},
		{"unknown host", func(c *Config) { c.Host = "p3-0" }, "host", `"p3-0" is not a host of the plan: its hosts are p0-0, p0-1`},
		{"unknown worker", func(c *Config) { c.Only = []string{"gpu0/w0"} }, "only", "its workers are cpu/w0, cpu/w1, cpu/w2"},
		{"worker twice", func(c *Config) { c.Only = []string{"cpu/w0", "p0-0/cpu/w0"} }, "only", "named twice"},
		{"bad listen", func(c *Config) { c.Listen = "8080" }, "listen", "not HOST:PORT"},
		{"bad port", func(c *Config) { c.Listen = "127.0.0.1:70000" }, "listen", "0–65535"},
		{"ports run out", func(c *Config) { c.Listen = "127.0.0.1:65534" }, "listen", "ports 65534–65536"},
		{"open without token", func(c *Config) { c.Listen = "0.0.0.0:0" }, "listen", "--auth-token"},
		{"bad advertise", func(c *Config) { c.Advertise = "http://x" }, "advertise", "not a host name"},
		{"blank harness", func(c *Config) { c.Harness = "  " }, "harness", "blank"},
		{"unknown model", func(c *Config) { c.BuiltinModel = "gpt-9" }, "builtin-model", "bert-tiny"},
		{"no MPS folder", func(c *Config) { c.MPSDir = "/no/such/dir" }, "mps-pipe-dir", "no such file"},
		{"queue", func(c *Config) { c.MaxQueue = -1 }, "max-queue", "below 1"},
		{"part of an MPS GPU", func(c *Config) { c.Plan, c.Only, c.Harness = gpu, []string{"gpu0/w0"}, "h" }, "only", "serves all of a GPU's MPS workers"},
		{"bad GPU env", func(c *Config) { c.GPUEnv = "k8s" }, "gpu-env", "want auto, plan or external"},
		{"GPU workers, a GPU, no harness", func(c *Config) {
			c.Plan, c.Tools.GPUs = gpu, func() (int, string) { return 4, "" }
		}, "harness", "this machine has 4 NVIDIA GPU(s): give --harness"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			cfg := testConfig(cpu, "p0-0", &logs)
			tc.edit(&cfg)
			_, err := Start(context.Background(), cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Flag != tc.flag || !strings.Contains(err.Error(), tc.phrase) {
				t.Errorf("err = %v, want --%s: …%s…", err, tc.flag, tc.phrase)
			}
		})
	}
}

// TestWorkersFixedPortsCountUp: with a fixed port P the k-th worker started listens on P+k.
func TestWorkersFixedPortsCountUp(t *testing.T) {
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	for try := 0; try < 5; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port > 65000 {
			continue
		}
		cfg := testConfig(p, "p0-1", &logs)
		cfg.Listen, cfg.Only = fmt.Sprintf("127.0.0.1:%d", port), []string{"cpu/w2", "cpu/w0"}
		h, err := Start(context.Background(), cfg)
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			continue // another process took one of the ports meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		defer h.Stop(context.Background())
		m := h.Mapping()
		if len(m.Workers) != 2 || m.Workers[0].ID != "p0-1/cpu/w0" || m.Workers[1].ID != "p0-1/cpu/w2" ||
			m.Workers[0].URL != fmt.Sprintf("http://127.0.0.1:%d", port) || m.Workers[1].URL != fmt.Sprintf("http://127.0.0.1:%d", port+1) {
			t.Errorf("mapping %+v, want the host's order on %d and %d", m.Workers, port, port+1)
		}
		return
	}
	t.Skip("no run of free ports found")
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

// TestWorkersTorchHarness serves a worker through profiler/harness/torch_encoder.py where PyTorch is installed
// (on a CPU here: apt-get install python3-torch), through dispatch.Upstream as serve would.
func TestWorkersTorchHarness(t *testing.T) {
	py := torchPython()
	if py == "" {
		t.Skip("PyTorch is not installed here (import torch failed in $INFERPLAN_PYTHON, python3 and /usr/bin/python3); the harness path is covered by the stand-in harness")
	}
	p := readPlan(t, "testdata/cpu-two-services.json")
	var logs logBuffer
	cfg := testConfig(p, "p0-0", &logs)
	cfg.Harness, cfg.Only = py+" ../profiler/harness/torch_encoder.py --model bert-tiny --dtype float32", []string{"cpu/w1"}
	h := startHost(t, cfg)
	up, err := dispatch.NewUpstream(h.Mapping().Workers[0].URL, "chat-embed", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := up.Infer(context.Background(), batch([]int64{101, 7592, 102}))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := up.Infer(context.Background(), batch([]int64{101, 2088, 2003, 2307, 999, 102}, []int64{101, 7592, 102}))
	if err != nil {
		t.Fatal(err)
	}
	if len(alone[0]) != 128 || len(rows) != 2 || len(rows[1]) != 128 { // bert-tiny's hidden size
		t.Fatalf("widths %d, %d×%d", len(alone[0]), len(rows), len(rows[1]))
	}
	for j := range alone[0] {
		if d := alone[0][j] - rows[1][j]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("value %d: %v alone, %v padded into a batch", j, alone[0][j], rows[1][j])
		}
	}
	if !strings.Contains(logs.String(), `backend="harness: bert-tiny float32 on cpu`) {
		t.Errorf("log:\n%s", logs.String())
	}
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
