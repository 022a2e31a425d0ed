package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/inferplan/inferplan/dispatch"
	"github.com/inferplan/inferplan/internal/awstest"
	"github.com/inferplan/inferplan/planner/plan"
)

// TestApplyCommandOnMoto runs `inferplan apply` as a user would, against moto_server: the dry run prints the diff
// and changes nothing, the apply makes it, and a second apply finds nothing to do.
func TestApplyCommandOnMoto(t *testing.T) {
	url := awstest.Moto(t)
	client := awstest.LambdaClient(awstest.Config(), url)
	awstest.CreateFunction(t, url, client, "encoder", 1024, types.ArchitectureX8664)
	// the SDK's default chain, as the command uses it, from the environment only
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	p := writeTestPlan(t, t.TempDir(), "plan.json",
		plan.Buffer{MinSize: 1, MaxSize: 64, BatchSize: 8, TimeoutMs: 100, MemoryMB: 1769},
		plan.Buffer{MinSize: 65, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 100, MemoryMB: 3008})
	args := []string{"apply", "--plan", p, "--function", "encoder", "--endpoint-url", url}

	r := run(t, append(args, "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.stdout, "inferplan-buffer-2") || !strings.Contains(r.stdout, "Dry run: nothing was changed.") {
		t.Fatalf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, append(args, "--dry-run", "--format", "json")...); !strings.Contains(r.stdout, `"changed": true`) {
		t.Fatalf("the dry run changed something, or JSON lacks it: %s %s", r.stdout, r.stderr)
	}

	r = run(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "Applied.") || !strings.Contains(r.stderr, "published") {
		t.Fatalf("apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if err := dispatch.NewLambda(client, "encoder").Check(mustReadPlan(t, p)); err != nil {
		t.Fatalf("the Lambda backend refuses the applied plan: %v", err)
	}

	r = run(t, append(args, "--format", "json")...)
	var res struct {
		Changed bool `json:"changed"`
		Changes []struct {
			Alias string `json:"alias"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("second apply: exit %d %v\n%s", r.code, err, r.stdout)
	}
	if res.Changed || len(res.Changes) != 2 {
		t.Fatalf("second apply changed something: %s", r.stdout)
	}

	if r := run(t, "apply", "--plan", p, "--function", "missing", "--endpoint-url", url); r.code != exitFailure || !strings.Contains(r.stderr, "missing") {
		t.Errorf("a missing function: exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, "apply", "--plan", p); r.code != exitUsage {
		t.Errorf("no --function: exit %d", r.code)
	}
}

func mustReadPlan(t *testing.T, path string) *plan.Plan {
	t.Helper()
	p, err := plan.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApplyCommandStaleAliasesAndLimits: apply reports the aliases of buffers a smaller plan no longer has and
// deletes them only with --prune; a memory size Lambda does not allow and a missing region are input errors.
func TestApplyCommandStaleAliasesAndLimits(t *testing.T) {
	f, url := awstest.NewRecordedLambda(t)
	f.Versions["1"], f.Versions["2"] = 1769, 3008
	f.Aliases["inferplan-buffer-1"], f.Aliases["inferplan-buffer-2"] = "1", "2"
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	one := writeTestPlan(t, dir, "one.json", plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 100, MemoryMB: 1769})
	args := []string{"apply", "--plan", one, "--function", "encoder", "--endpoint-url", url}

	r := run(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "1 alias of buffers this plan does not have") || !strings.Contains(r.stdout, "stale (not in the plan)") {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if f.Aliases["inferplan-buffer-2"] != "2" {
		t.Fatal("a stale alias was deleted without --prune")
	}
	r = run(t, append(args, "--prune")...)
	if _, ok := f.Aliases["inferplan-buffer-2"]; r.code != 0 || ok || !strings.Contains(r.stderr, "deleted alias inferplan-buffer-2") {
		t.Fatalf("apply --prune: exit %d, aliases %v\n%s%s", r.code, f.Aliases, r.stdout, r.stderr)
	}

	huge := writeTestPlan(t, dir, "huge.json", plan.Buffer{MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 100, MemoryMB: 100_000})
	r = run(t, "apply", "--plan", huge, "--function", "encoder", "--endpoint-url", url, "--dry-run")
	if r.code != exitUsage || !strings.Contains(r.stderr, "huge.json:") || !strings.Contains(r.stderr, "buffers[0].memory_mb: 100000 MB is outside Lambda's memory range") {
		t.Fatalf("100,000 MB: exit %d: %s", r.code, r.stderr)
	}
	t.Setenv("AWS_REGION", "")
	r = run(t, args...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "no AWS region") {
		t.Fatalf("no region: exit %d: %s", r.code, r.stderr)
	}
}
