package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/inferplan/inferplan/internal/awstest"
	"github.com/inferplan/inferplan/planner/plan"
)

func TestLambdaBackendInvokesTheBuffersAlias(t *testing.T) {
	f, url := awstest.NewRecordedLambda(t)
	client := NewLambdaClient(awstest.AnonymousConfig(), url)
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
	f.Invoke = next
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
		f.Invoke = func(string, []byte) (int, map[string]string, string) { return tc.status, tc.header, tc.payload }
		_, err := be.Infer(context.Background(), &Batch{Buffer: 0, Inputs: [][]int64{{1}, {2}}, PadTo: 1})
		if err == nil || IsRetryable(err) != tc.retryable || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (retryable %v), want retryable %v with %q", tc.name, err, IsRetryable(err), tc.retryable, tc.msg)
		}
	}

	// through the gateway: a throttle, then success
	throttles := 1
	f.Invoke = func(q string, body []byte) (int, map[string]string, string) {
		if throttles > 0 {
			throttles--
			return 429, map[string]string{"X-Amzn-Errortype": "TooManyRequestsException"}, `{"message":"Rate Exceeded."}`
		}
		return next(q, body)
	}
	f.Versions["1"] = 2048
	f.Aliases["inferplan-buffer-1"] = "1"
	g := newTestGateway(t, testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 1, MemoryMB: 2048}), be, Options{Backoff: time.Millisecond})
	if r := g.Submit(context.Background(), []int64{9, 9, 9}, Normal); r.Err != nil || fmt.Sprint(r.Output) != "[9 3]" {
		t.Fatalf("%+v", r)
	}
}
