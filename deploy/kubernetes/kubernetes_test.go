package kubernetes

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/")

// The scenario plans: testdata/cluster planned statically (three services time-sliced on one p5.4xlarge) and
// testdata/cluster/autoscale.yaml planned with --autoscale (1–4 g5.xlarge with two MPS workers, and one
// g5.xlarge; 1-minute windows, 30 s start-up, code-rerank spilling to Lambda).
const (
	staticPlan = "../../planner/plan/testdata/cluster-plan.json"
	scaledPlan = "../../planner/plan/testdata/cluster-scaled-plan.json"
)

func readPlan(t *testing.T, path string) (*plan.Plan, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(raw, path)
	if err != nil {
		t.Fatal(err)
	}
	return p, raw
}

// apply builds the manifests, writes them to a new folder and reads every file back strictly.
func apply(t *testing.T, p *plan.Plan, raw []byte, o Options) (*Manifests, *decodedSet, string) {
	t.Helper()
	m, err := Build(p, raw, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return m, decodeDir(t, dir), dir
}

func TestStaticScenario(t *testing.T) {
	p, raw := readPlan(t, staticPlan)
	o := Options{}
	m, set, dir := apply(t, p, raw, o)
	checkAgainstPlan(t, p, raw, o, set)
	if want := []string{FileNamespace, FilePlan, FileDevicePlugin, FileNodePools, FileWorkers, FileGateway}; !slices.Equal(set.files, want) {
		t.Errorf("files %v, want %v (a static plan scales nothing)", set.files, want)
	}
	// the scenario by name: three services time-sliced on one H100 of one p5.4xlarge
	if n := len(all[*appsv1.Deployment](set, "Deployment")); n != 4 {
		t.Errorf("%d Deployments, want 3 workers and the gateway", n)
	}
	if len(m.Notes) != 0 {
		t.Errorf("notes for a plain time-sliced plan: %q", m.Notes)
	}
	checkGolden(t, dir, "static")
}

func TestScaledScenarioWithKEDA(t *testing.T) {
	p, raw := readPlan(t, scaledPlan)
	o := Options{LambdaFunctions: []string{"code-rerank=encoder"}, ScheduleStart: 18*time.Hour + 30*time.Minute, Timezone: "Europe/Berlin", Namespace: "serving"}
	_, set, _ := apply(t, p, raw, o)
	checkAgainstPlan(t, p, raw, o, set)
	sos := all[*ScaledObject](set, "ScaledObject")
	// pool 0 (code-rerank: 1–4 instances of two MPS workers) scales; pool 1 (chat-embed) stays at one instance
	if len(sos) != 2 || sos[0].Name != "p0-gpu0-w0" || sos[1].Name != "p0-gpu0-w1" {
		t.Fatalf("ScaledObjects %v, want one per worker group of pool 0", names(sos))
	}
	// the schedule's pool-0 column, 2 1 4 4 4 4 4 4 3 3 3 4 4 2 2, is six runs; run 2 (windows 2–7) starts at
	// 120 s, launched 30 s early: 18:30 + 90 s, rounded down to 18:31
	tr := sos[0].Spec.Triggers[2]
	if len(sos[0].Spec.Triggers) != 6 || tr.Metadata["start"] != "31 18 * * *" || tr.Metadata["end"] != "38 18 * * *" || tr.Metadata["desiredReplicas"] != "4" {
		t.Errorf("triggers %+v", sos[0].Spec.Triggers)
	}
	if len(all[*batchv1.CronJob](set, "CronJob")) != 0 {
		t.Error("CronJobs beside KEDA")
	}
}

func TestScaledScenarioWithCronJobs(t *testing.T) {
	p, raw := readPlan(t, scaledPlan)
	o := Options{LambdaFunctions: []string{"encoder"}, CronJobs: true, ScheduleStart: 23*time.Hour + 50*time.Minute, Timezone: "America/New_York"}
	m, set, _ := apply(t, p, raw, o)
	checkAgainstPlan(t, p, raw, o, set)
	if n := len(all[*ScaledObject](set, "ScaledObject")); n != 0 {
		t.Errorf("%d ScaledObjects under --no-keda", n)
	}
	one[*corev1.ServiceAccount](t, set, "ServiceAccount", ScalerName)
	role := one[*rbacv1.Role](t, set, "Role", ScalerName)
	if len(role.Rules) != 2 || !slices.Equal(role.Rules[1].Resources, []string{"deployments/scale"}) {
		t.Errorf("role %+v", role.Rules)
	}
	one[*rbacv1.RoleBinding](t, set, "RoleBinding", ScalerName)
	for _, r := range m.Requires {
		if strings.Contains(r, "KEDA") {
			t.Errorf("KEDA required under --no-keda: %q", r)
		}
	}
}

// checkAgainstPlan checks decoded manifests against the plan they came from, computing every expected number
// from the plan itself.
func checkAgainstPlan(t *testing.T, p *plan.Plan, raw []byte, o Options, set *decodedSet) {
	t.Helper()
	o = o.withDefaults()
	c := p.Cluster
	cat := pricing.Embedded()

	one[*corev1.Namespace](t, set, "Namespace", o.Namespace)
	for _, d := range set.objects {
		switch d.kind {
		case "Namespace", "NodePool":
			if d.meta.GetNamespace() != "" {
				t.Errorf("%s %s is cluster-scoped but has namespace %q", d.kind, d.meta.GetName(), d.meta.GetNamespace())
			}
		case "ConfigMap":
		default:
			if d.meta.GetNamespace() != o.Namespace {
				t.Errorf("%s %s in namespace %q, want %q", d.kind, d.meta.GetName(), d.meta.GetNamespace(), o.Namespace)
			}
		}
	}

	// workers: one Deployment per group, found by the worker its container runs
	deps := map[string]*appsv1.Deployment{} // "p0/gpu0/w1" → Deployment
	for _, d := range all[*appsv1.Deployment](set, "Deployment") {
		args := d.Spec.Template.Spec.Containers[0].Args
		if args[0] != "workers" {
			continue
		}
		host, only := argAfter(args, "--host"), argAfter(args, "--only")
		pool, ok := strings.CutSuffix(host, "-0")
		if !ok || argAfter(args, "--plan") != ConfigMountPath+"/plan.json" || argAfter(args, "--listen") != "0.0.0.0:8000" {
			t.Errorf("worker %s args %q", d.Name, args)
		}
		if (o.Harness == "") != !slices.Contains(args, "--harness") || o.Harness != "" && argAfter(args, "--harness") != o.Harness {
			t.Errorf("worker %s: --harness in %q, want %q", d.Name, args, o.Harness)
		}
		deps[pool+"/"+only] = d
	}
	services := all[*corev1.Service](set, "Service")
	serviceFor := func(d *appsv1.Deployment) *corev1.Service {
		t.Helper()
		var found *corev1.Service
		for _, s := range services {
			if len(s.Spec.Selector) > 0 && selects(s.Spec.Selector, d.Spec.Template.Labels) {
				if found != nil {
					t.Errorf("Services %s and %s both select %s", found.Name, s.Name, d.Name)
				}
				found = s
			}
		}
		if found == nil {
			t.Fatalf("no Service selects Deployment %s", d.Name)
		}
		return found
	}

	plugins := map[string]*DevicePluginConfig{}
	if cms := all[*corev1.ConfigMap](set, "ConfigMap"); len(cms) > 0 {
		for _, cm := range cms {
			if cm.Name != o.Namespace+"-device-plugin-config" {
				continue
			}
			if cm.Namespace != o.DevicePluginNamespace {
				t.Errorf("device plugin ConfigMap in %q, want %q", cm.Namespace, o.DevicePluginNamespace)
			}
			for k, v := range cm.Data {
				var dc DevicePluginConfig
				strictYAML(t, "device plugin config "+k, v, &dc)
				if dc.Version != "v1" {
					t.Errorf("config %s: version %q", k, dc.Version)
				}
				plugins[k] = &dc
			}
			if plugins["default"] == nil || plugins["default"].Sharing != nil {
				t.Errorf("no default config sharing nothing: %+v", plugins["default"])
			}
		}
	}

	groups := 0
	for pi, pool := range c.Pools {
		in, _ := cat.Instance(pool.InstanceType)
		// the NodePool
		np := one[*NodePool](t, set, "NodePool", fmt.Sprintf("%s-p%d", o.Namespace, pi))
		reqs := map[string][]string{}
		for _, r := range np.Spec.Template.Spec.Requirements {
			if r.Operator != corev1.NodeSelectorOpIn {
				t.Errorf("NodePool %s: requirement %+v", np.Name, r)
			}
			reqs[r.Key] = r.Values
		}
		if !slices.Equal(reqs["node.kubernetes.io/instance-type"], []string{pool.InstanceType}) || !slices.Equal(reqs["karpenter.sh/capacity-type"], []string{"on-demand"}) {
			t.Errorf("NodePool %s requirements %v, want instance type %s on demand", np.Name, reqs, pool.InstanceType)
		}
		if ref := np.Spec.Template.Spec.NodeClassRef; ref == nil || *ref != (NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: o.NodeClass}) {
			t.Errorf("NodePool %s nodeClassRef %+v", np.Name, ref)
		}
		checkQuantity(t, "NodePool "+np.Name+" cpu limit", np.Spec.Limits[corev1.ResourceCPU], float64(pool.Count*pool.VCPUs))
		if len(pool.GPUs) > 0 {
			checkQuantity(t, "NodePool "+np.Name+" GPU limit", np.Spec.Limits["nvidia.com/gpu"], float64(pool.Count)*in.GPU.Count)
			if tt := np.Spec.Template.Spec.Taints; len(tt) != 1 || tt[0].Key != "nvidia.com/gpu" || tt[0].Effect != corev1.TaintEffectNoSchedule {
				t.Errorf("GPU NodePool %s taints %+v", np.Name, tt)
			}
		} else if _, ok := np.Spec.Limits["nvidia.com/gpu"]; ok || len(np.Spec.Template.Spec.Taints) > 0 {
			t.Errorf("CPU NodePool %s has a GPU limit or taint: %+v", np.Name, np.Spec)
		}

		// how the pool's GPUs are shared on a node
		configKey := np.Spec.Template.Metadata.Labels["nvidia.com/device-plugin.config"]
		for _, g := range pool.GPUs {
			switch g.Sharing {
			case plan.SharingTimeSlice, plan.SharingMPS:
				dc := plugins[configKey]
				if dc == nil || dc.Sharing == nil {
					t.Fatalf("pool %d (%s) has no device plugin sharing config (label %q)", pi, g.Sharing, configKey)
				}
				rr := dc.Sharing.TimeSlicing
				if g.Sharing == plan.SharingMPS {
					rr = dc.Sharing.MPS
				}
				if rr == nil || len(rr.Resources) != 1 || rr.Resources[0] != (ReplicatedResource{Name: "nvidia.com/gpu", Replicas: len(g.Workers)}) || rr.RenameByDefault {
					t.Errorf("pool %d: %s config %+v, want nvidia.com/gpu × %d workers", pi, g.Sharing, rr, len(g.Workers))
				}
			case plan.SharingExclusive:
				if configKey != "" {
					t.Errorf("pool %d of exclusive GPUs picks device plugin config %q", pi, configKey)
				}
			case plan.SharingMIG:
				if dc := plugins[configKey]; dc == nil || dc.Flags == nil || dc.Flags.MigStrategy != "mixed" {
					t.Errorf("MIG pool %d: device plugin config %q is not the mixed strategy", pi, configKey)
				}
				if np.Spec.Template.Metadata.Labels["nvidia.com/mig.config"] != configKey {
					t.Errorf("MIG pool %d: no nvidia.com/mig.config label", pi)
				}
			}
		}

		// the pool's worker groups
		expected := pool.Count
		if c.Schedule != nil {
			expected = c.Schedule.Windows[0].Counts[pi]
		}
		check := func(local string, w plan.Worker, g *plan.GPU) *appsv1.Deployment {
			groups++
			d := deps[fmt.Sprintf("p%d/%s", pi, local)]
			if d == nil {
				t.Fatalf("no Deployment runs worker %s of pool %d", local, pi)
			}
			if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != expected {
				t.Errorf("%s: replicas %v, want the pool's %d", d.Name, d.Spec.Replicas, expected)
			}
			ps := d.Spec.Template.Spec
			if ps.NodeSelector["karpenter.sh/nodepool"] != np.Name || ps.NodeSelector["node.kubernetes.io/instance-type"] != pool.InstanceType {
				t.Errorf("%s nodeSelector %v", d.Name, ps.NodeSelector)
			}
			if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("%s selector does not match its pods", d.Name)
			}
			ctr := ps.Containers[0]
			if ctr.Image != o.Image || ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet.Path != "/v2/health/ready" || ctr.ReadinessProbe.HTTPGet.Port.IntValue() != 8000 {
				t.Errorf("%s container %+v", d.Name, ctr)
			}
			svc := serviceFor(d)
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8000 {
				t.Errorf("Service %s ports %+v", svc.Name, svc.Spec.Ports)
			}
			tolerates := slices.ContainsFunc(ps.Tolerations, func(tl corev1.Toleration) bool {
				return tl.Key == "nvidia.com/gpu" && tl.Effect == corev1.TaintEffectNoSchedule && tl.Operator == corev1.TolerationOpExists
			})
			if tolerates != (len(pool.GPUs) > 0) {
				t.Errorf("%s tolerates the GPU taint: %v", d.Name, tolerates)
			}
			env := map[string]string{}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			if e := ctr.Env[0]; e.Name != "INFERPLAN_AUTH_TOKEN" || e.ValueFrom.SecretKeyRef.Name != WorkersAuth || e.ValueFrom.SecretKeyRef.Optional != nil {
				t.Errorf("%s: the workers' token %+v", d.Name, e)
			}
			if g != nil && g.Sharing == plan.SharingMPS {
				if env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] != strconv.Itoa(w.MPSActiveThreadPct) {
					t.Errorf("%s: MPS threads %q, want %d", d.Name, env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"], w.MPSActiveThreadPct)
				}
			} else if _, ok := env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"]; ok {
				t.Errorf("%s sets MPS threads without MPS", d.Name)
			}
			return d
		}
		for _, g := range pool.GPUs {
			for wi, w := range g.Workers {
				d := check(fmt.Sprintf("gpu%d/w%d", g.Index, wi), w, &g)
				res := d.Spec.Template.Spec.Containers[0].Resources
				want := corev1.ResourceName("nvidia.com/gpu")
				if g.Sharing == plan.SharingMIG {
					size, _, _ := strings.Cut(w.MIGProfile, ".")
					var mig []corev1.ResourceName
					for k := range res.Limits {
						mig = append(mig, k)
					}
					if len(mig) != 1 || !strings.HasPrefix(string(mig[0]), "nvidia.com/mig-"+size+".") {
						t.Fatalf("%s: MIG worker %q asks for %v", d.Name, w.MIGProfile, mig)
					}
					want = mig[0]
				}
				for _, l := range []corev1.ResourceList{res.Requests, res.Limits} {
					if len(l) != 1 {
						t.Errorf("%s resources %+v, want %s only", d.Name, res, want)
					}
					checkQuantity(t, d.Name+" "+string(want), l[want], 1)
				}
			}
		}
		total := 0.0
		for _, w := range pool.CPUWorkers {
			total += w.VCPUs
		}
		for wi, w := range pool.CPUWorkers {
			d := check(fmt.Sprintf("cpu/w%d", wi), w, nil)
			res := d.Spec.Template.Spec.Containers[0].Resources
			got := res.Requests.Cpu().AsApproximateFloat64()
			if len(res.Limits) != 0 {
				t.Errorf("%s: CPU worker with limits %v (they would throttle it)", d.Name, res.Limits)
			}
			// the worker's vCPUs, unless the pool's workers would leave the node less than 0.5 vCPU; then all
			// scaled by the same factor to leave it that
			want := w.VCPUs
			if total > float64(pool.VCPUs)-0.5 {
				want = w.VCPUs * (float64(pool.VCPUs) - 0.5) / total
			}
			if math.Abs(got-want) > 0.001 {
				t.Errorf("%s: cpu request %v, want %.3f (vcpus %g of the pool's %d)", d.Name, got, want, w.VCPUs, pool.VCPUs)
			}
		}
		checkScaling(t, c, pi, o, set)
	}
	if n := len(deps); n != groups {
		t.Errorf("%d worker Deployments, want one per worker group (%d)", n, groups)
	}

	// the plan and the mapping the gateway serves from
	cm := one[*corev1.ConfigMap](t, set, "ConfigMap", PlanConfigMap)
	if cm.Data["plan.json"] != string(raw) {
		t.Error("plan.json in the ConfigMap is not the plan file")
	}
	mapping, err := fleet.ParseMapping([]byte(cm.Data["workers.json"]), "workers.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Expand(p)
	if err != nil {
		t.Fatal(err)
	}
	urls, err := f.URLs(mapping)
	if err != nil {
		t.Fatalf("the gateway would refuse the mapping: %v", err)
	}
	for i, w := range f.Workers {
		h, _ := f.Host(w.Host)
		d := deps[fmt.Sprintf("p%d/%s", h.Pool, strings.TrimPrefix(w.ID, w.Host+"/"))]
		if want := fmt.Sprintf("http://%s.%s.svc:8000", serviceFor(d).Name, o.Namespace); urls[i] != want {
			t.Errorf("worker %s → %q, want its group's Service %s", w.ID, urls[i], want)
		}
	}
	if len(mapping.Workers) != len(f.Workers) {
		t.Errorf("mapping has %d workers, the fleet %d", len(mapping.Workers), len(f.Workers))
	}

	// the gateway
	gw := one[*appsv1.Deployment](t, set, "Deployment", GatewayName)
	args := gw.Spec.Template.Spec.Containers[0].Args
	if args[0] != "serve" || argAfter(args, "--plan") != ConfigMountPath+"/plan.json" || argAfter(args, "--workers") != ConfigMountPath+"/workers.json" || argAfter(args, "--listen") != "0.0.0.0:8080" {
		t.Errorf("gateway args %q", args)
	}
	// one --spill-lambda SERVICE=FUNCTION per service the plan spills, the function named for it or for all
	var spills []string
	for _, s := range c.Services {
		if s.Spill == nil {
			continue
		}
		fn := ""
		for _, v := range o.LambdaFunctions {
			if svc, f, ok := strings.Cut(v, "="); ok && svc == s.Name {
				fn = f
			} else if !ok && fn == "" {
				fn = v
			}
		}
		spills = append(spills, s.Name+"="+fn)
	}
	var got []string
	for i, a := range args {
		if a == "--spill-lambda" {
			got = append(got, args[i+1])
		}
	}
	if !slices.Equal(got, spills) {
		t.Errorf("gateway spills %q, want %q", got, spills)
	}
	e := gw.Spec.Template.Spec.Containers[0].Env
	if len(e) != 2 || e[0].Name != "INFERPLAN_AUTH_TOKEN" || e[0].ValueFrom.SecretKeyRef.Name != GatewayAuth || e[0].ValueFrom.SecretKeyRef.Optional != nil ||
		e[1].Name != "INFERPLAN_UPSTREAM_TOKEN" || e[1].ValueFrom.SecretKeyRef.Name != WorkersAuth {
		t.Errorf("gateway env %+v", e)
	}
	if svc := serviceFor(gw); svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("gateway Service %+v", svc.Spec)
	}
}

