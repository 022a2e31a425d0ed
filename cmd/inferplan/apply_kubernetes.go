package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/inferplan/inferplan/deploy/kubernetes"
	"github.com/inferplan/inferplan/planner/plan"
)

// kubernetesFlags are apply's flags for cluster plans: `apply --plan cluster.json --kubernetes DIR` writes the
// plan's Kubernetes manifests (package deploy/kubernetes) instead of configuring Lambda.
type kubernetesFlags struct {
	dir, namespace, image, harness, nodeClass, scheduleStart, timezone string
	devicePluginNamespace, kubectlImage                                string
	lambdaFunctions                                                    []string
	noKEDA                                                             bool
}

// kubernetesOnlyFlags are the flags only --kubernetes uses; applyLambdaFlags those only a Lambda apply uses.
var (
	kubernetesOnlyFlags = []string{"namespace", "image", "harness", "node-class", "no-keda", "schedule-start", "timezone",
		"lambda-function", "device-plugin-namespace", "kubectl-image"}
	applyLambdaFlags = []string{"function", "dry-run", "format", "region", "endpoint-url"}
)

func (f *kubernetesFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.dir, "kubernetes", "", "cluster plans: write Kubernetes manifests to this folder (then kubectl apply -f DIR)")
	fs.StringVar(&f.namespace, "namespace", kubernetes.DefaultNamespace, "--kubernetes: namespace of the workers and the gateway")
	fs.StringVar(&f.image, "image", kubernetes.DefaultImage, "--kubernetes: container image with inferplan (and the harness's runtime)")
	fs.StringVar(&f.harness, "harness", "", "--kubernetes: the workers' --harness command (left out when empty)")
	fs.StringVar(&f.nodeClass, "node-class", kubernetes.DefaultNodeClass, "--kubernetes: Karpenter EC2NodeClass the NodePools launch from")
	fs.BoolVar(&f.noKEDA, "no-keda", false, "--kubernetes: follow a scaled plan's schedule with CronJobs running kubectl scale instead of KEDA")
	fs.StringVar(&f.scheduleStart, "schedule-start", "00:00", "--kubernetes: time of day (HH:MM) at which a scaled plan's schedule starts, every day")
	fs.StringVar(&f.timezone, "timezone", kubernetes.DefaultTimezone, "--kubernetes: IANA time zone of --schedule-start")
	fs.StringArrayVar(&f.lambdaFunctions, "lambda-function", nil, "--kubernetes: FUNCTION or SERVICE=FUNCTION, the Lambda function a spilling service's requests go to (each spilling service needs one); repeatable")
	fs.StringVar(&f.devicePluginNamespace, "device-plugin-namespace", kubernetes.DefaultDevicePluginNamespace, "--kubernetes: namespace of the NVIDIA device plugin (gpu-operator under the GPU Operator)")
	fs.StringVar(&f.kubectlImage, "kubectl-image", kubernetes.DefaultKubectlImage, "--kubernetes --no-keda: image of the CronJobs that scale")
	// apply.go's help speaks of Lambda; the cluster half is described here, beside its flags
	cmd.Short = "Apply a plan: memory sizes and aliases on Lambda, or Kubernetes manifests for a cluster plan"
	cmd.Long += `

For a cluster plan, 'apply --plan cluster.json --kubernetes DIR' writes Kubernetes manifests to DIR
instead: a Karpenter NodePool per pool, the NVIDIA device plugin's GPU sharing configuration, a
Deployment and a Service per worker group running 'inferplan workers', the schedule of a scaled
plan as KEDA ScaledObjects (or CronJobs with --no-keda), and the gateway running 'inferplan serve'.
It changes nothing in a cluster: 'kubectl apply -f DIR' does.`
	cmd.Example += `
  inferplan apply --plan cluster.json --kubernetes k8s/
  inferplan apply --plan scaled.json --kubernetes k8s/ --schedule-start 08:00 --timezone Europe/Berlin --lambda-function encoder`
	_ = cmd.MarkFlagDirname("kubernetes")
}

// kubernetesChosen says whether this apply is a Kubernetes one: --kubernetes or one of its own flags was given, or
// the plan file is a cluster plan (which then needs --kubernetes).
func (o *applyOptions) kubernetesChosen(cmd *cobra.Command) bool {
	return len(changed(cmd, append([]string{"kubernetes"}, kubernetesOnlyFlags...))) > 0 || isClusterPlan(o.planPath)
}

// isClusterPlan peeks at a plan file's platform; a file that cannot be read is left to the run to report.
func isClusterPlan(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var head struct {
		Platform string `json:"platform"`
	}
	return json.Unmarshal(data, &head) == nil && head.Platform == plan.PlatformCluster
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func changed(cmd *cobra.Command, names []string) []string {
	var out []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			out = append(out, "--"+n)
		}
	}
	return out
}

// applyKubernetesOptions are what runApplyKubernetes needs.
type applyKubernetesOptions struct {
	io              *ioStreams
	planPath        string
	flags           kubernetesFlags
	dirGiven        bool
	lambdaFlags     []string // Lambda-only flags given
	kubernetesFlags []string // --kubernetes-only flags given
}

