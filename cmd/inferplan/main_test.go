package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fixedNow pins the clock so outputs that mention time are stable.
func fixedNow() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

type result struct {
	code           int
	stdout, stderr string
}

// run executes the CLI in-process as a user would, with the clock pinned.
func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	io := &ioStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, Now: fixedNow}
	code := Main(args, io)
	return result{code, out.String(), errOut.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sharedDir holds the fixtures tests share (TestMain makes and removes it).
var sharedDir string

// exampleRun is `inferplan plan --example -o FILE` (the default, robust plan) run once per test binary and shared
// by the tests that read its summary or its plan file: planning the example costs seconds, and every test of
// it used to plan it again.
var exampleRun = sync.OnceValues(func() (result, string) {
	dir, err := os.MkdirTemp(sharedDir, "example-plan-")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "plan.json")
	var out, errOut bytes.Buffer
	code := Main([]string{"plan", "--example", "-o", path}, &ioStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, Now: fixedNow})
	return result{code, out.String(), errOut.String()}, path
})

// examplePlan returns the shared example run's summary and plan file.
func examplePlan(t *testing.T) (result, string) {
	t.Helper()
	r, path := exampleRun()
	if r.code != 0 {
		t.Fatalf("plan --example: exit %d: %s", r.code, r.stderr)
	}
	return r, path
}

// TestPlanExample: the default plan is robust (a calibrated attainment margin); --margin 0 fits the trace exactly,
// and is byte for byte the plan inferplan made before margins existed (plan_example.golden is unchanged since).
func TestPlanExample(t *testing.T) {
	t.Parallel()
	r, _ := examplePlan(t)
	golden(t, "plan_example_robust.golden", r.stdout)
	r = run(t, "plan", "--example", "--margin", "0")
	if r.code != 0 {
		t.Fatalf("--margin 0: exit %d: %s", r.code, r.stderr)
	}
	golden(t, "plan_example.golden", r.stdout)
}

func TestPlanExampleMarkdownAndJSON(t *testing.T) {
	t.Parallel()
	_, out := examplePlan(t)
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(file, &p); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "platform", "slo", "pricing", "buffers", "estimate", "baselines"} {
		if _, ok := p[k]; !ok {
			t.Errorf("plan JSON lacks %q", k)
		}
	}
	// --format json prints the plan itself: the same bytes as the -o file of the same plan
	r := run(t, "plan", "--example", "--format", "json")
	if r.code != 0 || r.stdout != string(file) {
		t.Fatalf("--format json: exit %d; stdout differs from the -o file: %v", r.code, r.stdout != string(file))
	}
	// -o - puts the JSON on stdout (the same again) and the summary, here markdown, on stderr
	r = run(t, "plan", "--example", "-o", "-", "--format", "markdown")
	if r.code != 0 || r.stdout != string(file) {
		t.Fatalf("-o -: exit %d, stdout %.40q", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "| Sizes (KB of audio) |") || !strings.HasPrefix(r.stderr, "### Plan for deepspeech-0.6") ||
		!strings.Contains(r.stderr, "Plan vs baselines") {
		t.Fatalf("markdown summary on stderr: %.200q", r.stderr)
	}
}