// checkScaling checks that a pool's replicas follow the schedule: at every minute of the day, what KEDA's
// triggers (the largest desiredReplicas among active triggers, else minReplicaCount) or the CronJobs (the latest
// before the minute) set must be the largest count among the windows whose instances must be up then — from
// (window start − start-up) rounded down to the minute to the window's end rounded up, on the daily clock that
// starts window 0 at the schedule start — and the pool's fewest where none is.
func checkScaling(t *testing.T, c *plan.Cluster, pi int, o Options, set *decodedSet) {
	t.Helper()
	pool := c.Pools[pi]
	prefix := fmt.Sprintf("p%d-", pi)
	var sos []*ScaledObject
	for _, so := range all[*ScaledObject](set, "ScaledObject") {
		if strings.HasPrefix(so.Name, prefix) {
			sos = append(sos, so)
		}
	}
	var cjs []*batchv1.CronJob
	for _, cj := range all[*batchv1.CronJob](set, "CronJob") {
		if strings.HasPrefix(cj.Name, prefix) {
			cjs = append(cjs, cj)
		}
	}
	sc := c.Schedule
	if sc == nil || pool.MinCount == pool.Count {
		if len(sos)+len(cjs) > 0 {
			t.Errorf("pool %d does not scale, yet has %d ScaledObjects and %d CronJobs", pi, len(sos), len(cjs))
		}
		return
	}
	minCount := max(pool.MinCount, 1)
	var want [24 * 60]int
	for m := range want {
		want[m] = minCount
	}
	base := o.ScheduleStart.Seconds()
	for _, w := range sc.Windows {
		from := int(math.Floor((base + w.StartS - sc.StartupS) / 60))
		to := int(math.Ceil((base + w.EndS) / 60))
		for m := from; m < to; m++ {
			i := ((m % 1440) + 1440) % 1440
			want[i] = max(want[i], w.Counts[pi])
		}
	}
	groups := len(pool.CPUWorkers)
	for _, g := range pool.GPUs {
		groups += len(g.Workers)
	}
	if o.CronJobs {
		if len(sos) > 0 || len(cjs) == 0 {
			t.Fatalf("pool %d: %d ScaledObjects, %d CronJobs under --no-keda", pi, len(sos), len(cjs))
		}
		at := map[int]int{}
		for _, cj := range cjs {
			m := cronMinute(t, cj.Spec.Schedule)
			if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != o.Timezone {
				t.Errorf("%s time zone %v, want %s", cj.Name, cj.Spec.TimeZone, o.Timezone)
			}
			ctr := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
			args := strings.Join(append(ctr.Command, ctr.Args...), " ")
			n, err := strconv.Atoi(strings.TrimPrefix(argWithPrefix(ctr.Args, "--replicas="), "--replicas="))
			if err != nil || !strings.HasPrefix(args, "kubectl scale --namespace "+o.Namespace) || strings.Count(args, "deployment/"+prefix) != groups {
				t.Errorf("%s runs %q, want kubectl scale of the pool's %d Deployments", cj.Name, args, groups)
			}
			if cj.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName != ScalerName {
				t.Errorf("%s runs as %q", cj.Name, cj.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName)
			}
			at[m] = n
		}
		// replay the day twice over, so the first minutes see the changes of the day before
		cur := -1
		for pass := range 2 {
			for m := range want {
				if n, ok := at[m]; ok {
					cur = n
				}
				if pass == 1 && cur != want[m] {
					t.Fatalf("pool %d at %s: the CronJobs leave %d replicas, the schedule wants %d", pi, clock(m), cur, want[m])
				}
			}
		}
		return
	}
	if len(cjs) > 0 || len(sos) != groups {
		t.Fatalf("pool %d: %d ScaledObjects for %d groups (and %d CronJobs)", pi, len(sos), groups, len(cjs))
	}
	// runs of equal counts, from the plan's column
	runs := 0
	for j, w := range sc.Windows {
		if j == 0 || w.Counts[pi] != sc.Windows[j-1].Counts[pi] {
			runs++
		}
	}
	for _, so := range sos {
		s := so.Spec
		if s.ScaleTargetRef == nil || s.ScaleTargetRef.Name != so.Name || s.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("%s targets %+v", so.Name, s.ScaleTargetRef)
		}
		if s.MinReplicaCount == nil || int(*s.MinReplicaCount) != minCount || s.MaxReplicaCount == nil || int(*s.MaxReplicaCount) != pool.Count {
			t.Errorf("%s replicas %v–%v, want %d–%d", so.Name, s.MinReplicaCount, s.MaxReplicaCount, minCount, pool.Count)
		}
		if len(s.Triggers) != runs {
			t.Errorf("%s: %d triggers, want one per run of equal counts (%d)", so.Name, len(s.Triggers), runs)
		}
		if b := s.Advanced; b == nil || b.HorizontalPodAutoscalerConfig.Behavior.ScaleDown.StabilizationWindowSeconds == nil || *b.HorizontalPodAutoscalerConfig.Behavior.ScaleDown.StabilizationWindowSeconds != 0 {
			t.Errorf("%s: the HPA would wait before scaling down", so.Name)
		}
		var got [24 * 60]int
		for m := range got {
			got[m] = minCount
		}
		for _, tr := range s.Triggers {
			md := tr.Metadata
			if tr.Type != "cron" || md["timezone"] != o.Timezone || len(md) != 4 {
				t.Errorf("%s trigger %+v", so.Name, tr)
			}
			n, err := strconv.Atoi(md["desiredReplicas"])
			if err != nil || n < minCount || n > pool.Count {
				t.Errorf("%s trigger desiredReplicas %q", so.Name, md["desiredReplicas"])
			}
			from, to := cronMinute(t, md["start"]), cronMinute(t, md["end"])
			if from == to {
				t.Errorf("%s trigger starts and ends at %s", so.Name, clock(from))
			}
			for m := from; m != to; m = (m + 1) % 1440 {
				got[m] = max(got[m], n)
			}
		}
		for m := range want {
			if got[m] != want[m] {
				t.Fatalf("%s at %s: the triggers ask for %d replicas, the schedule for %d", so.Name, clock(m), got[m], want[m])
			}
		}
	}
}

