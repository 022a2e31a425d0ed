package dispatch

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferplan/inferplan/planner/plan"
)

func newTestServer(t *testing.T, g *Gateway, opt ServerOptions) *httptest.Server {
	t.Helper()
	if opt.ModelName == "" {
		opt.ModelName = "m"
	}
	srv := httptest.NewServer(NewServer(g, opt))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("response %d is not JSON: %q", resp.StatusCode, data)
	}
	return resp.StatusCode, resp.Header, out
}

func TestInferAnswersEachCallerItsOwnSlice(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 1000, MemoryMB: 1024}), &Echo{}, Options{})
	srv := newTestServer(t, g, ServerOptions{})
	var wg sync.WaitGroup
	for i, body := range []string{
		`{"id": "a", "inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [11, 2, 3]}]}`,
		`{"id": "b", "inputs": [{"name": "input_ids", "shape": [5], "datatype": "INT32", "data": [22, 2, 3, 4, 5]}]}`,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, out := post(t, srv.URL+"/v2/models/m/infer", body)
			if code != http.StatusOK {
				t.Errorf("request %d: %d %v", i, code, out)
				return
			}
			outs := out["outputs"].([]any)[0].(map[string]any)
			data := outs["data"].([]any)
			first, n := []float64{11, 22}[i], []float64{3, 5}[i]
			// its own first id and length, batched with the other, padded to 5
			if data[0] != first || data[1] != n || data[2] != 2.0 || data[3] != 5.0 {
				t.Errorf("request %d: data %v", i, data)
			}
			if out["id"] != []string{"a", "b"}[i] || out["model_name"] != "m" {
				t.Errorf("request %d: id %v model %v", i, out["id"], out["model_name"])
			}
			params := out["parameters"].(map[string]any)
			if params["inferplan_buffer"] != 1.0 || params["inferplan_batch_size"] != 2.0 {
				t.Errorf("request %d: parameters %v", i, params)
			}
		}()
	}
	wg.Wait()
}

func TestMalformedRequestsGet400WithAReason(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), &Echo{}, Options{})
	srv := newTestServer(t, g, ServerOptions{MaxInput: 8, MaxBodyByte: 2048})
	input := func(fields string) string { return `{"inputs": [{` + fields + `}]}` }
	for _, tc := range []struct {
		name, body string
		code       int
		reason     string
	}{
		{"not JSON", `{"inputs": [`, 400, "not a v2 inference request"},
		{"unknown field", `{"inputs": [], "extra": 1}`, 400, `unknown field "extra"`},
		{"trailing data", input(`"name": "x", "shape": [1], "datatype": "INT64", "data": [1]`) + `{}`, 400, "trailing data"},
		{"no input", `{"inputs": []}`, 400, "exactly one input"},
		{"two inputs", `{"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}, {"name": "b", "shape": [1], "datatype": "INT64", "data": [1]}]}`, 400, "got 2"},
		{"float datatype", input(`"name": "x", "shape": [1], "datatype": "FP32", "data": [1]`), 400, `datatype "FP32"`},
		{"shape mismatch", input(`"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [1, 2]`), 400, "does not match its 2 values"},
		{"a batch", input(`"name": "x", "shape": [2, 1], "datatype": "INT64", "data": [1, 2]`), 400, "one request at a time"},
		{"empty", input(`"name": "x", "shape": [1, 0], "datatype": "INT64", "data": []`), 400, "is empty"},
		{"negative id", input(`"name": "x", "shape": [2], "datatype": "INT64", "data": [1, -3]`), 400, "value 1: -3 is not a token id"},
		{"fractional id", input(`"name": "x", "shape": [1], "datatype": "INT64", "data": [1.5]`), 400, "1.5 is not a token id"},
		{"string data", input(`"name": "x", "shape": [1], "datatype": "INT64", "data": ["a"]`), 400, "not a v2 inference request"},
		{"bad priority", `{"parameters": {"priority": "urgent"}, "inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`, 400, `priority "urgent"`},
		{"priority not a string", `{"parameters": {"priority": 3}, "inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`, 400, "not a string"},
		{"too many tokens", input(`"name": "x", "shape": [9], "datatype": "INT64", "data": [1,1,1,1,1,1,1,1,1]`), 413, "above the limit of 8"},
		{"body too big", input(`"name": "x", "shape": [1], "datatype": "INT64", "data": [1]`) + strings.Repeat(" ", 3000), 413, "above 2048 bytes"},
	} {
		code, _, out := post(t, srv.URL+"/v2/models/m/infer", tc.body)
		if code != tc.code || !strings.Contains(out["error"].(string), tc.reason) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, out["error"], tc.code, tc.reason)
		}
	}
	if code, _, out := post(t, srv.URL+"/v2/models/other/infer", input(`"name": "x", "shape": [1], "datatype": "INT64", "data": [1]`)); code != 404 || !strings.Contains(out["error"].(string), `serves "m"`) {
		t.Errorf("wrong model: %d %v", code, out)
	}
}