func (o *applyOptions) kubernetesOptions(cmd *cobra.Command) *applyKubernetesOptions {
	return &applyKubernetesOptions{io: o.io, planPath: o.planPath, flags: o.kubernetes,
		dirGiven: cmd.Flags().Changed("kubernetes"), lambdaFlags: changed(cmd, applyLambdaFlags),
		kubernetesFlags: changed(cmd, kubernetesOnlyFlags)}
}

func runApplyKubernetes(_ context.Context, o *applyKubernetesOptions) error {
	f := o.flags
	if !o.dirGiven {
		if isClusterPlan(o.planPath) {
			return flagErrorf("%s is a cluster plan: apply it with --kubernetes DIR, the folder to write its Kubernetes manifests to", o.planPath)
		}
		return flagErrorf("%s %s only with --kubernetes DIR (cluster plans)", strings.Join(o.kubernetesFlags, ", "), isAre(len(o.kubernetesFlags)))
	}
	switch {
	case len(o.lambdaFlags) > 0:
		return flagErrorf("%s %s for Lambda plans; --kubernetes writes manifests and takes none of them", strings.Join(o.lambdaFlags, ", "), isAre(len(o.lambdaFlags)))
	case f.dir == "":
		return flagErrorf("--kubernetes needs a folder to write the manifests to")
	case o.planPath == "":
		return flagErrorf("--plan is required")
	}
	start, err := kubernetes.ParseClock(f.scheduleStart)
	if err != nil {
		return flagErrorf("--schedule-start: %v", err)
	}
	opts := kubernetes.Options{Namespace: f.namespace, Image: f.image, Harness: f.harness, NodeClass: f.nodeClass,
		CronJobs: f.noKEDA, ScheduleStart: start, Timezone: f.timezone, LambdaFunctions: f.lambdaFunctions,
		DevicePluginNamespace: f.devicePluginNamespace, KubectlImage: f.kubectlImage, PlanFile: o.planPath}
	if err := opts.Validate(); err != nil {
		return optionFlagError(err)
	}
	if fi, err := os.Stat(f.dir); err == nil && !fi.IsDir() {
		return flagErrorf("--kubernetes %s: not a folder", f.dir)
	}
	raw, err := os.ReadFile(o.planPath)
	if err != nil {
		return flagErrorf("--plan: %v", err)
	}
	p, err := plan.Parse(raw, o.planPath)
	if err != nil {
		return err
	}
	if p.Cluster == nil {
		return flagErrorf("%s is a %s plan: apply it with --function NAME; --kubernetes is for cluster plans", o.planPath, p.Platform)
	}
	m, err := kubernetes.Build(p, raw, opts)
	if err != nil {
		return optionFlagError(err)
	}
	if err := m.WriteDir(f.dir); err != nil {
		return fmt.Errorf("--kubernetes %s: %w", f.dir, err)
	}
	printManifests(o.io, o.planPath, f.dir, p, m)
	return nil
}

// optionFlagError turns a bad option into a usage error naming its flag.
func optionFlagError(err error) error {
	var oe *kubernetes.OptionError
	if errors.As(err, &oe) {
		return flagErrorf("--%s: %v", oe.Option, oe.Err)
	}
	return err
}

// printManifests is the summary: each file and what it holds, the notes, what the cluster needs, and the command
// that applies them.
func printManifests(io *ioStreams, planPath, dir string, p *plan.Plan, m *kubernetes.Manifests) {
	w := io.Out
	groups := 0
	for _, pool := range p.Cluster.Pools {
		groups += len(pool.CPUWorkers)
		for _, g := range pool.GPUs {
			groups += len(g.Workers)
		}
	}
	kind := "static"
	if p.Cluster.Schedule != nil {
		kind = "scaled"
	}
	fmt.Fprintf(w, "Kubernetes manifests for %s (a %s fleet: %d pool%s, %d worker group%s) in %s\n", planPath, kind,
		len(p.Cluster.Pools), plural(len(p.Cluster.Pools)), groups, plural(groups), dir)
	width := 0
	for _, f := range m.Files {
		width = max(width, len(f.Name))
	}
	for _, f := range m.Files {
		for i, line := range f.Lines {
			name := ""
			if i == 0 {
				name = f.Name
			}
			fmt.Fprintf(w, "  %-*s  %s\n", width, name, line)
		}
	}
	if len(m.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range m.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	fmt.Fprintln(w, "\nThe cluster needs:")
	for _, r := range m.Requires {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	fmt.Fprintf(w, "\nApply them with:\n  kubectl apply -f %s\n", filepath.Clean(dir)+string(filepath.Separator))
	for i, sec := range m.Secrets {
		lead := "then create"
		if i > 0 {
			lead = "and"
		}
		if sec.Optional {
			lead += ", if you like,"
		}
		fmt.Fprintf(w, "%s %s:\n  %s\n", lead, sec.Purpose, sec.Command)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
