package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inferplan/inferplan/fleet"
)

// cpuClusterPlan is a cluster plan with two hosts, each running a code-search worker and two chat-embed workers
// on its CPU.
const cpuClusterPlan = "../../workerhost/testdata/cpu-two-services.json"

// TestWorkersFlagErrors: every flag is checked before anything starts; a mistake is a usage error (exit 2) that
// names the flag and what would do.
func TestWorkersFlagErrors(t *testing.T) {
	dir := t.TempDir()
	lambda := writeTestPlan(t, dir, "lambda.json", twoBuffers...)
	bad := writeFile(t, dir, "bad.json", `{"version": 1, "platform": "cluster", "services": []}`)
	for _, tc := range []struct {
		args   []string
		phrase string
	}{
		{[]string{"--host", "p0-0"}, "--plan is required"},
		{[]string{"--plan", lambda, "--host", "p0-0"}, "--plan: a lambda plan"},
		{[]string{"--plan", bad, "--host", "p0-0"}, "bad.json"},
		{[]string{"--plan", cpuClusterPlan}, "--host: is required: one of the plan's hosts, p0-0, p0-1"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p2-0"}, `--host: "p2-0" is not a host of the plan: its hosts are p0-0, p0-1`},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--only", "gpu0/w0"}, "--only: \"gpu0/w0\" is not a worker of host p0-0: its workers are cpu/w0, cpu/w1, cpu/w2"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--listen", "localhost"}, "--listen: \"localhost\" is not HOST:PORT"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--listen", "0.0.0.0:9000"}, "--auth-token"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--harness", ""}, "--harness is empty"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--harness", "h", "--builtin-model", "bert-mini"}, "--builtin-model is for workers without --harness"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--builtin-model", "gpt-9"}, "--builtin-model: \"gpt-9\" is not built in"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--mapping", filepath.Join(dir, "no", "m.json")}, "does not exist"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--mapping", dir}, "is a folder"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--grace", "0s"}, "--grace 0s"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--mps-pipe-dir", filepath.Join(dir, "nope")}, "--mps-pipe-dir"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--max-queue", "0"}, "--max-queue 0: want at least 1"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--log-format", "xml"}, "--log-format"},
		{[]string{"--plan", cpuClusterPlan, "--host", "p0-0", "--gpu-env", "k8s"}, "--gpu-env: \"k8s\": want auto, plan or external"},
	} {
		r := run(t, append([]string{"workers"}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.phrase) || r.stdout != "" {
			t.Errorf("workers %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2 with %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.phrase)
		}
	}
}

// startWorkers runs `inferplan workers` in a child process and waits until its workers are ready; stdout goes to
// the returned buffer, which may be read once the process has exited.
func startWorkers(t *testing.T, args ...string) (*served, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"workers"}, args...)...)
	cmd.Env = append(os.Environ(), "INFERPLAN_TEST_MAIN=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), `msg="workers ready"`) {
				ready <- struct{}{}
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("workers exited before they were ready (%v):\n%s", err, s.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("workers did not get ready:\n%s", s.logText())
	}
	return s, &stdout
}

// TestWorkersServeAndReplayEndToEnd runs one host of a two-service cluster plan as `inferplan workers` (CPU
// workers, the built-in model), fronts a worker of each service with `inferplan serve` (its upstream v2 backend:
// the wire format the cluster gateway speaks too), replays a trace through each gateway — every request
// answered — and stops everything with SIGTERM, each exiting 0.
func TestWorkersServeAndReplayEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs workers, gateways and replays in child processes")
	}
	dir := t.TempDir()
	mapping := filepath.Join(dir, "p0-0.json")
	w, stdout := startWorkers(t, "--plan", cpuClusterPlan, "--host", "p0-0", "--mapping", mapping)
	m, err := fleet.ReadMapping(mapping)
	if err != nil {
		t.Fatal(err)
	}
	if m.Host != "p0-0" || len(m.Workers) != 3 {
		t.Fatalf("mapping %+v", m)
	}
	// clusters 300 ms apart: 5 short requests 1 ms apart (a full batch of 4 and a timed-out 1) and 2 long ones
	var csv strings.Builder
	csv.WriteString("timestamp,size\n")
	for c := range 6 {
		at := float64(c) * 0.3
		for i := range 5 {
			fmt.Fprintf(&csv, "%.3f,%d\n", at+float64(i)*0.001, 2+i)
		}
		fmt.Fprintf(&csv, "%.3f,40\n%.3f,20\n", at+0.006, at+0.007)
	}
	tr := writeFile(t, dir, "trace.csv", csv.String())
	gw := writeTestPlan(t, dir, "gateway.json", twoBuffers...)
	for _, mw := range []fleet.MappedWorker{m.Workers[0], m.Workers[1]} {
		s := startServe(t, "--plan", gw, "--backend", mw.URL, "--upstream-model", mw.Service)
		r := run(t, "replay", "--trace", tr, "--url", s.url, "--format", "json", "-q")
		if r.code != 0 {
			t.Fatalf("replay through %s: exit %d: %s\n%s", mw.ID, r.code, r.stderr, s.logText())
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		if rep["requests"] != 42.0 || rep["ok"] != 42.0 || rep["lost"] != 0.0 || rep["errors"] != 0.0 || rep["duplicates"] != 0.0 {
			t.Errorf("replay through %s: %s", mw.ID, r.stdout)
		}
		if err := s.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("serve in front of %s: %v\n%s", mw.ID, err, s.logText())
		}
	}
	if err := w.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("workers: %v\n%s", err, w.logText())
	}
	// 42 requests in 18 batches through each of the two workers (12 + 6, as the replay test's gateway forms them),
	// and the warm-up batch is not counted
	for _, id := range []string{"p0-0/cpu/w0", "p0-0/cpu/w1"} {
		if !regexp.MustCompile(`msg="worker stopped" worker=` + id + ` batches=18 requests=42`).MatchString(w.logText()) {
			t.Errorf("%s's counts are not in the log:\n%s", id, w.logText())
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("with --mapping, stdout is %q", stdout.String())
	}
}

