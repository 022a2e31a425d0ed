package dispatch

import (
	"context"
	"encoding/json"
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
	"github.com/inferplan/inferplan/planner/plan"
)

func init() { pollInterval = 10 * time.Millisecond }

func memoryOf(t *testing.T, c *lambda.Client, fn, qualifier string) int {
	t.Helper()
	in := &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	cfg, err := c.GetFunctionConfiguration(context.Background(), in)
	if err != nil {
		t.Fatalf("%s:%s: %v", fn, qualifier, err)
	}
	return int(aws.ToInt32(cfg.MemorySize))
}

func actions(cs []AliasChange) string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s:%s:%v", c.Alias, c.Action, c.Publish))
	}
	return strings.Join(out, " ")
}

// TestApplyOnMoto applies a plan to a function in moto_server: one version per memory size, one alias per
// buffer, $LATEST left as it was; applying again changes nothing; a changed plan moves only what changed, reusing
// versions; the Lambda backend's check accepts the applied plan and refuses another.
func TestApplyOnMoto(t *testing.T) {
	url := awstest.Moto(t)
	ctx := context.Background()
	client := NewLambdaClient(awstest.Config(), url)
	awstest.CreateFunction(t, url, client, "encoder", 1024, types.ArchitectureX8664)
	p := testPlan(
		plan.Buffer{MinSize: 1, MaxSize: 64, BatchSize: 8, TimeoutMs: 100, MemoryMB: 1769},
		plan.Buffer{MinSize: 65, MaxSize: 256, BatchSize: 4, TimeoutMs: 100, MemoryMB: 3008},
		plan.Buffer{MinSize: 257, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 100, MemoryMB: 1769})

	be := NewLambda(client, "encoder")
	if err := be.Check(p); err == nil || !strings.Contains(err.Error(), "inferplan apply") {
		t.Fatalf("check before apply: %v", err)
	}
	changes, err := LambdaDiff(ctx, client, "encoder", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got != "inferplan-buffer-1:create alias:true inferplan-buffer-2:create alias:true inferplan-buffer-3:create alias:true" {
		t.Fatalf("first diff: %s", got)
	}
	var steps []string
	if err := ApplyLambda(ctx, client, "encoder", changes, func(s string) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	published := 0
	for _, s := range steps {
		if strings.HasPrefix(s, "published") {
			published++
		}
	}
	if published != 2 { // buffers 1 and 3 share the 1769 MB version
		t.Errorf("%d versions published, want 2: %v", published, steps)
	}
	for i, b := range p.Buffers {
		if got := memoryOf(t, client, "encoder", AliasName(i)); got != b.MemoryMB {
			t.Errorf("alias %s runs at %d MB, want %d", AliasName(i), got, b.MemoryMB)
		}
	}
	if got := memoryOf(t, client, "encoder", ""); got != 1024 {
		t.Errorf("$LATEST left at %d MB", got)
	}
	if err := be.Check(p); err != nil {
		t.Fatalf("check after apply: %v", err)
	}

	// idempotent
	again, err := LambdaDiff(ctx, client, "encoder", p)
	if err != nil {
		t.Fatal(err)
	}
	if Changed(again) {
		t.Fatalf("second diff: %s", actions(again))
	}

	// a new plan: buffer 2 moves to the 1769 MB version that exists, buffer 3 needs a new 4096 MB one
	p2 := testPlan(p.Buffers[0], p.Buffers[1], p.Buffers[2])
	p2.Buffers[1].MemoryMB, p2.Buffers[2].MemoryMB = 1769, 4096
	if err := be.Check(p2); err == nil || !strings.Contains(err.Error(), "runs at 3008 MB, the plan asks for 1769 MB") {
		t.Fatalf("check of a plan not applied: %v", err)
	}
	changes, err = LambdaDiff(ctx, client, "encoder", p2)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got != "inferplan-buffer-1:unchanged:false inferplan-buffer-2:update alias:false inferplan-buffer-3:update alias:true" {
		t.Fatalf("diff of the new plan: %s", got)
	}
	if changes[1].FromMemoryMB != 3008 || changes[1].ToVersion != changes[0].ToVersion {
		t.Errorf("buffer 2 change %+v", changes[1])
	}
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err != nil {
		t.Fatal(err)
	}
	if err := be.Check(p2); err != nil {
		t.Fatalf("check after the second apply: %v", err)
	}

	// new code in $LATEST: every alias needs a version of it
	if _, err := client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("encoder"),
		Timeout: aws.Int32(60)}); err != nil {
		t.Fatal(err)
	}
	changes, err = LambdaDiff(ctx, client, "encoder", p2)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got != "inferplan-buffer-1:update alias:true inferplan-buffer-2:update alias:true inferplan-buffer-3:update alias:true" {
		t.Fatalf("diff after a configuration change: %s", got)
	}
}

