package dispatch

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/inferplan/inferplan/planner/plan"
)

// FuzzNumbers checks the hand-written array decoder against encoding/json on every valid JSON input: both must
// accept the same inputs and read the same values.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{`[1, 2, 3]`, `[]`, ` [ -0.5e3 ,7 ] `, `null`, `[1,[2]]`, `["1"]`, `[1e400]`, `[true]`, `{}`, `[,]`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var want []float64
		wantErr := json.Unmarshal(data, &want)
		var got Numbers
		gotErr := json.Unmarshal(data, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%q: encoding/json says %v, Numbers says %v", data, wantErr, gotErr)
		}
		if wantErr == nil && !slices.Equal([]float64(got), want) {
			t.Fatalf("%q: encoding/json reads %v, Numbers reads %v", data, want, got)
		}
	})
}

// FuzzInfer sends arbitrary bodies to the infer endpoint: every one gets 200 or a 4xx with a JSON reason, never a
// panic or a 5xx.
func FuzzInfer(f *testing.F) {
	for _, s := range []string{
		`{"id": "a", "inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}]}`,
		`{"inputs": [{"name": "x", "shape": [2], "datatype": "INT32", "data": [5, 6]}], "parameters": {"priority": "high"}}`,
		`{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1.5]}]}`,
		`{"inputs": []}`, `{}`, `[]`, `{"inputs": [{"data": [1]}]} {}`, "",
	} {
		f.Add([]byte(s))
	}
	g, err := New(testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), &Echo{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := NewServer(g, ServerOptions{ModelName: "m", MaxInput: 64})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", strings.NewReader(string(body))))
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%q: answer %d is not JSON: %q", body, w.Code, w.Body.String())
		}
		switch {
		case w.Code == http.StatusOK:
		case w.Code >= 400 && w.Code < 500:
			if reason, _ := out["error"].(string); reason == "" {
				t.Fatalf("%q: %d without a reason", body, w.Code)
			}
		default:
			t.Fatalf("%q: status %d %v", body, w.Code, out)
		}
	})
}
