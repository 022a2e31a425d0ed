package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// fixturePlan is a small valid plan for the example profile (DeepSpeech, memory sizes 1,024 MB and up, batches
// 1–25), in contract §3.3's layout; tests change one field at a time.
const fixturePlan = `{
  "version": 1,
  "platform": "lambda",
  "slo": {"percentile": 95, "latency_ms": 20000},
  "pricing": {"gb_second_usd": 0.0000166667, "request_usd": 0.0000002, "as_of": "2026-07-20"},
  "buffers": [
    {"min_size": 1, "max_size": 64, "batch_size": 8, "timeout_ms": 900, "memory_mb": 1536},
    {"min_size": 64.5, "max_size": 1e18, "batch_size": 4, "timeout_ms": 1200, "memory_mb": 1792}
  ],
  "estimate": {"method": "replay", "requests": 6026, "invocations": 1063, "cost_usd": 0.3778, "cost_per_million_usd": 62.69,
    "slo_attainment": 0.988, "latency_p50_ms": 7000, "latency_p95_ms": 17000, "latency_p99_ms": 19000, "padding_ratio": 0.096}
}
`

// writePlanVariant writes the fixture plan with from replaced by to.
func writePlanVariant(t *testing.T, dir, name, from, to string) string {
	t.Helper()
	doc := strings.Replace(fixturePlan, from, to, 1)
	if doc == fixturePlan && from != "" {
		t.Fatalf("%s: %q is not in the fixture", name, from)
	}
	return writeFile(t, dir, name, doc)
}

