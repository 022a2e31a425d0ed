package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/inferplan/inferplan/internal/inputerr"
)

// FuzzParseWorkload checks the workload parser never panics and reports every failure as an input error
// (exit 2, naming the file). Seeds: the scenario's workload files and testdata/fuzz/FuzzParseWorkload.
func FuzzParseWorkload(f *testing.F) {
	for _, name := range []string{"workload.yaml", "workload-mix.yaml"} {
		data, err := os.ReadFile(filepath.Join(scenarioDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("services:\n  - name: a\n    profiles: [p.json]\n    trace: {file: t.csv}\n    slo: {latency_ms: 10}\ninstance_types: [x]\n"))
	f.Add([]byte("services: [{name: a, slo: {latency_ms: .nan}}]"))
	path := filepath.Join(scenarioDir, "fuzz.yaml") // relative paths resolve into the scenario's folder
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkload(data, path)
		if err == nil {
			if len(w.Services) == 0 {
				t.Fatal("a workload without services parsed")
			}
			return
		}
		var ie *inputerr.Error
		if !errors.As(err, &ie) || ie.File == "" {
			t.Fatalf("%q: error %v is not an input error naming the file", data, err)
		}
	})
}
