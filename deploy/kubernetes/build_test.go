package kubernetes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
)

// migPlan is a hand-built plan the planner could write: on two p5.4xlarge (one H100 80 GB each) MIG slices of
// 3/7 for embed and 2/7 twice for rerank (one named in full, one by its size only); on three c6i.2xlarge a batch
// worker taking all 8 vCPUs; on one c6i.4xlarge two small workers of 6 and 4 of its 16 vCPUs.
func migPlan(t *testing.T) (*plan.Plan, []byte) {
	t.Helper()
	slo := plan.SLO{Percentile: 99, LatencyMs: 200}
	w := func(svc string, share float64, mig string) plan.Worker {
		return plan.Worker{Service: svc, MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 8, TimeoutMs: 2,
			Hardware: "nvidia-h100-80gb-hbm3", SMShare: share, MIGProfile: mig}
	}
	cpu := func(svc string, vcpus float64) plan.Worker {
		return plan.Worker{Service: svc, MinSize: 1, MaxSize: plan.NoUpperBound, BatchSize: 4, TimeoutMs: 10,
			Hardware: "x86_64-host-16core", VCPUs: vcpus, Threads: vcpus / 2}
	}
	p := &plan.Plan{Version: plan.Version, Platform: plan.PlatformCluster, Model: "bert",
		Estimate: plan.Estimate{Method: "replay"},
		Cluster: &plan.Cluster{
			Services: []plan.Service{{Name: "embed", Model: "bert-base", SLO: slo}, {Name: "rerank", Model: "bert-large", SLO: slo},
				{Name: "batch", Model: "bert-base", SLO: slo}, {Name: "small", Model: "distilbert", SLO: slo}},
			Pools: []plan.Pool{
				{InstanceType: "p5.4xlarge", Count: 2, USDPerHour: 6.88, VCPUs: 16, GPU: "h100", GPUs: []plan.GPU{{Index: 0, Sharing: plan.SharingMIG,
					Workers: []plan.Worker{w("embed", 3.0/7, "3g.40gb"), w("rerank", 2.0/7, "2g.20gb"), w("rerank", 2.0/7, "2g")}}}},
				{InstanceType: "c6i.2xlarge", Count: 3, USDPerHour: 0.34, VCPUs: 8, CPUWorkers: []plan.Worker{cpu("batch", 8)}},
				{InstanceType: "c6i.4xlarge", Count: 1, USDPerHour: 0.68, VCPUs: 16, CPUWorkers: []plan.Worker{cpu("small", 6), cpu("small", 4)}},
			},
			Routing: "round-robin"}}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err = plan.Parse(raw, "mig.json")
	if err != nil {
		t.Fatalf("the hand-built plan is not a valid plan: %v", err)
	}
	return p, raw
}

func TestMIGAndCPUPlan(t *testing.T) {
	p, raw := migPlan(t)
	o := Options{Harness: "python3 /opt/harness/torch_encoder.py --model bert-base", DevicePluginNamespace: "gpu-operator"}
	m, set, _ := apply(t, p, raw, o)
	checkAgainstPlan(t, p, raw, o, set)
	for name, want := range map[string]corev1.ResourceName{"p0-gpu0-w0": "nvidia.com/mig-3g.40gb", "p0-gpu0-w1": "nvidia.com/mig-2g.20gb", "p0-gpu0-w2": "nvidia.com/mig-2g.20gb"} {
		d := one[*appsv1.Deployment](t, set, "Deployment", name)
		if q, ok := d.Spec.Template.Spec.Containers[0].Resources.Limits[want]; !ok || q.Value() != 1 {
			t.Errorf("%s resources %+v, want %s: 1", name, d.Spec.Template.Spec.Containers[0].Resources, want)
		}
	}
	// the MIG manager lays out GPU 0 of the pool's nodes as the plan's slices
	var mig MIGPartedConfig
	cm := one[*corev1.ConfigMap](t, set, "ConfigMap", "inferplan-mig-parted-config")
	strictYAML(t, "mig-parted config", cm.Data["config.yaml"], &mig)
	specs := mig.MigConfigs["inferplan-p0"]
	if cm.Namespace != "gpu-operator" || len(specs) != 1 || !specs[0].MigEnabled || len(specs[0].MigDevices) != 2 ||
		specs[0].MigDevices["3g.40gb"] != 1 || specs[0].MigDevices["2g.20gb"] != 2 {
		t.Errorf("MIG layout %+v in %s", mig, cm.Namespace)
	}
	if d, ok := specs[0].Devices.([]any); !ok || len(d) != 1 || d[0] != 0.0 {
		t.Errorf("MIG layout devices %#v, want [0]", specs[0].Devices)
	}
	// the c6i.2xlarge worker asks for 7.5 of 8 vCPUs, and the notes say why
	d := one[*appsv1.Deployment](t, set, "Deployment", "p1-cpu-w0")
	if got := d.Spec.Template.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "7500m" {
		t.Errorf("full-node CPU worker requests %s", got)
	}
	if !slices.ContainsFunc(m.Notes, func(n string) bool { return strings.Contains(n, "Pool 1") && strings.Contains(n, "500m") }) ||
		!slices.ContainsFunc(m.Notes, func(n string) bool { return strings.Contains(n, "Karpenter does not know nvidia.com/mig-*") }) {
		t.Errorf("notes %q", m.Notes)
	}
	if !slices.ContainsFunc(m.Requires, func(r string) bool { return strings.Contains(r, "MIG manager") }) {
		t.Errorf("requires %q", m.Requires)
	}
}