// TestWorkersPrintTheMappingAndStopOnSIGINT: without --mapping the mapping goes to stdout once the workers are
// ready, and SIGINT stops them with exit 0.
func TestWorkersPrintTheMappingAndStopOnSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs workers in a child process")
	}
	w, stdout := startWorkers(t, "--plan", cpuClusterPlan, "--host", "p0-1", "--only", "cpu/w2", "--builtin-model", "bert-mini")
	if err := w.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("exit: %v\n%s", err, w.logText())
	}
	m, err := fleet.ParseMapping(stdout.Bytes(), "stdout")
	if err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if len(m.Workers) != 1 || m.Workers[0].ID != "p0-1/cpu/w2" || m.Workers[0].Service != "chat-embed" || m.Plan != cpuClusterPlan {
		t.Errorf("mapping %+v", m)
	}
	if !strings.Contains(w.logText(), "built-in bert-mini encoder (4 layers, hidden 256)") || !strings.Contains(w.logText(), "msg=stopped") {
		t.Errorf("log:\n%s", w.logText())
	}
}

// TestClusterEndToEnd is issue 12's acceptance run on this machine: the two-service CPU plan of
// testdata/cluster/e2e runs as one `inferplan workers` per host (the built-in model), `inferplan serve` fronts
// them with the plan's batching, `inferplan replay --workload` sends both services' traces (30 s of each at 4×; with
// INFERPLAN_ACCEPTANCE set, the whole two-minute slices in real time),
// every request is answered once and every worker's batches are the simulator's over the gateway's arrival
// stamps, and SIGTERM drains the gateway and then the workers, each exiting 0.
func TestClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs workers, a cluster gateway and a replay in child processes")
	}
	const dir = "../../testdata/cluster/e2e"
	tmp := t.TempDir()
	var hosts []*served
	var args []string
	for _, host := range []string{"p0-0", "p1-0"} {
		m := filepath.Join(tmp, host+".json")
		w, _ := startWorkers(t, "--plan", dir+"/plan.json", "--host", host, "--mapping", m)
		hosts = append(hosts, w)
		args = append(args, "--workers", m)
	}
	s := startServe(t, append([]string{"--plan", dir + "/plan.json"}, args...)...)
	// 30 s of each trace at 4× in the test command; the whole two-minute slices in real time in CI's acceptance step
	dur, speedup := "30s", "4"
	if os.Getenv("INFERPLAN_ACCEPTANCE") != "" {
		dur, speedup = "0", "1"
	}
	r := run(t, "replay", "--workload", dir+"/workload.yaml", "--url", s.url, "--duration", dur, "--speedup", speedup, "--format", "json", "-q")
	if r.code != 0 {
		t.Fatalf("replay: exit %d: %s\n%s", r.code, r.stderr, s.logText())
	}
	var rep struct {
		Requests, OK, Errors, Lost, Duplicates int
		BatchesMatch                           bool `json:"batches_match"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	t.Logf("replay: %d requests, %d OK, %d errors, %d lost, %d duplicated; batches match the simulator: %v",
		rep.Requests, rep.OK, rep.Errors, rep.Lost, rep.Duplicates, rep.BatchesMatch)
	if rep.Requests == 0 || rep.OK != rep.Requests || rep.Errors != 0 || rep.Lost != 0 || rep.Duplicates != 0 || !rep.BatchesMatch {
		t.Errorf("replay: %s", r.stdout)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("serve: %v\n%s", err, s.logText())
	}
	served := 0
	counts := regexp.MustCompile(`msg="worker stopped" worker=\S+ batches=\d+ requests=(\d+)`)
	for _, w := range hosts {
		if err := w.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("workers: %v\n%s", err, w.logText())
		}
		for _, m := range counts.FindAllStringSubmatch(w.logText(), -1) {
			var n int
			fmt.Sscan(m[1], &n)
			served += n
		}
	}
	if served != rep.OK {
		t.Errorf("the workers served %d requests, the replay got %d answers", served, rep.OK)
	}
}
