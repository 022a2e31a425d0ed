package main

import (
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
