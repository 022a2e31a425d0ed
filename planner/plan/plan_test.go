package plan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

func TestRangesRouteByContract(t *testing.T) {
	bufs := []Buffer{{MinSize: 1, MaxSize: 64}, {MinSize: 64.5, MaxSize: 100}, {MinSize: 120, MaxSize: NoUpperBound}}
	r := Ranges(bufs)
	for size, want := range map[float64]int{0.5: 0, 1: 0, 64: 0, 64.2: 1, 64.5: 1, 100: 1, 110: 2, 1e20: 2} {
		if got := r.Index(size); got != want {
			t.Errorf("buffer for %v = %d, want %d", size, got, want)
		}
	}
	// a size above the last max_size joins the last buffer
	if got := Ranges(bufs[:2]).Index(1000); got != 1 {
		t.Errorf("above the last buffer: %d", got)
	}
}

const good = `{
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
}`

func TestParseContractExample(t *testing.T) {
	p, err := Parse([]byte(good), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	bufs := p.Lambda.Buffers
	if len(bufs) != 2 || bufs[1].MaxSize != NoUpperBound || p.Estimate.Invocations != 1063 {
		t.Fatalf("plan = %+v", p)
	}
	if bufs[0].TimeoutMicros() != 900_000 {
		t.Fatalf("timeout µs = %d", bufs[0].TimeoutMicros())
	}
}

func TestParseErrorsNameLineAndField(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		line           int
		field, words   string
	}{
		{"overlap", `"min_size": 64.5`, `"min_size": 60`, 8, "buffers[1].min_size", "overlaps"},
		{"batch zero", `"batch_size": 4`, `"batch_size": 0`, 8, "buffers[1].batch_size", "below 1"},
		{"negative timeout", `"timeout_ms": 900`, `"timeout_ms": -1`, 7, "buffers[0].timeout_ms", "non-negative"},
		{"no memory", `, "memory_mb": 1792`, ``, 8, "buffers[1].memory_mb", "missing"},
		{"version", `"version": 1`, `"version": 3`, 2, "version", "not supported"},
		{"platform", `"platform": "lambda"`, `"platform": "k8s"`, 3, "platform", "k8s"},
		{"percentile", `"percentile": 95`, `"percentile": 0`, 4, "slo", "percentile"},
		{"string batch", `"batch_size": 8`, `"batch_size": "8"`, 7, "buffers.batch_size", "want a int"},
		{"syntax", `"buffers": [`, `"buffers": [[`, 10, "", "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(good, tc.from, tc.to, 1)
			_, err := Parse([]byte(doc), "p.json")
			var ie *inputerr.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v", err)
			}
			if ie.File != "p.json" || ie.Line != tc.line || !strings.Contains(ie.Field, tc.field) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err = %q (line %d, field %q); want line %d, field %q, words %q", err, ie.Line, ie.Field, tc.line, tc.field, tc.words)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	p, err := Parse([]byte(good), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(data, "again.json")
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := q.Marshal()
	if string(data) != string(data2) {
		t.Fatal("marshal is not stable")
	}
}

// TestV1FilesReadAndWriteUnchanged reads Lambda plans written by the tool before plans became platform-tagged
// documents (v1-example-window.json: `plan --example --window 10m` at commit dc5acae, every field a Lambda plan
// has, schedule included; the gateway test's plan) and writes them again: the bytes must not change.
func TestV1FilesReadAndWriteUnchanged(t *testing.T) {
	for _, path := range []string{"testdata/v1-example-window.json", "../../loadgen/testdata/azure-conv-bert-tiny-plan.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data, path)
		if err != nil {
			t.Fatal(err)
		}
		if p.Lambda == nil || len(p.Lambda.Buffers) == 0 || len(p.Baselines) != 2 || len(p.Baselines[0].Buffers) == 0 {
			t.Fatalf("%s: read %+v", path, p)
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s changed when written again:\n%s", path, firstDiff(data, out))
		}
	}
}

// firstDiff shows where two documents part.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(i-80, 0)
	return fmt.Sprintf("want …%s…\ngot  …%s…", a[lo:min(i+80, len(a))], b[lo:min(i+80, len(b))])
}

// TestScaledClusterPlanRoundTripAndErrors reads a scaled cluster plan the tool wrote for
// testdata/cluster/autoscale.yaml (1-minute windows, 30 s start-up), writes it again unchanged, and names the
// line and field of a schedule or spill rule that breaks the rules.
func TestScaledClusterPlanRoundTripAndErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/cluster-scaled-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data, "scaled.json")
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Cluster.Schedule
	if sc == nil || len(sc.Windows) == 0 || p.Cluster.Services[0].Forecast == nil || len(p.Cluster.Services[0].Forecast.Backtest) == 0 {
		t.Fatalf("read no schedule or forecast: %+v", p.Cluster)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("scaled plan changed when written again:\n%s", firstDiff(data, out))
	}
	doc := string(data)
	for _, tc := range []struct {
		name, from, to string
		field, words   string
	}{
		{"no window length", `"window_s": 60`, `"window_s": 0`, "schedule", "window_s"},
		{"too few counts", `"counts": [`, `"counts": [1, `, "schedule.windows[0].counts", "counts for"},
		{"too many instances", "\"counts\": [\n          2,", "\"counts\": [\n          99,", "schedule.windows[0].counts", "outside"},
		{"negative spill threshold", `"threshold_ms": `, `"threshold_ms": -`, "services[0].spill", "threshold_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "scaled.json")
			var ie *inputerr.Error
			if !errors.As(err, &ie) || ie.Field != tc.field || ie.Line == 0 || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err = %v (line %d, field %q), want field %q and %q", err, lineOf(err), fieldOf(err), tc.field, tc.words)
			}
		})
	}
}

// TestClusterPlanRoundTripAndErrors reads a cluster plan the tool wrote for testdata/cluster, writes it again
// unchanged, and names the line and field of what breaks its rules.
func TestClusterPlanRoundTripAndErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/cluster-plan.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data, "cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	if p.Cluster == nil || len(p.Cluster.Services) != 3 || len(p.Estimate.Services) != 3 || p.Estimate.CostPerHourUSD <= 0 {
		t.Fatalf("read %+v", p)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("cluster plan changed when written again:\n%s", firstDiff(data, out))
	}
	doc := string(data)
	for _, tc := range []struct {
		name, from, to string
		field, words   string
	}{
		{"no instances", `"count": 1`, `"count": 0`, "pools[0].count", "below 1"},
		{"bad sharing", `"sharing": "time-slice"`, `"sharing": "spatial"`, "pools[0].sharing", "spatial"},
		{"unknown service", `"service": "doc-rerank"`, `"service": "nobody"`, "pools[0].service", "nobody"},
		{"bad slo", `"latency_ms": 50`, `"latency_ms": -50`, "services[0].slo", "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "cluster.json")
			var ie *inputerr.Error
			if !errors.As(err, &ie) || ie.Field != tc.field || ie.Line == 0 || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err = %v (line %d, field %q), want field %q and %q", err, lineOf(err), fieldOf(err), tc.field, tc.words)
			}
		})
	}
}

func lineOf(err error) int {
	var ie *inputerr.Error
	if errors.As(err, &ie) {
		return ie.Line
	}
	return -1
}

func fieldOf(err error) string {
	var ie *inputerr.Error
	if errors.As(err, &ie) {
		return ie.Field
	}
	return ""
}
