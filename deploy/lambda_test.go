package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/internal/awstest"
	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/platform/awslambda"
)

func init() { pollInterval = 10 * time.Millisecond }

func testPlan(bufs ...plan.Buffer) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, SLO: plan.SLO{Percentile: 95, LatencyMs: 1000}, Model: "m",
		Lambda: &plan.Lambda{Pricing: plan.Pricing{GBSecondUSD: 0.0000166667, RequestUSD: 0.0000002}, Buffers: bufs}}
}

func newRecorded(t *testing.T) (*awstest.RecordedLambda, *lambda.Client) {
	f, url := awstest.NewRecordedLambda(t)
	return f, awstest.LambdaClient(awstest.AnonymousConfig(), url)
}

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
	client := awstest.LambdaClient(awstest.Config(), url)
	awstest.CreateFunction(t, url, client, "encoder", 1024, types.ArchitectureX8664)
	p := testPlan(
		plan.Buffer{MinSize: 1, MaxSize: 64, BatchSize: 8, TimeoutMs: 100, MemoryMB: 1769},
		plan.Buffer{MinSize: 65, MaxSize: 256, BatchSize: 4, TimeoutMs: 100, MemoryMB: 3008},
		plan.Buffer{MinSize: 257, MaxSize: plan.NoUpperBound, BatchSize: 2, TimeoutMs: 100, MemoryMB: 1769})

	be := dispatch.NewLambda(client, "encoder")
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
	for i, b := range p.Lambda.Buffers {
		if got := memoryOf(t, client, "encoder", awslambda.AliasName(i)); got != b.MemoryMB {
			t.Errorf("alias %s runs at %d MB, want %d", awslambda.AliasName(i), got, b.MemoryMB)
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
	p2 := testPlan(p.Lambda.Buffers[0], p.Lambda.Buffers[1], p.Lambda.Buffers[2])
	p2.Lambda.Buffers[1].MemoryMB, p2.Lambda.Buffers[2].MemoryMB = 1769, 4096
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

func TestApplyErrorsRestoreLatest(t *testing.T) {
	ctx := context.Background()
	p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, MemoryMB: 2048})

	// not allowed to create the alias: the error says so, and $LATEST is back at 1024 MB
	f, client := newRecorded(t)
	f.Fail["POST /aliases"] = awstest.AWSError{Status: 403, Code: "AccessDeniedException", Msg: "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:CreateAlias"}
	changes, err := LambdaDiff(ctx, client, "encoder", p)
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyLambda(ctx, client, "encoder", changes, nil)
	if err == nil || !strings.Contains(err.Error(), "not authorized to perform: lambda:CreateAlias") || !strings.Contains(err.Error(), "create alias inferplan-buffer-1") {
		t.Fatalf("err %v", err)
	}
	if f.Memory != 1024 {
		t.Errorf("$LATEST left at %d MB", f.Memory)
	}

	// publishing conflicts with an update in progress
	f, client = newRecorded(t)
	f.Fail["POST /versions"] = awstest.AWSError{Status: 409, Code: "ResourceConflictException", Msg: "The operation cannot be performed at this time. An update is in progress for resource"}
	changes, _ = LambdaDiff(ctx, client, "encoder", p)
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err == nil || !strings.Contains(err.Error(), "publishing a version at 2048 MB") {
		t.Fatalf("err %v", err)
	}
	if f.Memory != 1024 {
		t.Errorf("$LATEST left at %d MB", f.Memory)
	}

	// no such function: the diff fails before anything changes
	f, client = newRecorded(t)
	f.Fail["GET /configuration"] = awstest.AWSError{Status: 404, Code: "ResourceNotFoundException", Msg: "Function not found: arn:aws:lambda:us-east-1:123456789012:function:encoder"}
	if _, err := LambdaDiff(ctx, client, "encoder", p); err == nil || !strings.Contains(err.Error(), "Function not found") {
		t.Fatalf("err %v", err)
	}
	for _, c := range f.Calls {
		if !strings.HasPrefix(c, "GET") {
			t.Errorf("a failed diff called %s", c)
		}
	}

	// a diff that shows no change applies nothing
	f, client = newRecorded(t)
	f.Versions["7"] = 2048
	f.Aliases["inferplan-buffer-1"] = "7"
	changes, _ = LambdaDiff(ctx, client, "encoder", p)
	if Changed(changes) || changes[0].FromVersion != "7" || changes[0].FromMemoryMB != 2048 {
		t.Fatalf("changes %+v", changes)
	}
	f.Calls = nil
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err != nil || len(f.Calls) != 0 {
		t.Fatalf("applying no change: %v, calls %v", err, f.Calls)
	}
}

// TestApplyReportsAndPrunesStaleAliases: a plan with fewer buffers than the last one applied leaves aliases that
// nothing routes to; the diff lists them (leaving them is no change), Prune deletes them, and nothing else.
func TestApplyReportsAndPrunesStaleAliases(t *testing.T) {
	ctx := context.Background()
	f, client := newRecorded(t)
	f.Versions["1"], f.Versions["2"] = 2048, 3008
	f.Aliases["inferplan-buffer-1"], f.Aliases["inferplan-buffer-2"], f.Aliases["inferplan-buffer-3"] = "1", "2", "2"
	f.Aliases["live"] = "2" // not one of ours
	p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, MemoryMB: 2048})
	changes, err := LambdaDiff(ctx, client, "encoder", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(changes); got != "inferplan-buffer-1:unchanged:false inferplan-buffer-2:stale (not in the plan):false inferplan-buffer-3:stale (not in the plan):false" {
		t.Fatalf("diff: %s", got)
	}
	if Changed(changes) || Stale(changes) != 2 || changes[1].FromMemoryMB != 3008 || changes[2].Buffer != 3 {
		t.Fatalf("changes %+v", changes)
	}
	Prune(changes)
	if !Changed(changes) {
		t.Fatal("pruning is a change")
	}
	if err := ApplyLambda(ctx, client, "encoder", changes, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.Aliases) != 2 || f.Aliases["inferplan-buffer-1"] != "1" || f.Aliases["live"] != "2" {
		t.Fatalf("aliases after pruning: %v", f.Aliases)
	}
}

// TestApplyRefusesMemoryOutsideLambdasRange: Lambda takes 128–10,240 MB; a plan asking for 100,000 MB is an input
// error on the buffer's field, found before any call.
func TestApplyRefusesMemoryOutsideLambdasRange(t *testing.T) {
	f, client := newRecorded(t)
	for _, mb := range []int{100_000, 64} {
		p := testPlan(plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, MemoryMB: mb})
		_, err := LambdaDiff(context.Background(), client, "encoder", p)
		var ie *inputerr.Error
		if !errors.As(err, &ie) || ie.Field != "buffers[0].memory_mb" || !strings.Contains(err.Error(), "128–10240 MB") {
			t.Errorf("%d MB: %v", mb, err)
		}
	}
	if len(f.Calls) != 0 {
		t.Errorf("calls before refusing: %v", f.Calls)
	}
}
