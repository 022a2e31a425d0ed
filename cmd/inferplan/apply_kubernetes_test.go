package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/inferplan/inferplan/deploy/kubernetes"
	"github.com/inferplan/inferplan/planner/plan"
)

const (
	clusterPlanFile = "../../planner/plan/testdata/cluster-plan.json"
	scaledPlanFile  = "../../planner/plan/testdata/cluster-scaled-plan.json"
)

// TestApplyKubernetesScenario writes the manifests of the testdata/cluster plan as a user would, and prints what
// it wrote and how to apply it (the README shows this output).
func TestApplyKubernetesScenario(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k8s")
	r := run(t, "apply", "--plan", clusterPlanFile, "--kubernetes", dir)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "apply-kubernetes.golden", strings.ReplaceAll(r.stdout, dir, "k8s"))
	for _, name := range []string{kubernetes.FileNamespace, kubernetes.FilePlan, kubernetes.FileDevicePlugin, kubernetes.FileNodePools, kubernetes.FileWorkers, kubernetes.FileGateway} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, kubernetes.FileScaling)); err == nil {
		t.Error("a static plan got scaling objects")
	}
	if !strings.Contains(r.stdout, "kubectl apply -f k8s/") && !strings.Contains(r.stdout, "kubectl apply -f "+dir+"/") {
		t.Errorf("no kubectl apply line:\n%s", r.stdout)
	}
}

func TestApplyKubernetesScaledWithCronJobs(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "apply", "--plan", scaledPlanFile, "--kubernetes", dir, "--no-keda", "--lambda-function", "code-rerank=encoder",
		"--schedule-start", "07:45", "--timezone", "Europe/Berlin", "--namespace", "serving", "--image", "registry.example/inferplan:v1",
		"--harness", "python3 torch_encoder.py", "--node-class", "gpu", "--device-plugin-namespace", "gpu-operator")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	scaling, err := os.ReadFile(filepath.Join(dir, kubernetes.FileScaling))
	if err != nil {
		t.Fatal(err)
	}
	workers, _ := os.ReadFile(filepath.Join(dir, kubernetes.FileWorkers))
	gateway, _ := os.ReadFile(filepath.Join(dir, kubernetes.FileGateway))
	nodePools, _ := os.ReadFile(filepath.Join(dir, kubernetes.FileNodePools))
	plugin, _ := os.ReadFile(filepath.Join(dir, kubernetes.FileDevicePlugin))
	for _, c := range []struct {
		what, text, want string
	}{
		{"scaling", string(scaling), "kind: CronJob"},
		{"scaling", string(scaling), "timeZone: Europe/Berlin"},
		{"scaling", string(scaling), "schedule: 44 7 * * *"}, // window 0 at 07:45, launched 30 s early
		{"workers", string(workers), "namespace: serving"},
		{"workers", string(workers), "image: registry.example/inferplan:v1"},
		{"workers", string(workers), "- python3 torch_encoder.py"},
		{"gateway", string(gateway), "- code-rerank=encoder"},
		{"node pools", string(nodePools), "name: gpu"},
		{"device plugin", string(plugin), "namespace: gpu-operator"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s has no %q", c.what, c.want)
		}
	}
	if strings.Contains(string(scaling), "ScaledObject") || strings.Contains(r.stdout, "KEDA") {
		t.Error("KEDA under --no-keda")
	}
}

func TestApplyKubernetesUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "k8s")
	lambdaPlan := writeTestPlan(t, tmp, "lambda.json", twoBuffers...)
	file := writeFile(t, tmp, "file", "")
	for _, tc := range []struct {
		name  string
		args  []string
		words string
	}{
		{"cluster plan without --kubernetes", []string{"--plan", clusterPlanFile}, "is a cluster plan: apply it with --kubernetes DIR"},
		{"cluster plan with --function only", []string{"--plan", clusterPlanFile, "--function", "f"}, "is a cluster plan: apply it with --kubernetes DIR"},
		{"Lambda flag --function", []string{"--plan", clusterPlanFile, "--kubernetes", dir, "--function", "f"}, "--function is for Lambda plans"},
		{"Lambda flags --region and --dry-run", []string{"--plan", clusterPlanFile, "--kubernetes", dir, "--region", "eu-west-1", "--dry-run"}, "--dry-run, --region are for Lambda plans"},
		{"Lambda flag --format", []string{"--plan", clusterPlanFile, "--kubernetes", dir, "--format", "json"}, "--format is for Lambda plans"},
		{"Lambda plan", []string{"--plan", lambdaPlan, "--kubernetes", dir}, "is a lambda plan: apply it with --function NAME"},
		{"Kubernetes flag on a Lambda plan", []string{"--plan", lambdaPlan, "--function", "f", "--namespace", "x"}, "--namespace is only with --kubernetes DIR"},
		{"empty folder name", []string{"--plan", clusterPlanFile, "--kubernetes", ""}, "--kubernetes needs a folder"},
		{"no plan", []string{"--kubernetes", dir}, "--plan is required"},
		{"missing plan", []string{"--plan", filepath.Join(tmp, "nope.json"), "--kubernetes", dir}, "--plan: open"},
		{"folder is a file", []string{"--plan", clusterPlanFile, "--kubernetes", file}, "not a folder"},
		{"bad namespace", []string{"--plan", clusterPlanFile, "--kubernetes", dir, "--namespace", "Serving"}, "--namespace: \"Serving\" is not a namespace name"},
		{"bad schedule start", []string{"--plan", scaledPlanFile, "--kubernetes", dir, "--schedule-start", "25:00"}, "--schedule-start: \"25:00\" is not a time of day"},
		{"bad time zone", []string{"--plan", scaledPlanFile, "--kubernetes", dir, "--timezone", "Berlin"}, "--timezone: \"Berlin\" is not an IANA time zone"},
		{"bad node class", []string{"--plan", clusterPlanFile, "--kubernetes", dir, "--node-class", "A B"}, "--node-class"},
		{"spilling plan without a function", []string{"--plan", scaledPlanFile, "--kubernetes", dir}, "--lambda-function: the plan spills code-rerank to Lambda"},
		{"a function for a service that does not spill", []string{"--plan", scaledPlanFile, "--kubernetes", dir, "--lambda-function", "code-rerank=f", "--lambda-function", "chat-embed=g"}, "--lambda-function: the plan does not spill service chat-embed"},
		{"two functions for every service", []string{"--plan", scaledPlanFile, "--kubernetes", dir, "--lambda-function", "f", "--lambda-function", "g"}, "--lambda-function: two functions for every service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, append([]string{"apply"}, tc.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.words) {
				t.Errorf("exit %d, stderr %q; want exit 2 saying %q", r.code, r.stderr, tc.words)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("a usage error left %s behind", dir)
			}
		})
	}
}

// TestGatewayArgsAreServeFlags holds the gateway's command line to the serve command as it is: every flag the
// manifests pass must be one serve has.
func TestGatewayArgsAreServeFlags(t *testing.T) {
	raw, err := os.ReadFile(scaledPlanFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(raw, scaledPlanFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := kubernetes.Build(p, raw, kubernetes.Options{LambdaFunctions: []string{"encoder"}})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, f := range m.Files {
		for _, o := range f.Objects {
			if d, ok := o.(*appsv1.Deployment); ok && d.Name == kubernetes.GatewayName {
				c := d.Spec.Template.Spec.Containers[0]
				args = append(c.Command[1:], c.Args...)
			}
		}
	}
	if len(args) < 2 || args[0] != "serve" || !strings.Contains(strings.Join(args, " "), "--spill-lambda code-rerank=encoder") {
		t.Fatalf("gateway command %q", args)
	}
	serve := newServeCmd(&ioStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, Now: fixedNow})
	if err := serve.ParseFlags(args[1:]); err != nil {
		t.Errorf("serve refuses the gateway's flags %q: %v", args[1:], err)
	}
	if w, _ := serve.Flags().GetStringArray("workers"); len(w) != 1 || w[0] != "/etc/inferplan/workers.json" {
		t.Errorf("serve reads --workers %q", w)
	}

	// serve takes the written plan.json and workers.json (outside a cluster: on loopback, without spill-over,
	// which needs AWS): every worker of the scaled fleet is mapped
	if testing.Short() {
		t.Skip("runs the gateway in a child process")
	}
	dir := t.TempDir()
	var planFile, workersFile string
	for _, f := range m.Files {
		for _, o := range f.Objects {
			if cm, ok := o.(*corev1.ConfigMap); ok && cm.Name == kubernetes.PlanConfigMap {
				planFile = writeFile(t, dir, "plan.json", cm.Data["plan.json"])
				workersFile = writeFile(t, dir, "workers.json", cm.Data["workers.json"])
			}
		}
	}
	s := startServe(t, "--plan", planFile, "--workers", workersFile)
	s.waitLog(t, `platform=cluster .* workers=9 `)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("serve exited with %v:\n%s", err, s.logText())
	}
}
