package profiler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/inferplan/inferplan/internal/awstest"
)

func TestParseReport(t *testing.T) {
	for _, tc := range []struct {
		name, logs string
		want       Sample
		err        bool
	}{
		{"warm, tabs", "START RequestId: a Version: $LATEST\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1117.20 ms\tBilled Duration: 1118 ms\tMemory Size: 1024 MB\tMax Memory Used: 402 MB\t\n",
			Sample{LatencyMs: 1117.2, BilledMs: 1118, MaxMemoryUsedMB: 402}, false},
		{"cold, spaces", "REPORT RequestId: b Duration: 12.5 ms Billed Duration: 13 ms Memory Size: 128 MB Max Memory Used: 60 MB Init Duration: 250.75 ms",
			Sample{LatencyMs: 12.5, BilledMs: 13, MaxMemoryUsedMB: 60, InitMs: 250.75, Cold: true}, false},
		{"the last report counts", "REPORT RequestId: x\tDuration: 1 ms\nREPORT RequestId: y\tDuration: 2 ms\tBilled Duration: 2 ms",
			Sample{LatencyMs: 2, BilledMs: 2}, false},
		{"no report", "START RequestId: a\n", Sample{}, true},
		{"no duration", "REPORT RequestId: a\tBilled Duration: 3 ms", Sample{}, true},
	} {
		got, err := ParseReport(tc.logs)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// fakeLambda answers the Lambda REST API as AWS does (the JSON shapes and headers of real responses): the
// function's configuration, configuration updates that stay InProgress for a poll, and invocations with a log tail.
type fakeLambda struct {
	mu          sync.Mutex
	memory      int
	pending     int // polls left before an update shows as Successful
	invokes     int
	throttle    int // throttle the next n invocations
	failAt      int // memory size at which the function fails
	setMemories []int
	cold        bool
	stuck       bool // updates never finish
}

func (f *fakeLambda) config(w http.ResponseWriter, status string) {
	json.NewEncoder(w).Encode(map[string]any{
		"FunctionName": "deepspeech", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:deepspeech",
		"Runtime": "python3.12", "MemorySize": f.memory, "Timeout": 900, "Architectures": []string{"x86_64"},
		"State": "Active", "LastUpdateStatus": status, "Handler": "app.handler", "CodeSize": 52428800,
	})
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "req-1")
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/functions/deepspeech/configuration"):
		status := "Successful"
		if f.stuck {
			status = "InProgress"
		} else if f.pending > 0 {
			f.pending--
			status = "InProgress"
		}
		f.config(w, status)
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/functions/deepspeech/configuration"):
		var in struct{ MemorySize int }
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &in)
		f.memory = in.MemorySize
		f.setMemories = append(f.setMemories, in.MemorySize)
		f.pending = 1
		f.cold = true // a new configuration means new execution environments
		f.config(w, "InProgress")
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/functions/deepspeech/invocations"):
		if f.throttle > 0 {
			f.throttle--
			w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`))
			return
		}
		f.invokes++
		var in struct{ Batch, Size int }
		json.NewDecoder(r.Body).Decode(&in)
		if in.Batch < 1 || in.Size < 1 {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"message": "bad payload"}`))
			return
		}
		dur := float64(in.Batch*in.Size) * 10 * 1024 / float64(f.memory)
		report := fmt.Sprintf("REPORT RequestId: req-%d\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %d MB\tMax Memory Used: 380 MB\t", f.invokes, dur, dur+1, f.memory)
		if f.cold {
			report += "Init Duration: 2215.56 ms\t"
			f.cold = false
		}
		logs := "START RequestId: x Version: $LATEST\nEND RequestId: x\n" + report + "\n"
		w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte(logs)))
		w.Header().Set("X-Amz-Executed-Version", "$LATEST")
		if f.memory == f.failAt {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write([]byte(`{"errorMessage": "Runtime exited with error: signal: killed", "errorType": "Runtime.ExitError"}`))
			return
		}
		w.Write([]byte(`{"text": "…"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message": "no such route"}`))
	}
}

func testClient(t *testing.T, url string) *lambda.Client {
	t.Helper()
	return LambdaClient(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, url, 10*time.Millisecond)
}

// openFake opens a profiling session on f behind a test server, polling every millisecond.
func openFake(t *testing.T, f *fakeLambda) *LambdaSession {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := OpenLambda(context.Background(), testClient(t, srv.URL), "deepspeech")
	if err != nil {
		t.Fatal(err)
	}
	s.Poll = time.Millisecond
	return s
}