// recordedLambda replays the Lambda REST API's answers, as recorded from AWS (status codes, the X-Amzn-Errortype
// header, the error bodies), for the paths apply and the backend call; fail maps "METHOD path-suffix" to an
// error to answer instead.
type recordedLambda struct {
	mu       sync.Mutex
	memory   int
	versions map[string]int // version → memory
	aliases  map[string]string
	fail     map[string]awsError
	calls    []string
	invoke   func(q string, body []byte) (status int, header map[string]string, payload string)
}

type awsError struct {
	status int
	code   string
	msg    string
}

func (f *recordedLambda) conf(w http.ResponseWriter, version string, mb int) {
	json.NewEncoder(w).Encode(map[string]any{"FunctionName": "encoder", "Version": version, "MemorySize": mb,
		"CodeSha256": "abc=", "Runtime": "python3.12", "Handler": "app.handler", "Timeout": 30,
		"Architectures": []string{"x86_64"}, "State": "Active", "LastUpdateStatus": "Successful"})
}

func (f *recordedLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/encoder")
	key := r.Method + " " + path
	f.calls = append(f.calls, key)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "8d0a1c9e-rec")
	for k, e := range f.fail {
		if k == key {
			w.Header().Set("X-Amzn-Errortype", e.code)
			w.WriteHeader(e.status)
			fmt.Fprintf(w, `{"Type":"User","message":%q}`, e.msg)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case key == "GET /configuration":
		if q := r.URL.Query().Get("Qualifier"); q != "" {
			f.conf(w, q, f.versions[q])
			return
		}
		f.conf(w, "$LATEST", f.memory)
	case key == "PUT /configuration":
		var in struct{ MemorySize int }
		json.Unmarshal(body, &in)
		f.memory = in.MemorySize
		f.conf(w, "$LATEST", f.memory)
	case key == "GET /versions":
		var vs []map[string]any
		for v, mb := range f.versions {
			vs = append(vs, map[string]any{"Version": v, "MemorySize": mb, "CodeSha256": "abc=", "Runtime": "python3.12",
				"Handler": "app.handler", "Timeout": 30, "Architectures": []string{"x86_64"}})
		}
		json.NewEncoder(w).Encode(map[string]any{"Versions": vs})
	case key == "POST /versions":
		v := fmt.Sprint(len(f.versions) + 1)
		f.versions[v] = f.memory
		w.WriteHeader(http.StatusCreated)
		f.conf(w, v, f.memory)
	case strings.HasPrefix(key, "GET /aliases/"):
		name := strings.TrimPrefix(path, "/aliases/")
		v, ok := f.aliases[name]
		if !ok {
			w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"Type":"User","Message":"Cannot find alias arn: arn:aws:lambda:us-east-1:123456789012:function:encoder:%s"}`, name)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Name": name, "FunctionVersion": v})
	case key == "POST /aliases" || strings.HasPrefix(key, "PUT /aliases/"):
		var in struct{ Name, FunctionVersion string }
		json.Unmarshal(body, &in)
		if in.Name == "" {
			in.Name = strings.TrimPrefix(path, "/aliases/")
		}
		f.aliases[in.Name] = in.FunctionVersion
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"Name": in.Name, "FunctionVersion": in.FunctionVersion})
	case key == "POST /invocations":
		status, hdr, payload := f.invoke(r.URL.Query().Get("Qualifier"), body)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, payload)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"no route %s"}`, key)
	}
}

func newRecorded(t *testing.T) (*recordedLambda, *lambda.Client) {
	f := &recordedLambda{memory: 1024, versions: map[string]int{}, aliases: map[string]string{}, fail: map[string]awsError{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, NewLambdaClient(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, srv.URL)
}

func TestApplyErrorsRestoreLatest(t *testing.T) {
	ctx := context.Background()
	p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, MemoryMB: 2048})

	// not allowed to create the alias: the error says so, and $LATEST is back at 1024 MB
	f, client := newRecorded(t)
	f.fail["POST /aliases"] = awsError{403, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:CreateAlias"}
	changes, err := LambdaDiff(ctx, client, "encoder", p)
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyLambda(ctx, client, "encoder", changes, nil)
	if err == nil || !strings.Contains(err.Error(), "not authorized to perform: lambda:CreateAlias") || !strings.Contains(err.Error(), "create alias inferplan-buffer-1") {
		t.Fatalf("err %v", err)
	}
	if f.memory != 1024 {
		t.Errorf("$LATEST left at %d MB", f.memory)
	}

	// publishing conflicts with an update in progress
	f, client = newRecorded(t)
	f.fail["POST /versions"] = awsError{409, "ResourceConflictException", "The operation cannot be performed at this time. An update is in progress for resource"}
	changes, _ = LambdaDiff(ctx, client, "encoder", p)
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err == nil || !strings.Contains(err.Error(), "publishing a version at 2048 MB") {
		t.Fatalf("err %v", err)
	}
	if f.memory != 1024 {
		t.Errorf("$LATEST left at %d MB", f.memory)
	}

	// no such function: the diff fails before anything changes
	f, client = newRecorded(t)
	f.fail["GET /configuration"] = awsError{404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:123456789012:function:encoder"}
	if _, err := LambdaDiff(ctx, client, "encoder", p); err == nil || !strings.Contains(err.Error(), "Function not found") {
		t.Fatalf("err %v", err)
	}
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "GET") {
			t.Errorf("a failed diff called %s", c)
		}
	}

	// a diff that shows no change applies nothing
	f, client = newRecorded(t)
	f.versions["7"] = 2048
	f.aliases["inferplan-buffer-1"] = "7"
	changes, _ = LambdaDiff(ctx, client, "encoder", p)
	if Changed(changes) || changes[0].FromVersion != "7" || changes[0].FromMemoryMB != 2048 {
		t.Fatalf("changes %+v", changes)
	}
	f.calls = nil
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err != nil || len(f.calls) != 0 {
		t.Fatalf("applying no change: %v, calls %v", err, f.calls)
	}
}

