package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner"
)

// scenarioDir is the cluster scenario's folder; workloads written by the tests point into it.
const scenarioDir = "../../testdata/cluster"

func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(scenarioDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeWorkload writes a workload document into a temporary folder, with {dir} standing for the scenario's.
func writeWorkload(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "workload.yaml")
	doc = strings.ReplaceAll(doc, "{dir}", abs(t, "."))
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const oneService = `services:
  - name: embed
    profiles: [{dir}/gpu-h100-bert-base-float16.json]
    trace: {file: {dir}/azure-conv-30m.csv}
    max_size: 512
    slo: {percentile: 99, latency_ms: 150}
`

func TestWorkloadReadsRelativePathsAndTruncatesSizes(t *testing.T) {
	w, err := ReadWorkload(filepath.Join(scenarioDir, "workload.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Services) != 3 || w.Services[2].Model != "bert-large" || w.Services[0].SLO.LatencyMs != 50 {
		t.Fatalf("services %+v", w.Services)
	}
	for _, s := range w.Services {
		for _, q := range s.Trace.Requests {
			if q.Size > 512 {
				t.Fatalf("%s: a request of %g tokens was not truncated at max_size 512", s.Name, q.Size)
			}
		}
	}
	// the profile files keep their names as written; the trace records what it had before truncation
	if got := w.Services[1].ProfilePaths[0]; got != "gpu-h100-bert-base-float16.json" {
		t.Errorf("profile path %q", got)
	}
	if ref := w.Services[0].TraceRef; ref.Requests != 5740 || ref.SHA256 == "" {
		t.Errorf("trace reference %+v", ref)
	}
}

func TestWorkloadErrorsNameFileLineAndField(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field, words   string
	}{
		{"missing profile", "gpu-h100-bert-base-float16.json", "no-such-profile.json", 3, "services[0].profiles[0]", "no such file"},
		{"missing trace", "azure-conv-30m.csv", "no-such-trace.csv", 4, "services[0].trace.file", "no such file"},
		{"unknown key", "max_size: 512", "max_sise: 512", 5, "", "max_sise"},
		{"percentile", "percentile: 99", "percentile: 101", 6, "services[0].slo.percentile", "(0, 100]"},
		{"latency", "latency_ms: 150", "latency_ms: -3", 6, "services[0].slo.latency_ms", "latency bound"},
		{"no slo", "    slo: {percentile: 99, latency_ms: 150}\n", "", 2, "services[0].slo.latency_ms", "no SLO"},
		{"size cap", "max_size: 512", "max_size: 0", 5, "services[0].max_size", "positive"},
		{"no name", "name: embed", "name: \"\"", 2, "services[0].name", "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(oneService, tc.from, tc.to, 1)
			path := writeWorkload(t, doc)
			_, err := ReadWorkload(path)
			var ie *inputerr.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
			if ie.File != path && !strings.Contains(err.Error(), tc.to) {
				t.Errorf("error names %q, want the workload file", ie.File)
			}
			if ie.Line != tc.line || ie.Field != tc.field || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err = %q (line %d, field %q); want line %d, field %q, words %q", err, ie.Line, ie.Field, tc.line, tc.field, tc.words)
			}
		})
	}
}

func TestWorkloadWithAnEmptyTrace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.csv"), []byte("timestamp,size\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(oneService, "{dir}/azure-conv-30m.csv", filepath.Join(dir, "empty.csv"), 1)
	_, err := ReadWorkload(writeWorkload(t, doc))
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.Field != "services[0].trace.file" || ie.Line != 4 || !strings.Contains(err.Error(), "no requests") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownInstanceTypeNamesItsLine(t *testing.T) {
	w, err := ReadWorkload(writeWorkload(t, oneService+"instance_types: [p5.4xlarge, p9.mega]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(context.Background(), w, Options{NoBaselines: true})
	var ie *inputerr.Error
	if !errors.As(err, &ie) || ie.Line != 7 || ie.Field != "instance_types[1]" || !strings.Contains(err.Error(), "p9.mega") {
		t.Fatalf("err = %v", err)
	}
}

func TestSLOBelowEveryHardwaresBatchOneLatencyIsInfeasible(t *testing.T) {
	// bert-base takes 7.35 ms at 1 × 512 tokens alone on the H100: no fleet meets p99 ≤ 2 ms
	w, err := ReadWorkload(writeWorkload(t, strings.Replace(oneService, "latency_ms: 150", "latency_ms: 2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(context.Background(), w, Options{NoBaselines: true})
	var inf *planner.InfeasibleError
	if !errors.As(err, &inf) {
		t.Fatalf("err = %v, want infeasible", err)
	}
	if inf.Field != "services[0].slo.latency_ms" || inf.Line != 6 || inf.Service != "embed" || !(inf.SmallestFeasibleMs > 2) {
		t.Errorf("infeasible %+v", inf)
	}
	if !strings.Contains(err.Error(), "workload.yaml:6") {
		t.Errorf("message %q does not name the file and line", err)
	}
}
