package profile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

const small = `{
  "version": 1,
  "model": "distilbert",
  "size_unit": "tokens",
  "source": "test",
  "calibration": {"runs": 3, "note": "unknown top-level field"},
  "measurements": [
    {"platform": "lambda", "hardware": "lambda-x86_64", "memory_mb": 2048, "batch": 4, "size": 128, "latency_ms": 123.4},
    {"platform": "lambda", "hardware": "lambda-x86_64", "memory_mb": 2048, "batch": 1, "size": 128, "latency_ms": 50,
     "latency_p95_ms": 61.5, "runner": {"id": "r1"}, "tags": ["a", "b"]}
  ]
}
`

func TestParseRoundTripKeepsUnknownFields(t *testing.T) {
	p, err := Parse([]byte(small), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Measurements) != 2 || p.Measurements[1].Line != 9 || p.Measurements[0].Line != 8 {
		t.Fatalf("measurements = %+v", p.Measurements)
	}
	if got := p.Measurements[1].Optional["latency_p95_ms"]; got != 61.5 {
		t.Fatalf("latency_p95_ms = %v", got)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`"calibration": {"runs":3,"note":"unknown top-level field"}`,
		`"runner": {"id":"r1"}`,
		`"tags": ["a","b"]`,
		`"latency_p95_ms": 61.5`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rewritten profile lacks %s:\n%s", want, out)
		}
	}
	// and the rewrite reads back to the same thing, byte for byte on a second rewrite
	p2, err := Parse(buf.Bytes(), "p2.json")
	if err != nil {
		t.Fatalf("re-read: %v\n%s", err, out)
	}
	var buf2 bytes.Buffer
	if err := p2.Write(&buf2); err != nil {
		t.Fatal(err)
	}
	if buf2.String() != out {
		t.Fatalf("second rewrite differs:\n%s\n---\n%s", out, buf2.String())
	}
}

func TestParseErrors(t *testing.T) {
	m := func(fields string) string {
		return `{"version": 1, "measurements": [
  {"platform": "cpu", "batch": 1, "size": 8, "latency_ms": 3},
  {` + fields + `}
]}`
	}
	for _, tc := range []struct {
		name, doc    string
		line         int
		field, words string
	}{
		{"lambda without memory", m(`"platform": "lambda", "batch": 1, "size": 8, "latency_ms": 3`), 3, "measurements[1].memory_mb", "missing"},
		{"negative latency", m(`"platform": "cpu", "batch": 2, "size": 8, "latency_ms": -3`), 3, "measurements[1].latency_ms", "negative"},
		{"missing latency", m(`"platform": "cpu", "batch": 2, "size": 8`), 3, "measurements[1].latency_ms", "missing"},
		{"duplicate point", m(`"platform": "cpu", "batch": 1, "size": 8, "latency_ms": 4`), 3, "measurements[1]", "duplicate measurement of batch 1, size 8 on cpu (first at line 2)"},
		{"bad platform", m(`"platform": "tpu", "batch": 1, "size": 8, "latency_ms": 4`), 3, "measurements[1].platform", "tpu"},
		{"batch zero", m(`"platform": "cpu", "batch": 0, "size": 8, "latency_ms": 4`), 3, "measurements[1].batch", "below 1"},
		{"fractional batch", m(`"platform": "cpu", "batch": 1.5, "size": 8, "latency_ms": 4`), 3, "measurements[1].batch", "integer"},
		{"string size", m(`"platform": "cpu", "batch": 1, "size": "8", "latency_ms": 4`), 3, "measurements[1].size", "number"},
		{"lambda memory too big", m(`"platform": "lambda", "memory_mb": 20000, "batch": 1, "size": 8, "latency_ms": 4`), 3, "memory_mb", "10,240"},
		{"bad sharing", m(`"platform": "gpu", "sharing": "vgpu", "batch": 1, "size": 8, "latency_ms": 4`), 3, "sharing", "vgpu"},
		{"no version", `{"measurements": []}`, 1, "version", "missing"},
		{"version 2", `{"version": 2, "measurements": []}`, 1, "version", "not supported"},
		{"no measurements", `{"version": 1, "measurements": []}`, 1, "measurements", "no measurements"},
		{"syntax error", "{\"version\": 1,\n\"measurements\": [\n{\"platform\": }\n]}", 3, "", "invalid JSON"},
		{"truncated", "{\"version\": 1,\n\"measurements\": [\n", 3, "", "end of file"},
		{"not an object", `[1,2]`, 1, "", "JSON object"},
		{"duplicate key", `{"version": 1, "version": 1}`, 1, "version", "twice"},
		{"trailing data", `{"version": 1, "measurements": [{"platform": "cpu", "batch": 1, "size": 8, "latency_ms": 3}]} {}`, 1, "", "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "bad.json")
			var ie *inputerr.Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an input error", err)
			}
			if ie.File != "bad.json" || ie.Line != tc.line || !strings.Contains(ie.Field, tc.field) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err = %q (line %d, field %q); want line %d, field %q, words %q", err, ie.Line, ie.Field, tc.line, tc.field, tc.words)
			}
		})
	}
}

func TestColocatedWorkersAreNotDuplicates(t *testing.T) {
	doc := `{"version": 1, "measurements": [
 {"platform": "gpu", "sharing": "mps", "colocated": 2, "mps_active_thread_pct": 50, "batch": 8, "size": 128, "latency_p50_ms": 5.1},
 {"platform": "gpu", "sharing": "mps", "colocated": 2, "mps_active_thread_pct": 50, "batch": 8, "size": 128, "latency_p50_ms": 5.3},
 {"platform": "gpu", "sharing": "mps", "colocated": 2, "mps_active_thread_pct": 50, "batch": 8, "size": 128, "latency_p50_ms": 5.2}
]}`
	_, err := Parse([]byte(doc), "c.json")
	if err == nil || !strings.Contains(err.Error(), "duplicate") || !strings.Contains(err.Error(), "c.json:4") {
		t.Fatalf("a third row for 2 co-located workers: err = %v, want a duplicate error on line 4", err)
	}
	two := strings.Replace(doc, ",\n {\"platform\": \"gpu\", \"sharing\": \"mps\", \"colocated\": 2, \"mps_active_thread_pct\": 50, \"batch\": 8, \"size\": 128, \"latency_p50_ms\": 5.2}", "", 1)
	p, err := Parse([]byte(two), "c.json")
	if err != nil {
		t.Fatal(err)
	}
	if p.Measurements[1].LatencyMs != 5.3 {
		t.Fatalf("latency from latency_p50_ms = %v, want 5.3", p.Measurements[1].LatencyMs)
	}
}

// TestSharedProfilesRead reads every measured profile of the shared data folder when it is beside the checkout.
func TestSharedProfilesRead(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/data/profiles/*.json")
	if len(files) == 0 {
		t.Skip("../shared/data/profiles not beside this checkout")
	}
	for _, f := range files {
		if strings.HasSuffix(f, "size-mix.json") {
			continue
		}
		p, err := ReadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(buf.Bytes(), f+" (rewritten)"); err != nil {
			t.Errorf("rewrite of %s does not read back: %v", f, err)
		}
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "nope.json"))
	if !inputerr.Is(err) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkParseDeepSpeech(b *testing.B) {
	data, err := os.ReadFile("../../internal/example/data/lambda-deepspeech.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "ds.json"); err != nil {
			b.Fatal(err)
		}
	}
}