func TestMIGResourceNames(t *testing.T) {
	o := Options{}.withDefaults()
	for _, tc := range []struct{ typ, profile, want, err string }{
		{"p5.4xlarge", "1g", "nvidia.com/mig-1g.10gb", ""},
		{"p5.4xlarge", "7g.80gb", "nvidia.com/mig-7g.80gb", ""},
		{"p5.4xlarge", "1g.20gb", "nvidia.com/mig-1g.20gb", ""},
		{"p4d.24xlarge", "3g", "nvidia.com/mig-3g.20gb", ""},  // A100 40 GB
		{"p4de.24xlarge", "3g", "nvidia.com/mig-3g.40gb", ""}, // A100 80 GB
		{"p5e.48xlarge", "2g", "nvidia.com/mig-2g.35gb", ""},  // H200 141 GB
		{"p5.4xlarge", "3g.20gb", "", "does not exist on p5.4xlarge's h100 80 GB"},
		{"p5.4xlarge", "5g", "", "not one of 1g…7g"},
		{"g5.xlarge", "1g", "", "no MIG profiles known for its GPU (a10g 22 GB)"},
		{"c6i.large", "1g", "", "does not know its GPU"},
		{"x9.nonexistent", "1g", "", "does not know its GPU"},
	} {
		got, err := MIGResource(o.Catalog, tc.typ, tc.profile)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %s: %q, %v; want %q, %q", tc.typ, tc.profile, got, err, tc.want, tc.err)
		}
	}
}

