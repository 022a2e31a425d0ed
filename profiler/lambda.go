package profiler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/inferplan/inferplan/profiler/profile"
)

// LambdaAPI is the part of the Lambda API the profiler calls; *lambda.Client satisfies it.
type LambdaAPI interface {
	GetFunctionConfiguration(ctx context.Context, in *lambda.GetFunctionConfigurationInput, opts ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
	UpdateFunctionConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput, opts ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaClient builds a Lambda client from an AWS configuration (credentials by the standard chain), with an
// optional endpoint override (a local emulator, a test server). Throttled calls (TooManyRequestsException) are
// retried up to 8 times with exponential backoff capped at maxBackoff.
func LambdaClient(cfg aws.Config, endpoint string, maxBackoff time.Duration) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 8
			so.MaxBackoff = maxBackoff
			so.RateLimiter = ratelimit.None // profiling retries on purpose; the client-side token bucket would refuse them
		})
	})
}

// LambdaSession profiles one function at several memory sizes and puts its memory back afterwards.
type LambdaSession struct {
	api      LambdaAPI
	function string
	original int32
	current  int32
	arch     string
	// Poll is how often a configuration update is checked (default 1 s); Timeout bounds the wait (default 5 min).
	Poll, Timeout time.Duration
}

// OpenLambda reads the function's configuration: its memory size (to restore) and architecture.
func OpenLambda(ctx context.Context, api LambdaAPI, function string) (*LambdaSession, error) {
	cfg, err := api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(function)})
	if err != nil {
		return nil, fmt.Errorf("lambda %s: %w", function, err)
	}
	s := &LambdaSession{api: api, function: function, original: aws.ToInt32(cfg.MemorySize), current: aws.ToInt32(cfg.MemorySize),
		arch: "x86_64", Poll: time.Second, Timeout: 5 * time.Minute}
	if len(cfg.Architectures) > 0 {
		s.arch = string(cfg.Architectures[0])
	}
	return s, nil
}

// OriginalMemoryMB is the memory size the function had when the session began.
func (s *LambdaSession) OriginalMemoryMB() int { return int(s.original) }

// SetMemory updates the function's memory size and waits until the update is done (a no-op at the size the
// session last set).
func (s *LambdaSession) SetMemory(ctx context.Context, mb int32) error {
	if mb == s.current {
		return nil
	}
	if _, err := s.api.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(s.function), MemorySize: aws.Int32(mb)}); err != nil {
		return fmt.Errorf("lambda %s: set memory to %d MB: %w", s.function, mb, err)
	}
	s.current = -1 // unknown until the update is seen through
	deadline := time.Now().Add(s.Timeout)
	for {
		cfg, err := s.api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(s.function)})
		if err != nil {
			return fmt.Errorf("lambda %s: waiting for the update: %w", s.function, err)
		}
		switch cfg.LastUpdateStatus {
		case types.LastUpdateStatusSuccessful, "":
			if got := aws.ToInt32(cfg.MemorySize); got != mb {
				return fmt.Errorf("lambda %s: memory is %d MB after the update, not %d", s.function, got, mb)
			}
			s.current = mb
			return nil
		case types.LastUpdateStatusFailed:
			return fmt.Errorf("lambda %s: update to %d MB failed: %s", s.function, mb, aws.ToString(cfg.LastUpdateStatusReason))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lambda %s: update to %d MB still %s after %v", s.function, mb, cfg.LastUpdateStatus, s.Timeout)
		}
		select {
		case <-time.After(s.Poll):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Restore puts the original memory size back. It runs even when ctx is canceled — it is what runs after a
// failure or a Ctrl-C — within two minutes of its own.
func (s *LambdaSession) Restore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	return s.SetMemory(ctx, s.original)
}

// Target returns a target that runs the function at mb MB, updating its configuration first.
func (s *LambdaSession) Target(ctx context.Context, mb int) (Target, error) {
	t, err := s.At(mb)
	if err != nil {
		return nil, err
	}
	return t, s.SetMemory(ctx, int32(mb))
}

