package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// gatePlans are two small real plans (the example planned with 10 and at most 3 buffers), written once per test
// binary and shared by the gate tests.
var gatePlans = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp(sharedDir, "gate-")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, args := range map[string][]string{"full": {}, "small": {"--max-buffers", "3"}} {
		out[name] = filepath.Join(dir, name+".json")
		// --margin 0: these plans exercise the gate, not the planner's default margin
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"plan", "--example", "-o", out[name], "--refine", "0", "--margin", "0"}, args...),
			&ioStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr, Now: fixedNow})
		if code != 0 {
			return nil, fmt.Errorf("plan %v: exit %d: %s", args, code, stderr.String())
		}
	}
	return out, nil
})

func plansFor(t *testing.T) (small, full string) {
	t.Helper()
	p, err := gatePlans()
	if err != nil {
		t.Fatal(err)
	}
	return p["small"], p["full"]
}

// TestCheckGolden: a plan within thresholds exits 0, one that breaks them exits 3 after printing which threshold,
// the value and the limit — in every format.
func TestCheckGolden(t *testing.T) {
	t.Parallel()
	small, full := plansFor(t)
	pass := []string{"check", "--plan", full, "--max-cost-per-million", "70", "--min-slo-attainment", "95%", "--max-p95-ms", "20000"}
	fail := []string{"check", "--plan", full, "--max-cost-per-million", "55", "--monthly-requests", "50000000", "--max-monthly-cost", "3000",
		"--max-p99-ms", "25000", "--baseline", small, "--max-increase", "10%"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		golden string
	}{
		{"pass table", pass, 0, "check_pass.golden"},
		{"fail table", fail, 3, "check_fail.golden"},
		{"fail markdown", append(fail, "--format", "markdown"), 3, "check_fail_md.golden"},
		{"fail json", append(fail, "--format", "json"), 3, "check_fail_json.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; %s", r.code, tc.code, r.stderr)
			}
			out := strings.ReplaceAll(r.stdout, filepath.Dir(full), "PLANS")
			golden(t, filepath.Join("gate", tc.golden), out)
			if tc.code == 3 && r.stderr != "" {
				t.Errorf("a failed check prints its report, not an error: %q", r.stderr)
			}
		})
	}
	var res struct {
		Pass   bool
		Broken int
		Checks []struct {
			Name  string
			Value float64
			Limit float64
			Pass  bool
		}
	}
	r := run(t, append(fail, "--format", "json")...)
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Pass || res.Broken != 3 {
		t.Fatalf("json: %v %+v", err, res)
	}
}

func TestCheckPolicyFile(t *testing.T) {
	t.Parallel()
	_, full := plansFor(t)
	dir := t.TempDir()
	pol := writeFile(t, dir, "inferplan.yaml", "max_cost_per_million_usd: 55\nmin_slo_attainment: 0.95\n")
	r := run(t, "check", "--plan", full, "--policy", pol)
	if r.code != 3 || !strings.Contains(r.stdout, "cost per million requests") {
		t.Fatalf("policy file: exit %d\n%s", r.code, r.stdout)
	}
	// a flag overrides the file
	if r = run(t, "check", "--plan", full, "--policy", pol, "--max-cost-per-million", "70"); r.code != 0 {
		t.Fatalf("override: exit %d\n%s", r.code, r.stdout)
	}
	bad := writeFile(t, dir, "bad.yaml", "max_cost_per_million_usd: 55\nmax_cost: 3\n")
	if r = run(t, "check", "--plan", full, "--policy", bad); r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:2") {
		t.Fatalf("bad policy: exit %d %s", r.code, r.stderr)
	}
	if r = run(t, "check"); r.code != 2 || !strings.Contains(r.stderr, "--plan") {
		t.Fatalf("no plan: exit %d %s", r.code, r.stderr)
	}
	if r = run(t, "check", "--plan", full, "--max-increase", "10%"); r.code != 2 || !strings.Contains(r.stderr, "baseline") {
		t.Fatalf("--max-increase without baseline: exit %d %s", r.code, r.stderr)
	}
}

func TestDiffGolden(t *testing.T) {
	t.Parallel()
	small, full := plansFor(t)
	for _, tc := range []struct {
		format, golden string
	}{{"table", "diff.golden"}, {"markdown", "diff_md.golden"}} {
		r := run(t, "diff", small, full, "--format", tc.format, "--monthly-requests", "50000000")
		if r.code != 0 {
			t.Fatalf("exit %d %s", r.code, r.stderr)
		}
		golden(t, filepath.Join("gate", tc.golden), strings.ReplaceAll(r.stdout, filepath.Dir(full), "PLANS"))
	}
	// a tight size cap trims buffer rows but keeps the comment whole
	r := run(t, "diff", small, full, "--format", "markdown", "--max-bytes", "1800")
	if r.code != 0 || len(r.stdout) > 1800 || !strings.Contains(r.stdout, "more buffers left out") || !strings.HasSuffix(r.stdout, "</details>\n") {
		t.Fatalf("capped diff (%d bytes):\n%s", len(r.stdout), r.stdout)
	}
	var d map[string]any
	if r = run(t, "diff", small, full, "--format", "json"); json.Unmarshal([]byte(r.stdout), &d) != nil {
		t.Fatalf("json diff: %s", r.stdout)
	}
}