func TestLambdaTargetThrottleColdAndRestore(t *testing.T) {
	f := &fakeLambda{memory: 1024, throttle: 2}
	s := openFake(t, f)
	ctx := context.Background()
	tg, err := s.Target(ctx, 2048) // the update is InProgress for one poll
	if err != nil {
		t.Fatal(err)
	}
	if info := tg.Info(); info.MemoryMB != 2048 || info.Hardware != "lambda-x86_64" {
		t.Fatalf("info %+v", info)
	}
	// two throttled invocations are retried with backoff; the first invocation after the update is cold
	ms, err := Measure(ctx, tg, Grid([]int{1, 2}, []int{50}), Options{Warmup: -1, MaxRuns: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	// 1×50×10 ms scaled by 1024/2048 = 250 ms
	if m.LatencyMs != 250 || m.Optional["cold_start_ms"] != 2215.56 || m.Optional["billed_ms"] != 251 || m.Optional["max_memory_used_mb"] != 380 || m.MemoryMB != 2048 {
		t.Fatalf("measurement %+v %v %s", m, m.Optional, m.Extra)
	}
	if err := s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if f.memory != 1024 || fmt.Sprint(f.setMemories) != "[2048 1024]" {
		t.Fatalf("memory %d, updates %v", f.memory, f.setMemories)
	}
}

func TestLambdaFunctionErrorThenRestore(t *testing.T) {
	f := &fakeLambda{memory: 1024, failAt: 3008}
	s := openFake(t, f)
	ctx := context.Background()
	func() {
		defer s.Restore(ctx) // what `inferplan profile` defers
		tg, err := s.Target(ctx, 3008)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Measure(ctx, tg, Grid([]int{1}, []int{10}), Options{})
		if err == nil || !strings.Contains(err.Error(), "Runtime.ExitError") || !strings.Contains(err.Error(), "signal: killed") {
			t.Fatalf("function error: %v", err)
		}
	}()
	if f.memory != 1024 {
		t.Fatalf("memory after the failure %d, want 1024 restored", f.memory)
	}
	// a canceled context (Ctrl-C) still restores
	ctx2, cancel := context.WithCancel(ctx)
	if _, err := s.Target(ctx2, 2048); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Restore(ctx2); err != nil || f.memory != 1024 {
		t.Fatalf("restore after cancel: %v, memory %d", err, f.memory)
	}
}

func TestLambdaUpdateStuckInProgress(t *testing.T) {
	f := &fakeLambda{memory: 1024}
	s := openFake(t, f)
	s.Timeout = 50 * time.Millisecond
	f.mu.Lock()
	f.stuck = true
	f.mu.Unlock()
	if _, err := s.Target(context.Background(), 2048); err == nil || !strings.Contains(err.Error(), "still InProgress") {
		t.Fatalf("an update that never finishes: %v", err)
	}
}

// TestLambdaControlPlaneOnMoto creates a function in moto_server (a local AWS endpoint, on every build machine)
// and changes and restores its memory through the real SDK client. Invocations need Docker in moto, so they are
// covered by the recorded-response tests above.
func TestLambdaControlPlaneOnMoto(t *testing.T) {
	url := awstest.Moto(t)
	ctx := context.Background()
	client := LambdaClient(awstest.Config(), url, 10*time.Millisecond)
	awstest.CreateFunction(t, url, client, "deepspeech", 1024, types.ArchitectureArm64)
	s, err := OpenLambda(ctx, client, "deepspeech")
	if err != nil {
		t.Fatal(err)
	}
	s.Poll = 10 * time.Millisecond
	if s.OriginalMemoryMB() != 1024 {
		t.Fatalf("original memory %d", s.OriginalMemoryMB())
	}
	tg, err := s.Target(ctx, 3008)
	if err != nil {
		t.Fatal(err)
	}
	if info := tg.Info(); info.Hardware != "lambda-arm64" {
		t.Fatalf("info %+v", info)
	}
	got, _ := client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("deepspeech")})
	if aws.ToInt32(got.MemorySize) != 3008 {
		t.Fatalf("memory in moto %d, want 3008", aws.ToInt32(got.MemorySize))
	}
	if err := s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("deepspeech")})
	if aws.ToInt32(got.MemorySize) != 1024 {
		t.Fatalf("memory after restore %d", aws.ToInt32(got.MemorySize))
	}
	var nf *types.ResourceNotFoundException
	if _, err := OpenLambda(ctx, client, "nope"); !errors.As(err, &nf) {
		t.Fatalf("missing function: %v", err)
	}
}