func TestAuthToken(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), &Echo{}, Options{})
	srv := newTestServer(t, g, ServerOptions{AuthToken: "s3cret"})
	body := `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
		if code, hdr, _ := post(t, srv.URL+"/v2/models/m/infer", body, h...); code != 401 || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("header %v: %d", h, code)
		}
	}
	// the scheme is case-insensitive (RFC 9110 §11.1); the token is not
	for _, h := range []string{"Bearer s3cret", "bearer s3cret", "BEARER  s3cret "} {
		if code, _, _ := post(t, srv.URL+"/v2/models/m/infer", body, "Authorization", h); code != 200 {
			t.Errorf("%q: %d", h, code)
		}
	}
	if code, _, _ := post(t, srv.URL+"/v2/models/m/infer", body, "Authorization", "Bearer S3CRET"); code != 401 {
		t.Errorf("a token differing in case: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `inferplan_requests_total{buffer="",code="401"} 4`) { // refused requests count too
		t.Errorf("metrics lack the four 401s")
	}
	for path, want := range map[string]int{"/metrics": 401, "/inferplan/plan": 401, "/v2/models/m": 401, "/v2/health/ready": 200, "/v2/health/live": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestOverloadGets429WithRetryAfter(t *testing.T) {
	release := make(chan struct{})
	be := &Echo{Hook: func(int64, *Batch) error { <-release; return nil }}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, TimeoutMs: 2500, MemoryMB: 1024}),
		be, Options{MaxQueue: 4, MaxInFlight: 1})
	srv := newTestServer(t, g, ServerOptions{})
	body := `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, hdr, _ := post(t, srv.URL+"/v2/models/m/infer", body)
			if code == 429 && hdr.Get("Retry-After") != "3" { // the buffer's 2.5 s timeout, rounded up
				t.Errorf("Retry-After %q", hdr.Get("Retry-After"))
			}
			codes <- code
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(release)
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[429] == 0 || n[200] == 0 || n[200]+n[429] != 20 {
		t.Fatalf("codes %v", n)
	}
	if code, _, _ := post(t, srv.URL+"/v2/models/m/infer", body); code != 200 {
		t.Fatalf("after the overload: %d", code)
	}
}

func TestReadinessAndMetadata(t *testing.T) {
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: 9, BatchSize: 1, MemoryMB: 1024},
		plan.Buffer{MinSize: 10, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 2048}), &Echo{}, Options{})
	srv := newTestServer(t, g, ServerOptions{Version: "v9"})
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := get("/v2/models/m"); code != 200 || !strings.Contains(body, `"buffers":2`) || !strings.Contains(body, `"input_ids"`) {
		t.Errorf("metadata: %d %s", code, body)
	}
	if code, body := get("/v2"); code != 200 || !strings.Contains(body, `"version":"v9"`) {
		t.Errorf("server metadata: %d %s", code, body)
	}
	if code, body := get("/inferplan/plan"); code != 200 || !strings.Contains(body, `"memory_mb": 2048`) {
		t.Errorf("plan: %d %s", code, body)
	}
	post(t, srv.URL+"/v2/models/m/infer", `{"inputs": [{"name": "x", "shape": [12], "datatype": "INT64", "data": [1,1,1,1,1,1,1,1,1,1,1,1]}]}`)
	post(t, srv.URL+"/v2/models/other/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`)
	code, body := get("/metrics")
	for _, series := range []string{`inferplan_batches_total{buffer="2",reason="full"} 1`, `inferplan_requests_total{buffer="2",code="200"} 1`,
		`inferplan_requests_total{buffer="",code="404"} 1`, // a request for another model is answered, and counted
		`inferplan_batch_size_bucket{buffer="2",le="1"} 1`, "inferplan_cost_usd_total", "inferplan_queue_depth", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, series) {
			t.Errorf("metrics lack %q", series)
		}
	}
	if code, _ := get("/v2/models/m/ready"); code != 200 {
		t.Errorf("ready: %d", code)
	}
	g.Drain()
	if code, _ := get("/v2/health/ready"); code != 503 {
		t.Errorf("ready while draining: %d", code)
	}
	if code, _ := get("/v2/health/live"); code != 200 {
		t.Errorf("live while draining: %d", code)
	}
	if code, hdr, _ := post(t, srv.URL+"/v2/models/m/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`); code != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("infer while draining: %d", code)
	}
}

func TestBackendErrorIs502(t *testing.T) {
	be := &Echo{Hook: func(int64, *Batch) error { return io.ErrUnexpectedEOF }}
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 1024}), be, Options{})
	srv := newTestServer(t, g, ServerOptions{})
	code, _, out := post(t, srv.URL+"/v2/models/m/infer", `{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}`)
	if code != 502 || !strings.Contains(out["error"].(string), "unexpected EOF") {
		t.Fatalf("%d %v", code, out)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "10.0.0.5:80": false, "example.com:80": false, "nonsense": false} {
		if IsLoopback(addr) != want {
			t.Errorf("%s: %v", addr, !want)
		}
	}
}

func TestServeGCPercent(t *testing.T) {
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 2000}, {1 << 20, 2000}, {4 << 20, 1600}, {16 << 20, 400}, {64 << 20, 100}, {1 << 30, 100},
	} {
		if got := ServeGCPercent(c.live); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
	t.Setenv("GOGC", "250")
	if got := ServeGCPercent(1 << 20); got != 250 {
		t.Errorf("$GOGC 250: %d", got)
	}
	t.Setenv("GOGC", "off")
	if got := ServeGCPercent(1 << 20); got != -1 {
		t.Errorf("$GOGC off: %d", got)
	}
}