// TestSimulateAgreesWithPlan replays a written plan: simulate must reproduce the plan's own replayed estimate.
func TestSimulateAgreesWithPlan(t *testing.T) {
	t.Parallel()
	_, out := examplePlan(t)
	var p struct{ Estimate map[string]any }
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	r := run(t, "simulate", "--plan", out, "--example", "--format", "json")
	if r.code != 0 {
		t.Fatalf("simulate: exit %d: %s", r.code, r.stderr)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(e) != fmt.Sprint(p.Estimate) {
		t.Fatalf("simulate = %v\nplan estimate = %v", e, p.Estimate)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var big strings.Builder
	big.WriteString("timestamp,size\n")
	for i := 2; i < 1234; i++ {
		fmt.Fprintf(&big, "%d,44\n", i)
	}
	big.WriteString("soon,44\n")
	badTrace := writeFile(t, dir, "bad.csv", big.String())
	noCol := writeFile(t, dir, "nocol.csv", "time,size\n1,44\n")
	goodTrace := writeFile(t, dir, "good.csv", "timestamp,size\n0,44\n1,60\n")
	noMem := writeFile(t, dir, "nomem.json", `{"version": 1, "measurements": [
  {"platform": "lambda", "batch": 1, "size": 44, "latency_ms": 900}
]}`)
	okProf := writeFile(t, dir, "ok.json", `{"version": 1, "measurements": [
  {"platform": "lambda", "memory_mb": 1024, "batch": 1, "size": 44, "latency_ms": 900}
]}`)
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		words []string
	}{
		{"bad timestamp on line 1234", []string{"plan", "--profile", okProf, "--trace", badTrace, "--slo-ms", "1000"}, 2, []string{"bad.csv:1234", "timestamp", `"soon"`}},
		{"missing column", []string{"plan", "--profile", okProf, "--trace", noCol, "--slo-ms", "1000"}, 2, []string{"nocol.csv:1", "timestamp", "no such column"}},
		{"profile without memory_mb", []string{"plan", "--profile", noMem, "--trace", goodTrace, "--slo-ms", "1000"}, 2, []string{"nomem.json:2", "measurements[0].memory_mb", "missing"}},
		{"missing file", []string{"plan", "--profile", filepath.Join(dir, "nope.json"), "--trace", goodTrace, "--slo-ms", "1000"}, 2, []string{"nope.json", "no such file"}},
		{"unknown flag", []string{"plan", "--frobnicate"}, 2, []string{"unknown flag", "--help"}},
		{"unknown command", []string{"plna"}, 2, []string{"unknown command"}},
		{"missing slo", []string{"plan", "--profile", okProf, "--trace", goodTrace}, 2, []string{"--slo-ms"}},
		{"bad format", []string{"plan", "--example", "--format", "yaml"}, 2, []string{`invalid argument "yaml" for "--format" flag: want table, json or markdown`}},
		{"infeasible", []string{"plan", "--example", "--slo-ms", "500"}, 4, []string{"infeasible", "smallest SLO", "p95 ≤"}},
		{"ok", []string{"plan", "--profile", okProf, "--trace", goodTrace, "--slo-ms", "1000"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.words {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func TestTraceStatsJSON(t *testing.T) {
	dir := t.TempDir()
	tr := writeFile(t, dir, "t.csv", "timestamp,size\r\n0,10\r\n0.5,30\r\n2,20\r\n")
	r := run(t, "trace", "stats", tr, "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var st map[string]float64
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st["requests"] != 3 || st["span_s"] != 2 || st["size_p50"] != 20 || st["peak_rps_1s"] != 2 {
		t.Fatalf("stats = %v", st)
	}
}

func TestTraceSynth(t *testing.T) {
	dir := t.TempDir()
	arr := writeFile(t, dir, "arr.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\n2023-11-16 18:15:50.9951690,396\n")
	mix := writeFile(t, dir, "mix.json", `{"shares": [{"size": 12, "share": 1}]}`)
	out := filepath.Join(dir, "s.csv")
	r := run(t, "trace", "synth", "--arrivals", arr, "--time-col", "TIMESTAMP", "--size-col", "ContextTokens", "--size-mix", mix, "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, _ := os.ReadFile(out)
	if got, want := string(data), "timestamp,size\n0.000000,12\n4.314579,12\n"; got != want {
		t.Fatalf("synth wrote %q, want %q", got, want)
	}
}

func TestPricesListJSON(t *testing.T) {
	r := run(t, "prices", "list", "--gpu", "h100", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var v struct {
		AsOf      string `json:"as_of"`
		Instances []struct {
			Type string  `json:"type"`
			USD  float64 `json:"on_demand_usd_per_hour"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.AsOf != "2026-07-20" || len(v.Instances) == 0 {
		t.Fatalf("prices = %+v", v)
	}
	for _, in := range v.Instances {
		if !strings.HasPrefix(in.Type, "p5") {
			t.Errorf("--gpu h100 listed %s", in.Type)
		}
	}
}

func TestProfileShow(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "p.json", `{"version": 1, "model": "m", "size_unit": "tokens", "measurements": [
  {"platform": "cpu", "vcpus": 4, "batch": 1, "size": 16, "latency_ms": 10},
  {"platform": "cpu", "vcpus": 4, "batch": 1, "size": 32, "latency_ms": 15}
]}`)
	r := run(t, "profile", "show", p)
	if r.code != 0 || !strings.Contains(r.stdout, "cpu 4 vCPU") || !strings.Contains(r.stdout, "16–32") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	r := run(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "inferplan ") || !strings.Contains(r.stdout, "contract v1") {
		t.Fatalf("--version: %q", r.stdout)
	}
	r = run(t, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "__start_inferplan") {
		t.Fatalf("completion bash: exit %d", r.code)
	}
	r = run(t, "__complete", "plan", "--arch", "")
	if !strings.Contains(r.stdout, "arm64") {
		t.Fatalf("--arch completion: %q", r.stdout)
	}
}

// TestEveryCommandHasHelpAndExamples keeps the CLI self-documenting.
func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	root := newRootCmd(&ioStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, Now: fixedNow})
	for _, c := range allCommands(root) {
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" && c.Name() != "help" && !strings.HasPrefix(c.CommandPath(), "inferplan completion") {
			t.Errorf("%s has no examples", c.CommandPath())
		}
	}
}

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommands(sub)...)
	}
	return out
}

// TestPlanExampleValidate: --validate 0.5 plans on the first ten minutes and replays the plan over the last ten;
// the summary shows both beside the single buffer chosen in hindsight, and the plan JSON carries them.
func TestPlanExampleValidate(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "plan.json")
	r := run(t, "plan", "--example", "--validate", "0.5", "-o", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "plan_example_validate.golden", r.stdout)
	var p struct {
		Estimate   struct{ Requests int }
		Validation struct {
			Method   string
			InSample struct{ Requests int } `json:"in_sample"`
			HeldOut  struct {
				Requests      int
				SLOAttainment float64 `json:"slo_attainment"`
			} `json:"held_out"`
		}
	}
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	v := p.Validation
	if v.Method != "holdout" || v.InSample.Requests+v.HeldOut.Requests != p.Estimate.Requests || v.HeldOut.SLOAttainment < 0.95 {
		t.Fatalf("validation %+v of %d requests", v, p.Estimate.Requests)
	}
}
