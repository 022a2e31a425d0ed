package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
)

// LambdaInvoker is the part of the Lambda API the backend calls; *lambda.Client satisfies it.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
	GetAlias(ctx context.Context, in *lambda.GetAliasInput, opts ...func(*lambda.Options)) (*lambda.GetAliasOutput, error)
	GetFunctionConfiguration(ctx context.Context, in *lambda.GetFunctionConfigurationInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
}

// NewLambdaClient is a Lambda client for the runtime: the SDK's own retries are off, because the gateway retries
// whole batches itself (with its own backoff and metrics) and two layers of retries would multiply.
func NewLambdaClient(cfg aws.Config, endpoint string) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.RetryMaxAttempts = 1
	})
}

// Lambda runs every batch as one invocation of a function's per-buffer alias, with the payload
//
//	{"batch": n, "size": pad, "inputs": [[ids…], …]}
//
// (batch and size as the profiler's Lambda harness takes them) and expects {"outputs": [[…], …]}, one per input.
type Lambda struct {
	api      LambdaInvoker
	function string
}

// NewLambda invokes function through api.
func NewLambda(api LambdaInvoker, function string) *Lambda {
	return &Lambda{api: api, function: function}
}

type lambdaPayload struct {
	Batch  int       `json:"batch"`
	Size   int       `json:"size"`
	Inputs [][]int64 `json:"inputs"`
}

// Infer invokes the buffer's alias once. Throttles, Lambda's own 5xx faults, network failures and function
// timeouts are retryable; a handler's error and a malformed answer are not (the same batch would fail again).
func (l *Lambda) Infer(ctx context.Context, b *Batch) ([][]float32, error) {
	payload, err := json.Marshal(lambdaPayload{Batch: len(b.Inputs), Size: b.PadTo, Inputs: b.Inputs})
	if err != nil {
		return nil, err
	}
	alias := awslambda.AliasName(b.Buffer)
	out, err := l.api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(l.function), Qualifier: aws.String(alias), Payload: payload})
	if err != nil {
		err = fmt.Errorf("invoke %s:%s: %w", l.function, alias, err)
		if retryableAWS(err) {
			return nil, Retryable(err)
		}
		return nil, err
	}
	if out.FunctionError != nil {
		var fe struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		err := fmt.Errorf("function %s:%s failed (%s): %s %s", l.function, alias, aws.ToString(out.FunctionError), fe.Type, fe.Message)
		if fe.Type == "Sandbox.Timedout" || strings.Contains(fe.Message, "Task timed out") {
			return nil, Retryable(err)
		}
		return nil, err
	}
	var res struct {
		Outputs [][]float32 `json:"outputs"`
	}
	if err := json.Unmarshal(out.Payload, &res); err != nil {
		return nil, fmt.Errorf("function %s:%s answered %.100q, not {\"outputs\": [...]}: %w", l.function, alias, out.Payload, err)
	}
	return splitOutputs(res.Outputs, len(b.Inputs))
}

// retryableAWS says whether a failed call may succeed later: throttling, a fault on Lambda's side, a function not
// ready yet, or no answer at all.
func retryableAWS(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled) // a network failure, a deadline
	}
	switch ae.ErrorCode() {
	case "TooManyRequestsException", "ServiceException", "EC2ThrottledException", "ResourceNotReadyException",
		"ResourceConflictException", "SnapStartNotReadyException", "SnapStartTimeoutException":
		return true
	}
	return ae.ErrorFault() == smithy.FaultServer
}

// Check verifies every buffer's alias exists and runs at the buffer's memory size, so that a plan the function
// was not set up for fails at start (or at a reload) with the command that fixes it.
func (l *Lambda) Check(p *plan.Plan) error {
	if p.Lambda == nil {
		return fmt.Errorf("a %s plan has no Lambda buffers", p.Platform)
	}
	ctx := context.Background()
	for i, b := range p.Lambda.Buffers {
		alias := awslambda.AliasName(i)
		a, err := l.api.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(l.function), Name: aws.String(alias)})
		if err != nil {
			return fmt.Errorf("buffer %d: alias %s:%s: %w (run `inferplan apply --plan PLAN --function %s`)", i+1, l.function, alias, err, l.function)
		}
		cfg, err := l.api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(l.function), Qualifier: a.FunctionVersion})
		if err != nil {
			return fmt.Errorf("buffer %d: version %s of %s: %w", i+1, aws.ToString(a.FunctionVersion), l.function, err)
		}
		if got := int(aws.ToInt32(cfg.MemorySize)); got != b.MemoryMB {
			return fmt.Errorf("buffer %d: alias %s:%s runs at %d MB, the plan asks for %d MB (run `inferplan apply --plan PLAN --function %s`)",
				i+1, l.function, alias, got, b.MemoryMB, l.function)
		}
	}
	return nil
}

func (l *Lambda) Describe() string { return "AWS Lambda function " + l.function }

func (l *Lambda) Close() error { return nil }
