package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
)

// writeTestPlan writes a valid plan with the given buffers for bert-tiny and returns its path.
func writeTestPlan(t *testing.T, dir, name string, bufs ...plan.Buffer) string {
	t.Helper()
	p := &plan.Plan{Version: plan.Version, Platform: "lambda", Model: "bert-tiny", SLO: plan.SLO{Percentile: 95, LatencyMs: 2000},
		Lambda: &plan.Lambda{Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}, Buffers: bufs}}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, string(data))
}

var twoBuffers = []plan.Buffer{
	{MinSize: 1, MaxSize: 8, BatchSize: 4, TimeoutMs: 20, MemoryMB: 1769},
	{MinSize: 9, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 40, MemoryMB: 1769},
}

// served is an `inferplan serve` child process.
type served struct {
	url  string
	cmd  *exec.Cmd
	done chan error // the exit, once stderr is read to its end
	mu   sync.Mutex
	log  bytes.Buffer
}

var servingURL = regexp.MustCompile(`msg=serving url=(\S+)`)

// startServe runs `inferplan serve` in a child process on a free loopback port and waits until it serves.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "INFERPLAN_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		s.done <- cmd.Wait() // only after every read, as os/exec asks
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case s.url = <-urls:
	case err := <-s.done:
		t.Fatalf("serve exited before serving (%v):\n%s", err, s.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", s.logText())
	}
	return s
}

func (s *served) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// waitLog waits until the log has a line matching re.
func (s *served) waitLog(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(s.logText()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line matching %q:\n%s", re, s.logText())
	return nil
}

// stop sends sig and returns the exit.
func (s *served) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit after %v:\n%s", sig, s.logText())
		return nil
	}
}

// infer sends one v2 request of n token ids with the given id.
func infer(c *http.Client, url, id string, n int) (int, map[string]any, error) {
	data := make([]string, n)
	for i := range data {
		data[i] = fmt.Sprint(100 + i)
	}
	body := fmt.Sprintf(`{"id": %q, "inputs": [{"name": "input_ids", "shape": [1, %d], "datatype": "INT64", "data": [%s]}]}`,
		id, n, strings.Join(data, ","))
	resp, err := c.Post(url+"/v2/models/bert-tiny/infer", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// TestServeSIGTERMUnderLoadLosesNothing sends a stream of requests from several clients, stops the gateway with
// SIGTERM in the middle of it, and checks that every request the gateway admitted was answered with its own
// result: the 200s the clients got equal the admitted and answered counts the gateway logs on exit, every other
// answer is a 503 (refused while draining) or a refused connection, and the process exits 0.
func TestServeSIGTERMUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway in a child process under load")
	}
	dir := t.TempDir()
	s := startServe(t, "--plan", writeTestPlan(t, dir, "plan.json", twoBuffers...), "--backend", "builtin:bert-tiny")

	var (
		ok, refused503, connErrs atomic.Int64
		wg                       sync.WaitGroup
		mu                       sync.Mutex
		bad                      []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		bad = append(bad, fmt.Sprintf(format, args...))
	}
	stopped := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			c := &http.Client{Timeout: 60 * time.Second}
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				n := 1 + rng.IntN(32)
				code, out, err := infer(c, s.url, id, n)
				switch {
				case err != nil && code == 0:
					// the listener is closed: nothing was admitted
					connErrs.Add(1)
					select {
					case <-stopped:
						return
					default:
						time.Sleep(5 * time.Millisecond)
						continue
					}
				case err != nil:
					fail("%s: %v", id, err)
				case code == http.StatusOK:
					outs, _ := out["outputs"].([]any)
					if out["id"] != id || len(outs) != 1 || len(outs[0].(map[string]any)["data"].([]any)) != 128 {
						fail("%s: answer for %v with outputs %v", id, out["id"], outs)
					}
					ok.Add(1)
				case code == http.StatusServiceUnavailable:
					refused503.Add(1)
				default:
					fail("%s: %d %v", id, code, out)
				}
			}
		})
	}
	// let the load build, then stop the gateway in the middle of it
	for ok.Load() < 300 {
		time.Sleep(10 * time.Millisecond)
	}
	err := s.stop(t, syscall.SIGTERM)
	close(stopped)
	wg.Wait()
	if err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, s.logText())
	}
	for _, b := range bad {
		t.Error(b)
	}
	m := s.waitLog(t, `msg=stopped admitted=(\d+) answered=(\d+)`)
	if m[1] != m[2] || m[1] != fmt.Sprint(ok.Load()) {
		t.Fatalf("gateway admitted %s and answered %s; clients got %d answers (503: %d, refused connections: %d)",
			m[1], m[2], ok.Load(), refused503.Load(), connErrs.Load())
	}
	t.Logf("%d answered, %d refused with 503 while draining, %d connections refused after", ok.Load(), refused503.Load(), connErrs.Load())
}

