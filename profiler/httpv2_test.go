package profiler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/inferplan/inferplan/profiler/encoder"
	"github.com/inferplan/inferplan/profiler/profile"
)

// v2Server serves the built-in bert-tiny over the Open Inference Protocol v2 — a real model behind a real
// server, as Triton would serve one.
func v2Server(t *testing.T, fail *atomic.Bool) *httptest.Server {
	t.Helper()
	m, err := encoder.New(encoder.Models["bert-tiny"], 1)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/tiny", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error": "unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"name": "tiny", "platform": "inferplan_go", "inputs": [{"name": "tokens", "datatype": "INT64", "shape": [-1, -1]}]}`))
	})
	mux.HandleFunc("POST /v2/models/tiny/infer", func(w http.ResponseWriter, r *http.Request) {
		var req InferRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || req.Inputs[0].Name != "tokens" || req.Inputs[0].Datatype != "INT64" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error": "want one INT64 input named tokens"}`))
			return
		}
		if fail != nil && fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error": "model is loading"}`))
			return
		}
		in := req.Inputs[0]
		b, s := in.Shape[0], in.Shape[1]
		ids := make([][]int32, b)
		for i := range ids {
			ids[i] = make([]int32, s)
			for p := range ids[i] {
				ids[i][p] = int32(in.Data[i*s+p] % 8192)
			}
		}
		if _, err := m.Forward(ids, 1); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		w.Write([]byte(`{"model_name": "tiny", "outputs": []}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPV2Target(t *testing.T) {
	var fail atomic.Bool
	srv := v2Server(t, &fail)
	hdr := http.Header{"Authorization": {"Bearer s3cret"}}
	h, err := NewHTTPV2(context.Background(), srv.URL+"/v2/models/tiny", 2, hdr, "cpu", "test host")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if info := h.Info(); info.Model != "tiny" || info.Platform != profile.CPU || !strings.Contains(info.Source, "2 in flight") {
		t.Fatalf("info %+v", info)
	}
	ms, err := Measure(context.Background(), h, Grid([]int{1, 4}, []int{16}), Options{MaxRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !(ms[1].LatencyMs > 0) {
		t.Fatalf("%+v", ms)
	}
	fail.Store(true)
	if _, err := h.Run(context.Background(), 1, 8); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "model is loading") {
		t.Fatalf("503: %v", err)
	}
	// without the token the metadata call fails with the server's reason
	if _, err := NewHTTPV2(context.Background(), srv.URL+"/v2/models/tiny", 1, nil, "cpu", ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("no auth: %v", err)
	}
	if _, err := NewHTTPV2(context.Background(), srv.URL+"/models/tiny", 1, hdr, "cpu", ""); err == nil {
		t.Fatal("a URL without /v2/models/ accepted")
	}
}