// cronMinute reads "M H * * *" as a minute of the day.
func cronMinute(t *testing.T, expr string) int {
	t.Helper()
	f := strings.Fields(expr)
	if len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		t.Fatalf("cron %q is not daily", expr)
	}
	m, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || m < 0 || m > 59 || h < 0 || h > 23 {
		t.Fatalf("cron %q", expr)
	}
	return h*60 + m
}

func checkQuantity(t *testing.T, what string, q resource.Quantity, want float64) {
	t.Helper()
	if got := q.AsApproximateFloat64(); math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %s, want %g", what, q.String(), want)
	}
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func argWithPrefix(args []string, prefix string) string {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return a
		}
	}
	return ""
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func names(sos []*ScaledObject) []string {
	var out []string
	for _, so := range sos {
		out = append(out, so.Name)
	}
	return out
}

// checkGolden compares the written files with testdata/<name>/ (go test -update rewrites them).
func checkGolden(t *testing.T, dir, name string) {
	t.Helper()
	want := filepath.Join("testdata", name)
	if *update {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(want, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(filepath.Join(want, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		golden, err := os.ReadFile(filepath.Join(want, e.Name()))
		if err != nil {
			t.Errorf("%v (go test ./deploy/kubernetes -update writes it)", err)
			continue
		}
		if string(golden) != string(data) {
			t.Errorf("%s differs from %s (go test ./deploy/kubernetes -update if intended)", e.Name(), filepath.Join(want, e.Name()))
		}
	}
	goldens, _ := os.ReadDir(want)
	if len(goldens) != len(got) {
		t.Errorf("wrote %v; the golden folder has %d files", got, len(goldens))
	}
}
