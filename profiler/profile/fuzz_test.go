package profile

import (
	"bytes"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// FuzzParse: any input gives a profile or an input error, never a panic; a profile that parses rewrites to a
// document that parses again to the same number of measurements. Seeds are in testdata/fuzz/FuzzParse
// (cefe9a0664105b3e is the fuzzer's find: a key with a control character was written with Go's \x escape).
// Run with -fuzzminimizetime 5s: the default minute of minimising each new input stalls the fuzzer.
func FuzzParse(f *testing.F) {
	f.Add([]byte(small))
	f.Add([]byte(`{"version": 1, "measurements": [{"platform": "gpu", "sharing": "mps", "colocated": 2, "mps_active_thread_pct": null, "batch": 8, "size": 128, "latency_p50_ms": 5.1}]}`))
	f.Add([]byte(`{"version": 1, "measurements": [{"platform": "lambda", "memory_mb": 1024, "batch": 1, "size": 12, "latency_ms": 1117.2, "x": "\u00e9\n"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.json")
		if err != nil {
			if !inputerr.Is(err) {
				t.Fatalf("error is not an input error: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := p.Write(&buf); err != nil {
			t.Fatal(err)
		}
		q, err := Parse(buf.Bytes(), "rewritten.json")
		if err != nil {
			t.Fatalf("rewrite does not parse: %v\n%s", err, buf.Bytes())
		}
		if len(q.Measurements) != len(p.Measurements) {
			t.Fatalf("rewrite has %d measurements, want %d", len(q.Measurements), len(p.Measurements))
		}
	})
}