// At returns a target for mb MB that updates the function's configuration on its first run, so that targets for
// several sizes can be prepared up front and measured one after the other.
func (s *LambdaSession) At(mb int) (Target, error) {
	if mb < 128 || mb > 10240 {
		return nil, fmt.Errorf("memory %d MB is outside Lambda's 128–10,240 MB", mb)
	}
	return &lambdaTarget{s: s, mb: int32(mb)}, nil
}

type lambdaTarget struct {
	s  *LambdaSession
	mb int32
}

func (t *lambdaTarget) Info() Info {
	return Info{Platform: profile.Lambda, Hardware: "lambda-" + t.s.arch, MemoryMB: int(t.mb), SizeUnit: "",
		Model: t.s.function,
		Source: fmt.Sprintf("AWS Lambda function %s (%s), invoked with {\"batch\": N, \"size\": S}; latency is the Duration of the REPORT log line (LogType=Tail), cold starts kept apart",
			t.s.function, t.s.arch)}
}

// Run invokes the function once and reads its REPORT line.
func (t *lambdaTarget) Run(ctx context.Context, batch, size int) (Sample, error) {
	if t.s.current != t.mb {
		if err := t.s.SetMemory(ctx, t.mb); err != nil {
			return Sample{}, err
		}
	}
	payload, _ := json.Marshal(map[string]int{"batch": batch, "size": size})
	out, err := t.s.api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(t.s.function), Payload: payload, LogType: types.LogTypeTail})
	if err != nil {
		return Sample{}, fmt.Errorf("invoke %s: %w", t.s.function, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		return Sample{}, fmt.Errorf("function %s failed (%s): %s %s", t.s.function, aws.ToString(out.FunctionError), fe.Type, fe.Message)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		return Sample{}, fmt.Errorf("invoke %s: log result is not base64: %w", t.s.function, err)
	}
	return ParseReport(string(logs))
}

func (t *lambdaTarget) Close() error { return nil }

var (
	reReport = regexp.MustCompile(`REPORT RequestId: \S+`)
	reField  = map[string]*regexp.Regexp{
		"duration": regexp.MustCompile(`(?:^|[\t ])Duration: ([0-9.]+) ms`),
		"billed":   regexp.MustCompile(`Billed_Duration: ([0-9.]+) ms`),
		"maxmem":   regexp.MustCompile(`Max_Memory_Used: ([0-9.]+) MB`),
		"init":     regexp.MustCompile(`Init_Duration: ([0-9.]+) ms`),
	}
	// the multi-word field names, joined so that "Duration" alone means the run's duration whether the fields are
	// separated by tabs (as Lambda writes them) or spaces (as they are often pasted)
	reportNames = strings.NewReplacer("Billed Duration", "Billed_Duration", "Init Duration", "Init_Duration",
		"Max Memory Used", "Max_Memory_Used", "Memory Size", "Memory_Size")
)

// ErrNoReport means a log tail held no REPORT line.
var ErrNoReport = errors.New("no REPORT line in the function's log tail")

// ParseReport reads the last REPORT line of a Lambda log tail:
//
//	REPORT RequestId: 3604209a-… Duration: 1117.20 ms Billed Duration: 1118 ms Memory Size: 1024 MB Max Memory Used: 402 MB Init Duration: 2215.56 ms
//
// An Init Duration marks a cold start.
func ParseReport(logs string) (Sample, error) {
	idx := reReport.FindAllStringIndex(logs, -1)
	if len(idx) == 0 {
		return Sample{}, ErrNoReport
	}
	line := logs[idx[len(idx)-1][0]:]
	if nl := strings.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	line = reportNames.Replace(line)
	num := func(k string) (float64, bool) {
		m := reField[k].FindStringSubmatch(line)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v, err == nil
	}
	d, ok := num("duration")
	if !ok {
		return Sample{}, fmt.Errorf("REPORT line without a Duration: %q", line)
	}
	s := Sample{LatencyMs: d}
	s.BilledMs, _ = num("billed")
	s.MaxMemoryUsedMB, _ = num("maxmem")
	if init, ok := num("init"); ok {
		s.InitMs, s.Cold = init, true
	}
	return s, nil
}
