package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
)

// v2Model is a batched v2 model server in front of the built-in encoder, as Triton serves a BERT: input_ids and
// attention_mask [n, s] in, the first token's hidden state [n, hidden] out. fail503 answers the next calls with a
// 503; badRequest answers with a 400.
type v2Model struct {
	enc        *Builtin
	calls      atomic.Int64
	fail503    atomic.Int64
	badRequest atomic.Bool
	lastAuth   atomic.Value
}

func (m *v2Model) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.lastAuth.Store(r.Header.Get("Authorization"))
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/models/enc/ready":
		w.WriteHeader(http.StatusOK)
		return
	case r.Method == http.MethodPost && r.URL.Path == "/v2/models/enc/infer":
	default:
		http.NotFound(w, r)
		return
	}
	m.calls.Add(1)
	if m.fail503.Add(-1) >= 0 {
		http.Error(w, `{"error": "model is loading"}`, http.StatusServiceUnavailable)
		return
	}
	if m.badRequest.Load() {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error": "unexpected input attention_mask"}`))
		return
	}
	var req struct {
		Inputs []upstreamTensor `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 2 {
		http.Error(w, `{"error": "bad request"}`, http.StatusBadRequest)
		return
	}
	ids, mask := req.Inputs[0], req.Inputs[1]
	n, s := ids.Shape[0], ids.Shape[1]
	b := &Batch{PadTo: s}
	for i := range n {
		var in []int64
		for p := range s {
			if mask.Data[i*s+p] == 1 {
				in = append(in, ids.Data[i*s+p])
			}
		}
		b.Inputs = append(b.Inputs, in)
	}
	out, err := m.enc.Infer(r.Context(), b)
	if err != nil {
		http.Error(w, `{"error": "`+err.Error()+`"}`, http.StatusInternalServerError)
		return
	}
	var flat []float32
	for _, o := range out {
		flat = append(flat, o...)
	}
	json.NewEncoder(w).Encode(map[string]any{"model_name": "enc", "outputs": []map[string]any{
		{"name": "hidden", "datatype": "FP32", "shape": []int{n, len(out[0])}, "data": flat}}})
}

func TestUpstreamBackendBatchesThroughAV2Server(t *testing.T) {
	enc, err := NewBuiltin("bert-tiny", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	model := &v2Model{enc: enc}
	srv := httptest.NewServer(model)
	defer srv.Close()
	up, err := NewUpstream(srv.URL, "enc", "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 3, TimeoutMs: 50, MemoryMB: 1024}),
		up, Options{Backoff: time.Millisecond})
	res := submitAll(g, [][]int64{ids(3, 4), ids(8, 9), ids(5, 2)}, Normal)
	if model.calls.Load() != 1 {
		t.Fatalf("%d upstream calls for one batch", model.calls.Load())
	}
	if model.lastAuth.Load() != "Bearer tok" {
		t.Errorf("authorization %q", model.lastAuth.Load())
	}
	// each caller gets what the model gives its input alone
	for i, in := range [][]int64{ids(3, 4), ids(8, 9), ids(5, 2)} {
		want, err := enc.Infer(context.Background(), &Batch{Inputs: [][]int64{in}, PadTo: len(in)})
		if err != nil || res[i].Err != nil {
			t.Fatal(err, res[i].Err)
		}
		for j := range want[0] {
			if d := want[0][j] - res[i].Output[j]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("request %d unit %d: %v via the upstream, %v alone", i, j, res[i].Output[j], want[0][j])
			}
		}
	}

	// 503s are retried; a 400 is returned at once
	model.fail503.Store(2)
	model.calls.Store(0)
	if r := g.Submit(context.Background(), ids(1, 3), Normal); r.Err != nil || model.calls.Load() != 3 {
		t.Fatalf("after two 503s: %v, %d calls", r.Err, model.calls.Load())
	}
	model.fail503.Store(0)
	model.badRequest.Store(true)
	model.calls.Store(0)
	r := g.Submit(context.Background(), ids(1, 3), Normal)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "unexpected input attention_mask") || model.calls.Load() != 1 {
		t.Fatalf("400: %v after %d calls", r.Err, model.calls.Load())
	}
}

func TestUpstreamURLsAndFailures(t *testing.T) {
	for _, tc := range []struct{ url, model, want string }{
		{"http://h:8000", "bert", "http://h:8000/v2/models/bert/infer"},
		{"http://h:8000/", "bert", "http://h:8000/v2/models/bert/infer"},
		{"https://h/v2/models/enc", "", "https://h/v2/models/enc/infer"},
		{"http://h/v2/models/enc/infer", "ignored", "http://h/v2/models/enc/infer"},
	} {
		u, err := NewUpstream(tc.url, tc.model, "", nil)
		if err != nil || u.infer != tc.want {
			t.Errorf("%s + %s: %v %v, want %s", tc.url, tc.model, u, err, tc.want)
		}
	}
	for _, bad := range []string{"ftp://h/v2/models/x", "http://", "http://h:8000"} {
		if _, err := NewUpstream(bad, "", "", nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// nothing listens: the check fails at start, and a call is retryable
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL
	srv.Close()
	up, _ := NewUpstream(dead, "enc", "", nil)
	if err := up.Check(nil); err == nil {
		t.Error("a dead upstream passed the check")
	}
	if _, err := up.Infer(context.Background(), &Batch{Inputs: [][]int64{{1}}, PadTo: 1}); !IsRetryable(err) {
		t.Errorf("connection refused is not retryable: %v", err)
	}
	// a server that answers the wrong number of rows
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"outputs": [{"name": "o", "shape": [3, 1], "datatype": "FP32", "data": [1, 2, 3]}]}`))
	}))
	defer wrong.Close()
	up, _ = NewUpstream(wrong.URL, "enc", "", nil)
	_, err := up.Infer(context.Background(), &Batch{Inputs: [][]int64{{1}, {2}}, PadTo: 1})
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "not 2 rows") {
		t.Errorf("wrong rows: %v", err)
	}
	var re *RetryableError
	if errors.As(err, &re) {
		t.Error("a malformed answer should not be retried")
	}
}