func TestPlansThatCannotBeExpressed(t *testing.T) {
	static, staticRaw := readPlan(t, staticPlan)
	scaled, scaledRaw := readPlan(t, scaledPlan)
	edit := func(p *plan.Plan, f func(*plan.Cluster)) *plan.Plan {
		raw, _ := p.Marshal()
		q, err := plan.Parse(raw, "x.json")
		if err != nil {
			t.Fatal(err)
		}
		f(q.Cluster)
		return q
	}
	for _, tc := range []struct {
		name   string
		p      *plan.Plan
		raw    []byte
		o      Options
		option string // an OptionError's option, else an input error's field
		words  string
	}{
		{"spill without a function", scaled, scaledRaw, Options{}, "lambda-function", "spills code-rerank to Lambda"},
		{"spill with another service's function only", scaled, scaledRaw, Options{LambdaFunctions: []string{"chat-embed=f"}}, "lambda-function", "spills code-rerank to Lambda"},
		{"a function for a service that does not spill", scaled, scaledRaw, Options{LambdaFunctions: []string{"f", "chat-embed=g"}}, "lambda-function", "does not spill service chat-embed"},
		{"a function for no service", scaled, scaledRaw, Options{LambdaFunctions: []string{"code-rerank=f", "chat=g"}}, "lambda-function", "no service \"chat\""},
		{"MIG on a GPU without it", edit(static, func(c *plan.Cluster) {
			c.Pools[0].InstanceType = "g5.xlarge"
			g := &c.Pools[0].GPUs[0]
			g.Sharing = plan.SharingMIG
			for i := range g.Workers {
				g.Workers[i].MIGProfile = "2g"
			}
		}), staticRaw, Options{}, "pools[0].gpus[0].workers[0].mig_profile", "no MIG profiles known"},
		{"two sharing modes on a node", edit(static, func(c *plan.Cluster) {
			c.Pools[0].InstanceType = "p5.48xlarge"
			g := c.Pools[0].GPUs[0]
			g.Index, g.Sharing = 1, plan.SharingMPS
			c.Pools[0].GPUs = append(c.Pools[0].GPUs, g)
		}), staticRaw, Options{}, "pools[0].gpus", "mixes GPU sharing modes (mps, time-slice)"},
		{"uneven replicas on a node", edit(static, func(c *plan.Cluster) {
			c.Pools[0].InstanceType = "p5.48xlarge"
			g := c.Pools[0].GPUs[0]
			g.Index, g.Workers = 1, g.Workers[:2]
			c.Pools[0].GPUs = append(c.Pools[0].GPUs, g)
		}), staticRaw, Options{}, "pools[0].gpus", "same number of replicas"},
		{"a schedule longer than a day", edit(scaled, func(c *plan.Cluster) {
			w := &c.Schedule.Windows[len(c.Schedule.Windows)-1]
			w.EndS = 25 * 3600
		}), scaledRaw, Options{LambdaFunctions: []string{"f"}}, "schedule", "more than a day"},
		{"a bad option", static, staticRaw, Options{Namespace: "Serving"}, "namespace", "not a namespace name"},
		{"a plan that breaks the plan rules", edit(static, func(c *plan.Cluster) { c.Pools[0].Count = 0 }), staticRaw, Options{}, "pools[0].count", "below 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.p, tc.raw, tc.o)
			var oe *OptionError
			var ie *inputerr.Error
			switch {
			case err == nil:
				t.Fatal("no error")
			case !strings.Contains(err.Error(), tc.words):
				t.Errorf("err = %v, want one saying %q", err, tc.words)
			case errors.As(err, &oe):
				if oe.Option != tc.option {
					t.Errorf("option %q, want %q", oe.Option, tc.option)
				}
			case errors.As(err, &ie):
				if ie.Field != tc.option {
					t.Errorf("field %q, want %q", ie.Field, tc.option)
				}
			default:
				t.Errorf("err %T %v is neither an option nor an input error", err, err)
			}
		})
	}
	lambda := &plan.Plan{Version: plan.Version, Platform: plan.PlatformLambda, Lambda: &plan.Lambda{}}
	if _, err := Build(lambda, nil, Options{}); !inputerr.Is(err) || !strings.Contains(err.Error(), "apply it to Lambda") {
		t.Errorf("a Lambda plan: %v", err)
	}
}