func TestLambdaBackendInvokesTheBuffersAlias(t *testing.T) {
	f, client := newRecorded(t)
	var got lambdaPayload
	var qualifier string
	next := func(q string, body []byte) (int, map[string]string, string) {
		qualifier = q
		json.Unmarshal(body, &got)
		var outs [][]float32
		for _, in := range got.Inputs {
			outs = append(outs, []float32{float32(in[0]), float32(len(in))})
		}
		data, _ := json.Marshal(map[string]any{"outputs": outs})
		return 200, map[string]string{"X-Amz-Executed-Version": "3"}, string(data)
	}
	f.invoke = next
	be := NewLambda(client, "encoder")
	out, err := be.Infer(context.Background(), &Batch{Buffer: 1, MemoryMB: 2048, Inputs: [][]int64{{4, 5}, {6}}, PadTo: 2})
	if err != nil {
		t.Fatal(err)
	}
	if qualifier != "inferplan-buffer-2" || got.Batch != 2 || got.Size != 2 || fmt.Sprint(out) != "[[4 2] [6 1]]" {
		t.Fatalf("qualifier %s payload %+v out %v", qualifier, got, out)
	}
	for _, tc := range []struct {
		name      string
		status    int
		header    map[string]string
		payload   string
		retryable bool
		msg       string
	}{
		{"throttled", 429, map[string]string{"X-Amzn-Errortype": "TooManyRequestsException"}, `{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`, true, "Rate Exceeded"},
		{"service fault", 500, map[string]string{"X-Amzn-Errortype": "ServiceException"}, `{"Type":"Service","message":"internal"}`, true, "internal"},
		{"no such alias", 404, map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException"}, `{"Type":"User","Message":"Function not found"}`, false, "Function not found"},
		{"handler error", 200, map[string]string{"X-Amz-Function-Error": "Unhandled"}, `{"errorMessage":"index out of range","errorType":"IndexError"}`, false, "IndexError index out of range"},
		{"function timeout", 200, map[string]string{"X-Amz-Function-Error": "Unhandled"}, `{"errorMessage":"2026-11-23T10:00:00Z abc Task timed out after 30.03 seconds","errorType":"Sandbox.Timedout"}`, true, "Task timed out"},
		{"not outputs", 200, nil, `"hello"`, false, `not {"outputs"`},
		{"too few outputs", 200, nil, `{"outputs": [[1]]}`, false, "1 outputs for 2 inputs"},
	} {
		f.invoke = func(string, []byte) (int, map[string]string, string) { return tc.status, tc.header, tc.payload }
		_, err := be.Infer(context.Background(), &Batch{Buffer: 0, Inputs: [][]int64{{1}, {2}}, PadTo: 1})
		if err == nil || IsRetryable(err) != tc.retryable || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (retryable %v), want retryable %v with %q", tc.name, err, IsRetryable(err), tc.retryable, tc.msg)
		}
	}

	// through the gateway: a throttle, then success
	throttles := 1
	f.invoke = func(q string, body []byte) (int, map[string]string, string) {
		if throttles > 0 {
			throttles--
			return 429, map[string]string{"X-Amzn-Errortype": "TooManyRequestsException"}, `{"message":"Rate Exceeded."}`
		}
		return next(q, body)
	}
	f.versions["1"] = 2048
	f.aliases["inferplan-buffer-1"] = "1"
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 2048}), be, Options{Backoff: time.Millisecond})
	if r := g.Submit(context.Background(), []int64{9, 9, 9}, Normal); r.Err != nil || fmt.Sprint(r.Output) != "[9 3]" {
		t.Fatalf("%+v", r)
	}
}