func TestServeSIGHUPReloadsThePlan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway in a child process")
	}
	dir := t.TempDir()
	planPath := writeTestPlan(t, dir, "plan.json", plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1769})
	s := startServe(t, "--plan", planPath, "--backend", "builtin:bert-tiny")
	c := &http.Client{Timeout: 30 * time.Second}
	buffers := func() int {
		resp, err := c.Get(s.url + "/inferplan/plan")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p plan.Plan
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		return len(p.Lambda.Buffers)
	}
	if n := buffers(); n != 1 {
		t.Fatalf("serving %d buffers, want 1", n)
	}
	// the soft memory limit is in force (defect 6: without one, GOGC ~740 let the heap grow to 8× a burst's peak)
	if v, err := strconv.ParseFloat(scrape(t, c, s.url, "go_gc_gomemlimit_bytes"), 64); err != nil || v > 1<<40 {
		t.Errorf("go_gc_gomemlimit_bytes %v (%v): no memory limit set", v, err)
	}
	s.waitLog(t, `msg=serving .* memory_limit=\d+MiB`)
	// a broken plan is refused and the old one kept
	writeFile(t, dir, "plan.json", `{"version": 1, "buffers": [`)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, `plan reload failed`)
	if code, _, err := infer(c, s.url, "a", 12); err != nil || code != http.StatusOK {
		t.Fatalf("after a failed reload: %d %v", code, err)
	}
	writeTestPlan(t, dir, "plan.json", twoBuffers...)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, `msg="plan reloaded" plan=\S+ buffers=2`)
	if n := buffers(); n != 2 {
		t.Fatalf("serving %d buffers after SIGHUP, want 2", n)
	}
	if n := strings.Count(s.logText(), "plan reloaded"); n != 1 {
		t.Errorf("one reload logged %d times:\n%s", n, s.logText())
	}
	code, out, err := infer(c, s.url, "b", 12)
	if err != nil || code != http.StatusOK {
		t.Fatalf("after the reload: %d %v %v", code, out, err)
	}
	if params := out["parameters"].(map[string]any); params["inferplan_buffer"] != 2.0 {
		t.Errorf("a 12-token request went to buffer %v, want 2", params["inferplan_buffer"])
	}
	if err := s.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, s.logText())
	}
}

func TestServeRefusesAnOpenListenerWithoutAToken(t *testing.T) {
	dir := t.TempDir()
	p := writeTestPlan(t, dir, "plan.json", twoBuffers...)
	t.Setenv("INFERPLAN_AUTH_TOKEN", "")
	r := run(t, "serve", "--plan", p, "--backend", "builtin:bert-tiny", "--listen", "0.0.0.0:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--auth-token") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"--backend", "builtin:bert-tiny"},                  // no plan
		{"--plan", p, "--backend", "builtin:no-such-model"}, // unknown model
		{"--plan", p, "--backend", "ftp://x"},               // unknown backend
		{"--plan", p, "--backend", "builtin", "--priority", "urgent"},
	} {
		if r := run(t, append([]string{"serve"}, args...)...); r.code != exitUsage {
			t.Errorf("serve %v: exit %d, want %d: %s", args, r.code, exitUsage, r.stderr)
		}
	}
	bad := writeFile(t, dir, "bad.json", `{"version": 1, "platform": "lambda", "buffers": []}`)
	if r := run(t, "serve", "--plan", bad, "--backend", "builtin"); r.code != exitUsage || !strings.Contains(r.stderr, "bad.json") {
		t.Errorf("bad plan: exit %d: %s", r.code, r.stderr)
	}
}

// TestReplayJSONAgainstServe replays a small trace against a served gateway and checks the report's contract
// fields: every request sent was answered once, and the gateway's batches are the simulator's.
func TestReplayJSONAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway in a child process")
	}
	dir := t.TempDir()
	s := startServe(t, "--plan", writeTestPlan(t, dir, "plan.json", twoBuffers...), "--backend", "builtin:bert-tiny")
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
	r := run(t, "replay", "--trace", tr, "--url", s.url, "--format", "json", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, s.logText())
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	for _, k := range []string{"requests", "ok", "errors", "lost", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "slo_attainment"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if rep["requests"] != 42.0 || rep["ok"] != 42.0 || rep["lost"] != 0.0 || rep["errors"] != 0.0 || rep["duplicates"] != 0.0 {
		t.Fatalf("report: %s", r.stdout)
	}
	want := map[float64][2]float64{1: {30, 12}, 2: {12, 6}} // requests, batches
	for _, b := range rep["buffers"].([]any) {
		b := b.(map[string]any)
		w := want[b["buffer"].(float64)]
		if b["requests"] != w[0] || b["predicted_requests"] != w[0] || b["predicted_batches"] != w[1] || b["batches"] != w[1] {
			t.Errorf("buffer %v: %v", b["buffer"], b)
		}
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v", err)
	}

	// a gateway that is not there is an error, not a report of lost requests
	r = run(t, "replay", "--trace", tr, "--url", s.url, "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "gateway") {
		t.Errorf("replay against a stopped gateway: exit %d: %s", r.code, r.stderr)
	}
}

func TestTraceSlice(t *testing.T) {
	dir := t.TempDir()
	tr := writeFile(t, dir, "t.csv", "ts,len\n100,5\n110,700\n120,3\n130,900\n145,1\n")
	out := filepath.Join(dir, "slice.csv")
	r := run(t, "trace", "slice", tr, "--time-col", "ts", "--size-col", "len", "--start", "10", "--duration", "25", "--max-size", "512", "--speedup", "2", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), "timestamp,size\n0.000000,512\n5.000000,3\n10.000000,512\n"; got != want {
		t.Errorf("slice:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(r.stderr, "3 of 5 requests") {
		t.Errorf("stderr: %s", r.stderr)
	}
	for _, args := range [][]string{{"--speedup", "0"}, {"--duration", "-1"}, {"--start", "soon"}, {"--max-size", "-3"}} {
		if r := run(t, append([]string{"trace", "slice", tr, "--time-col", "ts", "--size-col", "len"}, args...)...); r.code != exitUsage {
			t.Errorf("%v: exit %d: %s", args, r.code, r.stderr)
		}
	}
}