// TestHostileInputsExit2: inputs a hostile (or careless) user gives are usage or input errors (exit 2) that name
// the flag, or the file, line and field — never a panic, a pass, or exit 1 after minutes of work (issue 14).
func TestHostileInputsExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := writePlanVariant(t, dir, "ok.json", "", "")
	att7 := writePlanVariant(t, dir, "att7.json", `"slo_attainment": 0.988`, `"slo_attainment": 7`)
	negCost := writePlanVariant(t, dir, "neg.json", `"cost_per_million_usd": 62.69`, `"cost_per_million_usd": -5`)
	noEst := writePlanVariant(t, dir, "noest.json", `,
  "estimate": {"method": "replay", "requests": 6026, "invocations": 1063, "cost_usd": 0.3778, "cost_per_million_usd": 62.69,
    "slo_attainment": 0.988, "latency_p50_ms": 7000, "latency_p95_ms": 17000, "latency_p99_ms": 19000, "padding_ratio": 0.096}`, "")
	mem := writePlanVariant(t, dir, "mem.json", `"memory_mb": 1792`, `"memory_mb": 1000`)
	batch := writePlanVariant(t, dir, "batch.json", `"batch_size": 8`, `"batch_size": 30`)
	hugeTimeout := writePlanVariant(t, dir, "timeout.json", `"timeout_ms": 1200`, `"timeout_ms": 1e13`)
	nanPolicy := writeFile(t, dir, "nan.yaml", "baseline: "+ok+"\nmax_increase_pct: .nan\n")
	infPolicy := writeFile(t, dir, "inf.yaml", "max_cost_per_million_usd: .inf\n")
	for _, tc := range []struct {
		name  string
		args  []string
		words []string
	}{
		// defect 2: check trusts no estimate it cannot believe
		{"attainment 7", []string{"check", "--plan", att7}, []string{"att7.json:11", "estimate.slo_attainment", "not in [0, 1]"}},
		{"negative cost", []string{"check", "--plan", negCost}, []string{"neg.json:10", "estimate.cost_per_million_usd"}},
		{"no estimate", []string{"check", "--plan", noEst}, []string{"noest.json", "estimate: missing"}},
		{"no estimate in diff", []string{"diff", ok, noEst}, []string{"noest.json", "estimate: missing"}},
		{"max_increase_pct .nan", []string{"check", "--plan", ok, "--policy", nanPolicy}, []string{"max_increase_pct", "NaN is not a finite number"}},
		{"threshold .inf", []string{"check", "--plan", ok, "--policy", infPolicy}, []string{"max_cost_per_million_usd", "+Inf is not a finite positive number"}},
		// defect 3: SLOs no trace can tell apart
		{"slo Inf", []string{"plan", "--example", "--slo-ms", "Inf"}, []string{"--slo-ms +Inf"}},
		{"slo NaN", []string{"plan", "--example", "--slo-ms", "NaN"}, []string{"--slo-ms NaN"}},
		{"slo 1e308", []string{"plan", "--example", "--slo-ms", "1e308"}, []string{"--slo-ms 1e+308", "want at most 86400000 ms"}},
		// defect 4: a plan asking for what the profile never measured names the file, line and field
		{"memory not profiled", []string{"simulate", "--plan", mem, "--example"}, []string{"mem.json:8", "buffers[1].memory_mb", "1000 MB was not profiled"}},
		{"batch above the profile", []string{"simulate", "--plan", batch, "--example"}, []string{"batch.json:7", "buffers[0].batch_size", "30 is above the largest batch"}},
		{"timeout of 1e13 ms", []string{"simulate", "--plan", hugeTimeout, "--example"}, []string{"timeout.json:8", "buffers[1].timeout_ms", "longer than a day"}},
		// robust plans: their flags are checked before the search
		{"margin word", []string{"plan", "--example", "--margin", "lots"}, []string{`--margin "lots"`}},
		{"margin negative", []string{"plan", "--example", "--margin", "-1"}, []string{`--margin "-1"`}},
		{"validate 1.5", []string{"plan", "--example", "--validate", "1.5"}, []string{"--validate 1.5"}},
		{"validate twice", []string{"plan", "--example", "--validate", "0.5", "--validate-trace", ok}, []string{"give one"}},
		{"output folder missing", []string{"plan", "--example", "-o", filepath.Join(dir, "no", "plan.json")}, []string{"-o: write", "no such file or directory"}},
		{"report into a missing folder", []string{"report", ok, "--example", "--html", filepath.Join(dir, "no", "r.html")}, []string{"--html: write"}},
		{"charts into a file", []string{"report", ok, "--example", "--charts", ok}, []string{"not a folder"}},
		{"slice into a missing folder", []string{"trace", "slice", ok, "-o", filepath.Join(dir, "no", "t.csv")}, []string{"-o: write"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
			}
			for _, w := range tc.words {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	// and the fixture itself is fine
	if r := run(t, "simulate", "--plan", ok, "--example", "--format", "json"); r.code != 0 {
		t.Fatalf("the fixture plan: exit %d: %s", r.code, r.stderr)
	}
}

// TestServeFlagsExit2: every serve flag is checked before the plan is read or the backend opened (defect 5); a
// value that used to pass would refuse every request, or never time out, once serving.
func TestServeFlagsExit2(t *testing.T) {
	t.Parallel()
	p := writeTestPlan(t, t.TempDir(), "plan.json", twoBuffers...)
	base := []string{"serve", "--plan", p, "--backend", "builtin:bert-tiny"}
	for _, tc := range []struct {
		args  []string
		words string
	}{
		{[]string{"--max-queue", "-1"}, "--max-queue -1: want at least 1"},
		{[]string{"--max-queue", "0"}, "--max-queue 0"},
		{[]string{"--max-inflight", "0"}, "--max-inflight 0"},
		{[]string{"--max-body", "-1"}, "--max-body -1"},
		{[]string{"--workers", "-3"}, "--workers -3"},
		{[]string{"--attempts", "0"}, "--attempts 0"},
		{[]string{"--backend-timeout", "0s"}, "--backend-timeout 0s"},
		{[]string{"--request-timeout", "-1s"}, "--request-timeout -1s"},
		{[]string{"--max-input", "-5"}, "--max-input -5"},
		{[]string{"--grace", "-1s"}, "--grace -1s"},
		{[]string{"--listen", "bogus"}, `--listen "bogus": want HOST:PORT`},
		{[]string{"--listen", "127.0.0.1:99999"}, "port \"99999\""},
		{[]string{"--memory-limit", "lots"}, `--memory-limit "lots"`},
		{[]string{"--memory-limit", "1KiB"}, "at least 16MiB"},
		{[]string{"--log-format", "xml"}, "want text or json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := run(t, append(base, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.words) {
				t.Fatalf("exit %d, want 2 with %q: %s", r.code, tc.words, r.stderr)
			}
		})
	}
}

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "2GB": 2e9, "1g": 1 << 30, "300m": 300 << 20, "67108864": 64 << 20} {
		if got, auto, err := parseMemoryLimit(in); err != nil || auto || got != want {
			t.Errorf("%q: %d %v %v, want %d", in, got, auto, err, want)
		}
	}
	if _, auto, err := parseMemoryLimit("auto"); !auto || err != nil {
		t.Errorf("auto: %v %v", auto, err)
	}
	if got, _, err := parseMemoryLimit("off"); err != nil || got != math.MaxInt64 {
		t.Errorf("off: %d %v", got, err)
	}
}