func TestUnevenMPSSplitIsNoted(t *testing.T) {
	p, raw := readPlan(t, scaledPlan)
	g := &p.Cluster.Pools[0].GPUs[0]
	g.Workers[0].MPSActiveThreadPct, g.Workers[1].MPSActiveThreadPct = 70, 30
	m, err := Build(p, raw, Options{LambdaFunctions: []string{"f"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Notes) != 1 || !strings.Contains(m.Notes[0], "p0-gpu0-w0 asks for 70%") || !strings.Contains(m.Notes[0], "caps each of its 2 clients at 50%") {
		t.Errorf("notes %q", m.Notes)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o      Options
		option string
	}{
		{Options{}, ""},
		{Options{Namespace: "my-ns", Timezone: "Asia/Kolkata", ScheduleStart: 23*time.Hour + 59*time.Minute}, ""},
		{Options{Namespace: "My_NS"}, "namespace"},
		{Options{Namespace: strings.Repeat("a", 51)}, "namespace"},
		{Options{DevicePluginNamespace: "gpu operator"}, "device-plugin-namespace"},
		{Options{NodeClass: "Default!"}, "node-class"},
		{Options{Image: "ghcr.io/x y"}, "image"},
		{Options{KubectlImage: "kubectl\n"}, "kubectl-image"},
		{Options{ScheduleStart: 24 * time.Hour}, "schedule-start"},
		{Options{ScheduleStart: 90 * time.Second}, "schedule-start"},
		{Options{Timezone: "Mars/Olympus"}, "timezone"},
		{Options{Timezone: "Local"}, "timezone"},
		{Options{LambdaFunctions: []string{"my fn"}}, "lambda-function"},
		{Options{LambdaFunctions: []string{"a", "b"}}, "lambda-function"},
		{Options{LambdaFunctions: []string{"svc=a", "svc=b"}}, "lambda-function"},
		{Options{LambdaFunctions: []string{"=a"}}, "lambda-function"},
		{Options{LambdaFunctions: []string{"svc="}}, "lambda-function"},
		{Options{LambdaFunctions: []string{"encoder", "chat=arn:aws:lambda:us-east-1:123456789012:function:chat"}}, ""},
		{Options{Harness: "a\nb"}, "harness"},
	} {
		err := tc.o.Validate()
		var oe *OptionError
		if tc.option == "" && err != nil || tc.option != "" && (!errors.As(err, &oe) || oe.Option != tc.option) {
			t.Errorf("%+v: %v, want an error about %q", tc.o, err, tc.option)
		}
	}
	for s, want := range map[string]time.Duration{"00:00": 0, "08:30": 8*time.Hour + 30*time.Minute, "23:59": 23*time.Hour + 59*time.Minute} {
		if got, err := ParseClock(s); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"24:00", "8:30", "08:30:00", "noon", ""} {
		if _, err := ParseClock(s); err == nil {
			t.Errorf("ParseClock(%q) took it", s)
		}
	}
}

func TestSchedulePlacesRunsOnTheClock(t *testing.T) {
	// windows of 10 minutes with a 90 s start-up, counts 1 3 3 2 1, starting at 23:40: the 3 run (windows 1–2)
	// is up from 23:50 − 1.5 min → 23:48 to 00:10; the schedule ends at 00:30
	sc := &plan.Schedule{WindowS: 600, StartupS: 90}
	for i, n := range []int{1, 3, 3, 2, 1} {
		sc.Windows = append(sc.Windows, plan.ScheduleWindow{StartS: float64(i) * 600, EndS: float64(i+1) * 600, Counts: []int{n}})
	}
	ws, err := CronWindows(sc, 0, 23*time.Hour+40*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []CronWindow{{Start: 23*60 + 38, End: 23*60 + 50, Count: 1}, {Start: 23*60 + 48, End: 10, Count: 3}, {Start: 8, End: 20, Count: 2}, {Start: 18, End: 30, Count: 1}}
	if len(ws) != len(want) {
		t.Fatalf("%d windows", len(ws))
	}
	for i := range ws {
		if ws[i].Start != want[i].Start || ws[i].End != want[i].End || ws[i].Count != want[i].Count {
			t.Errorf("window %d = %s–%s ×%d, want %s–%s ×%d", i, clock(ws[i].Start), clock(ws[i].End), ws[i].Count, clock(want[i].Start), clock(want[i].End), want[i].Count)
		}
	}
	got := Changes(Desired(ws, 1))
	// up to 3 at 23:48 (1.5 min before the window, rounded down), down to 2 at 00:10, to 1 at 00:20
	if want := []Change{{10, 2}, {20, 1}, {23*60 + 48, 3}}; !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if cronAt(23*60+48) != "48 23 * * *" {
		t.Error(cronAt(23*60 + 48))
	}
}

func TestWriteDirReplacesAnEarlierPlansFiles(t *testing.T) {
	dir := t.TempDir()
	scaled, scaledRaw := readPlan(t, scaledPlan)
	m, err := Build(scaled, scaledRaw, Options{LambdaFunctions: []string{"f"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "kustomization.yaml")
	if err := os.WriteFile(mine, []byte("resources: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	static, staticRaw := readPlan(t, staticPlan)
	m2, err := Build(static, staticRaw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	// the scaled plan's 40-scaling.yaml is gone, the user's own file stays, no temporary file is left
	if want := []string{FileNamespace, FilePlan, FileDevicePlugin, FileNodePools, FileWorkers, FileGateway, "kustomization.yaml"}; !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	// the same plan gives the same bytes
	for _, f := range m2.Files {
		a, _ := f.Render()
		b, _ := os.ReadFile(filepath.Join(dir, f.Name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s rendered twice differs", f.Name)
		}
	}
	notDir := filepath.Join(dir, FileNamespace)
	if err := m2.WriteDir(notDir); err == nil {
		t.Error("wrote into a file as if it were a folder")
	}
}
