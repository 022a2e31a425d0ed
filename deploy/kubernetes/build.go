// Package kubernetes turns a cluster plan into Kubernetes manifests: typed objects (k8s.io/api, and declared here
// for the Karpenter and KEDA custom resources) written as YAML files that `kubectl apply -f DIR` applies.
//
// The mapping, plan → objects:
//   - each pool → a Karpenter NodePool restricted to the pool's instance type, on demand, with limits of the
//     pool's most instances (GPU pools tainted nvidia.com/gpu:NoSchedule);
//   - each pool whose GPUs are shared → a key of the NVIDIA device plugin's ConfigMap (time-slicing or MPS
//     replicas = workers per GPU; MIG: the mixed strategy, plus a MIG manager layout), picked by the label
//     nvidia.com/device-plugin.config its NodePool puts on its nodes;
//   - each worker group — the workers at one position of a pool's layout (GPU g, worker k; or CPU worker k) on
//     every instance of the pool → a Deployment (replicas = the pool's instances) running `inferplan workers`
//     for that one worker, and a Service;
//   - a scaled plan's schedule → per scaled group a KEDA ScaledObject with one cron trigger per run of equal
//     counts, or CronJobs running `kubectl scale`;
//   - the gateway → a ConfigMap with plan.json and workers.json (every worker of the fleet mapped to its
//     group's Service), a Deployment running `inferplan serve`, and a Service.
package kubernetes

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/internal/inputerr"
	"github.com/inferplan/inferplan/planner/plan"
)

// File names, in the order kubectl applies a folder (lexical): the namespace first, the objects others refer to
// before them.
const (
	FileNamespace    = "00-namespace.yaml"
	FilePlan         = "05-plan.yaml"
	FileDevicePlugin = "10-device-plugin-config.yaml"
	FileNodePools    = "20-nodepools.yaml"
	FileWorkers      = "30-workers.yaml"
	FileScaling      = "40-scaling.yaml"
	FileGateway      = "50-gateway.yaml"
)

// AllFiles are every file Build may write; WriteDir removes those of them a plan does not produce.
var AllFiles = []string{FileNamespace, FilePlan, FileDevicePlugin, FileNodePools, FileWorkers, FileScaling, FileGateway}

// Fixed names and ports.
const (
	PlanConfigMap     = "inferplan-plan"
	GatewayName       = "inferplan-gateway"
	GatewayAuth       = "inferplan-gateway-auth" // a Secret the user creates, key "token": clients → gateway
	WorkersAuth       = "inferplan-workers-auth" // a Secret, key "token": gateway → workers (workers beyond loopback need one)
	ScalerName        = "inferplan-scaler"       // --no-keda: the CronJobs' ServiceAccount, Role and RoleBinding
	ConfigMountPath   = "/etc/inferplan"
	WorkerPort        = 8000
	GatewayPort       = 8080
	ReadyPath         = "/v2/health/ready"
	LivePath          = "/v2/health/live"
	labelPrefix       = "inferplan.dev/"
	gpuResource       = corev1.ResourceName("nvidia.com/gpu")
	gpuTaintKey       = "nvidia.com/gpu"
	deviceConfigKey   = "nvidia.com/device-plugin.config"
	migConfigKey      = "nvidia.com/mig.config"
	nodePoolLabel     = "karpenter.sh/nodepool"
	instanceTypeKey   = corev1.LabelInstanceTypeStable
	hostnameKey       = corev1.LabelHostname
	mpsThreadsEnv     = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"
	authTokenEnv      = "INFERPLAN_AUTH_TOKEN"
	upstreamTokenEnv  = "INFERPLAN_UPSTREAM_TOKEN"
	nodeOverheadMilli = 500          // vCPU (in millicores) a node keeps for kubelet, the OS and DaemonSets
	maxConfigMapBytes = 1<<20 - 4096 // a ConfigMap's data is at most 1 MiB; a little is left to its metadata
)

// Object is a Kubernetes object with its type and metadata.
type Object interface {
	metav1.Object
	GetObjectKind() schema.ObjectKind
}

// Manifests are a plan's objects, by the file they are written to.
type Manifests struct {
	Files []File
	// Notes are what the user must know about these manifests beyond the README: caveats of this plan.
	Notes []string
	// Requires are what the cluster must run before the manifests can work, one line each.
	Requires []string
	// Secrets are the Secrets the objects read and no file holds (a token in a manifest would end up in git): what
	// each is for, and a command that creates it.
	Secrets []SecretHint
}

// SecretHint is a Secret the user creates.
type SecretHint struct {
	Purpose, Command string
	Optional         bool // the objects work without it
}

// File is one YAML file of the manifests: its objects, and a line describing each group of them.
type File struct {
	Name    string
	Objects []Object
	Lines   []string
}

// group is a worker group: the workers at one position of a pool's layout, one on every instance of the pool.
type group struct {
	Name    string // "p0-gpu0-w1"; the Deployment's and the Service's name
	Pool    int
	GPU     *plan.GPU // nil for a CPU worker
	Worker  plan.Worker
	LocalID string // the worker's id on its host: "gpu0/w1", "cpu/w0"
	// Resource is what the worker's container asks for: nvidia.com/gpu, nvidia.com/mig-…, or cpu.
	Resource corev1.ResourceName
	Quantity resource.Quantity
}

type poolInfo struct {
	index    int
	pool     plan.Pool
	nodePool string
	// configKey is the device plugin configuration of the pool's nodes ("" for the plugin's default: whole GPUs).
	configKey string
	plugin    *DevicePluginConfig
	mig       map[int]map[string]int // GPU index → MIG profile → count
	groups    []*group
	gpus      float64 // GPUs an instance has
	scaled    bool
	windows   []CronWindow
}

type builder struct {
	p        *plan.Plan
	raw      []byte
	o        Options
	fleet    *fleet.Fleet
	pools    []*poolInfo
	sha      string
	spills   []spill // the services that spill to Lambda, in the plan's order
	mapping  *fleet.Mapping
	manifest Manifests
}

// Build makes the manifests of a cluster plan. planJSON is the plan file as read (it goes into a ConfigMap as
// is). Problems with the plan are input errors naming the plan file and the field.
func Build(p *plan.Plan, planJSON []byte, o Options) (*Manifests, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if p.Cluster == nil {
		return nil, inputerr.New(o.PlanFile, 0, "platform", "a %s plan has no fleet to run on Kubernetes (apply it to Lambda with --function)", p.Platform)
	}
	if err := p.Validate(); err != nil { // a plan built in code, not read by plan.Parse
		var ie *inputerr.Error
		if errors.As(err, &ie) && ie.File == "" {
			ie.File = o.PlanFile
		}
		return nil, err
	}
	sum := sha256.Sum256(planJSON)
	b := &builder{p: p, raw: planJSON, o: o, sha: hex.EncodeToString(sum[:])}
	if err := b.spillOver(); err != nil {
		return nil, err
	}
	f, err := fleet.Expand(p)
	if err != nil {
		return nil, inputerr.New(o.PlanFile, 0, "pools", "%v", err)
	}
	b.fleet = f
	if err := b.layout(); err != nil {
		return nil, err
	}
	b.namespace()
	if err := b.planConfig(); err != nil {
		return nil, err
	}
	b.devicePlugin()
	b.nodePools()
	b.workers()
	b.scaling()
	b.gateway()
	b.requirements()
	return &b.manifest, nil
}

// spill is a service whose spill rule sends requests to Lambda, and the function that serves them.
type spill struct{ service, function string }

// spillOver gives every service the plan spills its Lambda function: the gateway needs one per service
// (serve --spill-lambda SERVICE=FUNCTION), each with an alias per spill buffer.
func (b *builder) spillOver() error {
	byService, fallback, err := b.o.spillFunctions()
	if err != nil {
		return err
	}
	var names, missing []string
	for _, s := range b.p.Cluster.Services {
		names = append(names, s.Name)
		if s.Spill == nil {
			continue
		}
		fn := cmp.Or(byService[s.Name], fallback)
		if fn == "" {
			missing = append(missing, s.Name)
		}
		b.spills = append(b.spills, spill{s.Name, fn})
	}
	if len(missing) > 0 {
		return optionErrorf("lambda-function", "the plan spills %s to Lambda: name the function that serves it (FUNCTION, or SERVICE=FUNCTION for each)", strings.Join(missing, ", "))
	}
	for _, svc := range sortedKeys(byService) {
		switch {
		case !slices.Contains(names, svc):
			return optionErrorf("lambda-function", "the plan has no service %q (it has %s)", svc, strings.Join(names, ", "))
		case !slices.ContainsFunc(b.spills, func(s spill) bool { return s.service == svc }):
			return optionErrorf("lambda-function", "the plan does not spill service %s to Lambda", svc)
		}
	}
	if len(b.spills) == 0 && fallback != "" {
		b.note("--lambda-function %s is not used: the plan spills nothing to Lambda.", fallback)
	}
	return nil
}

func (b *builder) spillList() string {
	var out []string
	for _, s := range b.spills {
		out = append(out, s.service+" → "+s.function)
	}
	return strings.Join(out, ", ")
}

// requirements lists the controllers the manifests rely on.
func (b *builder) requirements() {
	r := &b.manifest.Requires
	*r = append(*r, fmt.Sprintf("Karpenter v1 (NodePool karpenter.sh/v1) and an EC2NodeClass named %s", b.o.NodeClass))
	gpus, mig, scaled := false, false, false
	for _, p := range b.pools {
		gpus = gpus || len(p.pool.GPUs) > 0
		mig = mig || p.mig != nil
		scaled = scaled || p.scaled
	}
	if gpus {
		name := b.o.Namespace + "-device-plugin-config"
		*r = append(*r, fmt.Sprintf("the NVIDIA device plugin in namespace %s reading ConfigMap %s (helm chart nvidia-device-plugin: --set config.name=%s)", b.o.DevicePluginNamespace, name, name))
	}
	if mig {
		*r = append(*r, fmt.Sprintf("the NVIDIA GPU Operator's MIG manager reading ConfigMap %s/%s-mig-parted-config", b.o.DevicePluginNamespace, b.o.Namespace))
	}
	if scaled && !b.o.CronJobs {
		*r = append(*r, "KEDA 2 (ScaledObject keda.sh/v1alpha1)")
	}
	if len(b.spills) > 0 {
		*r = append(*r, fmt.Sprintf("AWS credentials for ServiceAccount %s/%s that may invoke the spill-over functions' aliases (IRSA or EKS Pod Identity), and AWS_REGION", b.o.Namespace, GatewayName))
	}
	create := func(name string) string {
		return fmt.Sprintf("kubectl create secret generic %s --namespace %s --from-literal=token=\"$(openssl rand -hex 32)\"", name, b.o.Namespace)
	}
	b.manifest.Secrets = []SecretHint{
		{"the gateway's bearer token (clients send it as Authorization: Bearer …; the gateway waits for it)", create(GatewayAuth), false},
		{"the token the workers require from the gateway (their INFERPLAN_AUTH_TOKEN, the gateway's INFERPLAN_UPSTREAM_TOKEN; workers listening beyond loopback refuse to start without one, and wait for it)", create(WorkersAuth), false},
	}
}

func (b *builder) note(format string, args ...any) {
	b.manifest.Notes = append(b.manifest.Notes, fmt.Sprintf(format, args...))
}

func (b *builder) add(name string, line string, objs ...Object) {
	for i := range b.manifest.Files {
		if f := &b.manifest.Files[i]; f.Name == name {
			f.Objects = append(f.Objects, objs...)
			if line != "" {
				f.Lines = append(f.Lines, line)
			}
			return
		}
	}
	f := File{Name: name, Objects: objs}
	if line != "" {
		f.Lines = []string{line}
	}
	b.manifest.Files = append(b.manifest.Files, f)
}

func (b *builder) planErr(field, format string, args ...any) error {
	return inputerr.New(b.o.PlanFile, 0, field, format, args...)
}

// layout works out each pool's worker groups, how its GPUs are shared on a node, and its schedule.
func (b *builder) layout() error {
	c := b.p.Cluster
	for pi, pool := range c.Pools {
		field := func(k string) string { return fmt.Sprintf("pools[%d].%s", pi, k) }
		info := &poolInfo{index: pi, pool: pool, nodePool: fmt.Sprintf("%s-p%d", b.o.Namespace, pi)}
		in, known := b.o.Catalog.Instance(pool.InstanceType)
		switch {
		case known && in.GPU != nil:
			info.gpus = in.GPU.Count
		case len(pool.GPUs) > 0:
			info.gpus = float64(len(pool.GPUs))
		}
		if len(pool.GPUs) > 0 && known && in.GPU == nil {
			return b.planErr(field("gpus"), "%s has no GPU in the price catalog, yet the plan puts workers on GPUs", pool.InstanceType)
		}
		if err := b.sharing(info, field); err != nil {
			return err
		}
		for gi := range pool.GPUs {
			g := &pool.GPUs[gi]
			for wi, w := range g.Workers {
				gr := &group{Name: fmt.Sprintf("p%d-gpu%d-w%d", pi, g.Index, wi), Pool: pi, GPU: g, Worker: w,
					LocalID: fmt.Sprintf("gpu%d/w%d", g.Index, wi), Resource: gpuResource, Quantity: resource.MustParse("1")}
				if g.Sharing == plan.SharingMIG {
					name, err := MIGResource(b.o.Catalog, pool.InstanceType, w.MIGProfile)
					if err != nil {
						return b.planErr(field(fmt.Sprintf("gpus[%d].workers[%d].mig_profile", gi, wi)), "%v", err)
					}
					gr.Resource = corev1.ResourceName(name)
				}
				info.groups = append(info.groups, gr)
			}
		}
		cpu, err := b.cpuRequests(info, field)
		if err != nil {
			return err
		}
		for wi, w := range pool.CPUWorkers {
			info.groups = append(info.groups, &group{Name: fmt.Sprintf("p%d-cpu-w%d", pi, wi), Pool: pi, Worker: w,
				LocalID: fmt.Sprintf("cpu/w%d", wi), Resource: corev1.ResourceCPU, Quantity: cpu[wi]})
		}
		if sc := c.Schedule; sc != nil && pool.MinCount < pool.Count {
			ws, err := CronWindows(sc, pi, b.o.ScheduleStart)
			if err != nil {
				return b.planErr("schedule", "pool %d: %v", pi, err)
			}
			info.scaled, info.windows = true, ws
		}
		b.pools = append(b.pools, info)
	}
	return nil
}

// sharing decides the device plugin configuration of a pool's nodes. The plugin shares every GPU of a node the
// same way (k8s-device-plugin README, "Shared Access to GPUs"), so a pool whose GPUs are shared differently
// cannot be expressed.
func (b *builder) sharing(info *poolInfo, field func(string) string) error {
	gpus := info.pool.GPUs
	if len(gpus) == 0 {
		return nil
	}
	modes := map[string]int{}
	replicas := 0
	for _, g := range gpus {
		modes[g.Sharing]++
		if g.Sharing == plan.SharingTimeSlice || g.Sharing == plan.SharingMPS {
			if replicas != 0 && replicas != len(g.Workers) {
				return b.planErr(field("gpus"), "%s GPUs of one instance with %d and %d workers: the NVIDIA device plugin gives every GPU of a node the same number of replicas", g.Sharing, replicas, len(g.Workers))
			}
			replicas = len(g.Workers)
		}
	}
	shared := modes[plan.SharingTimeSlice] + modes[plan.SharingMPS]
	switch {
	case modes[plan.SharingTimeSlice] > 0 && modes[plan.SharingMPS] > 0,
		shared > 0 && (modes[plan.SharingExclusive] > 0 || modes[plan.SharingMIG] > 0):
		return b.planErr(field("gpus"), "one instance mixes GPU sharing modes (%s): the NVIDIA device plugin shares every GPU of a node the same way", modeList(modes))
	case shared > 0 && float64(len(gpus)) < info.gpus:
		b.note("Pool %d uses %d of a %s's %g GPUs; the device plugin replicates all of them, so its nodes advertise more %s than the plan's workers use.", info.index, len(gpus), info.pool.InstanceType, info.gpus, gpuResource)
	}
	if shared > 1 {
		b.note("Pool %d shares several GPUs of one node: the device plugin hands out replicas of any of them, so which GPU a worker lands on is not the plan's.", info.index)
	}
	key := fmt.Sprintf("%s-p%d", b.o.Namespace, info.index)
	rr := &ReplicatedResources{RenameByDefault: false, FailRequestsGreaterThanOne: true,
		Resources: []ReplicatedResource{{Name: string(gpuResource), Replicas: replicas}}}
	switch {
	case modes[plan.SharingTimeSlice] > 0:
		info.configKey = key
		info.plugin = &DevicePluginConfig{Version: "v1", Flags: &DevicePluginFlags{MigStrategy: "none"}, Sharing: &DevicePluginSharing{TimeSlicing: rr}}
	case modes[plan.SharingMPS] > 0:
		info.configKey = key
		info.plugin = &DevicePluginConfig{Version: "v1", Flags: &DevicePluginFlags{MigStrategy: "none"}, Sharing: &DevicePluginSharing{MPS: rr}}
		for _, g := range gpus {
			for wi, w := range g.Workers {
				if w.MPSActiveThreadPct*replicas > 100 {
					b.note("p%d-gpu%d-w%d asks for %d%% of its GPU's threads, but the device plugin's MPS daemon caps each of its %d clients at %d%% (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE can only lower that): the plan's uneven MPS split becomes an even one.", info.index, g.Index, wi, w.MPSActiveThreadPct, replicas, 100/replicas)
				}
			}
		}
	case modes[plan.SharingMIG] > 0:
		info.configKey = key
		info.plugin = &DevicePluginConfig{Version: "v1", Flags: &DevicePluginFlags{MigStrategy: "mixed"}}
		info.mig = map[int]map[string]int{}
		for gi, g := range gpus {
			if g.Sharing != plan.SharingMIG {
				continue
			}
			m := map[string]int{}
			for wi, w := range g.Workers {
				name, err := MIGResource(b.o.Catalog, info.pool.InstanceType, w.MIGProfile)
				if err != nil {
					return b.planErr(field(fmt.Sprintf("gpus[%d].workers[%d].mig_profile", gi, wi)), "%v", err)
				}
				m[strings.TrimPrefix(name, "nvidia.com/mig-")]++
			}
			info.mig[g.Index] = m
		}
	}
	return nil
}

func modeList(modes map[string]int) string {
	var out []string
	for m := range modes {
		out = append(out, m)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// cpuRequests is each CPU worker's CPU request: its vCPUs, unless the pool's CPU workers claim all but less than
// nodeOverheadMilli of the instance's vCPUs, when they are scaled down together to leave that much to the node
// (kubelet's reserve and the DaemonSets): a pod asking for a whole node never schedules.
func (b *builder) cpuRequests(info *poolInfo, field func(string) string) ([]resource.Quantity, error) {
	ws := info.pool.CPUWorkers
	total := 0.0
	for _, w := range ws {
		total += w.VCPUs
	}
	avail := float64(info.pool.VCPUs*1000 - nodeOverheadMilli)
	if len(ws) > 0 && info.pool.VCPUs > 0 && total > float64(info.pool.VCPUs)+1e-9 {
		return nil, b.planErr(field("cpu_workers"), "CPU workers of %g vCPUs on a %s of %d", total, info.pool.InstanceType, info.pool.VCPUs)
	}
	scale := 1.0
	if info.pool.VCPUs > 0 && total*1000 > avail {
		scale = avail / (total * 1000)
		b.note("Pool %d: its CPU workers take all %d vCPUs of a %s; their CPU requests are scaled by %.3f to leave %dm to the node.", info.index, info.pool.VCPUs, info.pool.InstanceType, scale, nodeOverheadMilli)
	}
	out := make([]resource.Quantity, len(ws))
	for i, w := range ws {
		milli := int64(w.VCPUs*1000*scale + 1e-6)
		out[i] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
	}
	return out, nil
}

// labels are the labels of every object; extra ones are added to a copy.
func (b *builder) labels(component string, extra ...string) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/part-of":    "inferplan",
		"app.kubernetes.io/managed-by": "inferplan",
	}
	if component != "" {
		l["app.kubernetes.io/component"] = component
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func (b *builder) meta(name, component string, extra ...string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: b.o.Namespace, Labels: b.labels(component, extra...)}
}

func (b *builder) namespace() {
	ns := &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"),
		ObjectMeta: metav1.ObjectMeta{Name: b.o.Namespace, Labels: b.labels("")}}
	b.add(FileNamespace, "Namespace "+b.o.Namespace, ns)
}

// planConfig is the ConfigMap with the plan (for the workers and the gateway) and the worker mapping (for the
// gateway): every worker of the fleet maps to its group's Service, which spreads requests over the group's pods.
func (b *builder) planConfig() error {
	byLocal := map[string]*group{}
	for _, pi := range b.pools {
		for _, g := range pi.groups {
			byLocal[fmt.Sprintf("p%d/%s", pi.index, g.LocalID)] = g
		}
	}
	m := &fleet.Mapping{Plan: ConfigMountPath + "/plan.json"}
	for _, w := range b.fleet.Workers {
		h, _ := b.fleet.Host(w.Host)
		local := strings.TrimPrefix(w.ID, w.Host+"/")
		g := byLocal[fmt.Sprintf("p%d/%s", h.Pool, local)]
		m.Workers = append(m.Workers, fleet.MappedWorker{ID: w.ID, Service: b.fleet.Services[w.Service].Name,
			URL: fmt.Sprintf("http://%s.%s.svc:%d", g.Name, b.o.Namespace, WorkerPort)})
	}
	b.mapping = m
	data, _ := m.Marshal() // a Mapping of strings always marshals
	if n := len(b.raw) + len(data); n > maxConfigMapBytes {
		return b.planErr("", "the plan and its worker mapping take %d bytes, more than a ConfigMap holds (1 MiB)", n)
	}
	cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: b.meta(PlanConfigMap, "config"),
		Data: map[string]string{"plan.json": string(b.raw), "workers.json": string(data)}}
	cm.Annotations = map[string]string{labelPrefix + "plan-sha256": b.sha}
	if b.o.PlanFile != "" {
		cm.Annotations[labelPrefix+"plan-file"] = b.o.PlanFile
	}
	b.add(FilePlan, fmt.Sprintf("ConfigMap %s: plan.json, workers.json (%d workers → %d Services)", PlanConfigMap, len(m.Workers), b.groupCount()), cm)
	return nil
}

func (b *builder) groupCount() int {
	n := 0
	for _, p := range b.pools {
		n += len(p.groups)
	}
	return n
}

// devicePlugin writes the NVIDIA device plugin's ConfigMap (in the plugin's namespace): a "default" key (whole
// GPUs, for nodes without the label) and one key per pool that shares its GPUs; and, when a pool uses MIG, the
// MIG manager's layouts.
func (b *builder) devicePlugin() {
	anyGPU := false
	data := map[string]string{}
	var keys []string
	mig := &MIGPartedConfig{Version: "v1", MigConfigs: map[string][]MIGConfigSpec{
		"all-disabled": {{Devices: "all", MigEnabled: false}}}}
	for _, p := range b.pools {
		anyGPU = anyGPU || len(p.pool.GPUs) > 0
		if p.plugin == nil {
			continue
		}
		data[p.configKey] = mustYAML(p.plugin)
		keys = append(keys, fmt.Sprintf("%s: %s", p.configKey, describeSharing(p)))
		if p.mig != nil {
			var specs []MIGConfigSpec
			for _, gi := range sortedKeys(p.mig) {
				specs = append(specs, MIGConfigSpec{Devices: []int{gi}, MigEnabled: true, MigDevices: p.mig[gi]})
			}
			mig.MigConfigs[p.configKey] = specs
		}
	}
	if !anyGPU {
		return
	}
	data["default"] = mustYAML(&DevicePluginConfig{Version: "v1", Flags: &DevicePluginFlags{MigStrategy: "none"}})
	name := b.o.Namespace + "-device-plugin-config"
	cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"),
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.o.DevicePluginNamespace, Labels: b.labels("gpu-sharing")}, Data: data}
	line := fmt.Sprintf("ConfigMap %s/%s: default (whole GPUs)", b.o.DevicePluginNamespace, name)
	if len(keys) > 0 {
		line += "; " + strings.Join(keys, "; ")
	}
	b.add(FileDevicePlugin, line, cm)
	if len(mig.MigConfigs) > 1 {
		mname := b.o.Namespace + "-mig-parted-config"
		mcm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"),
			ObjectMeta: metav1.ObjectMeta{Name: mname, Namespace: b.o.DevicePluginNamespace, Labels: b.labels("gpu-sharing")},
			Data:       map[string]string{"config.yaml": mustYAML(mig)}}
		b.add(FileDevicePlugin, fmt.Sprintf("ConfigMap %s/%s: MIG layouts for the MIG manager", b.o.DevicePluginNamespace, mname), mcm)
		b.note("MIG pools need the GPU Operator's MIG manager reading %s/%s (ClusterPolicy spec.migManager.config.name); Karpenter does not know nvidia.com/mig-* resources, so it will not launch nodes for MIG workers by itself: create the nodes some other way (for example a managed node group with the NodePool's labels and taint).", b.o.DevicePluginNamespace, mname)
	}
}

func describeSharing(p *poolInfo) string {
	c := p.plugin
	switch {
	case c.Sharing != nil && c.Sharing.TimeSlicing != nil:
		return fmt.Sprintf("time-slicing, %d replicas a GPU", c.Sharing.TimeSlicing.Resources[0].Replicas)
	case c.Sharing != nil && c.Sharing.MPS != nil:
		return fmt.Sprintf("MPS, %d replicas a GPU", c.Sharing.MPS.Resources[0].Replicas)
	default:
		return "MIG (mixed strategy)"
	}
}

// nodePools writes a Karpenter NodePool per pool.
func (b *builder) nodePools() {
	for _, p := range b.pools {
		tmplLabels := map[string]string{labelPrefix + "pool": p.nodePool}
		if p.configKey != "" {
			tmplLabels[deviceConfigKey] = p.configKey
		}
		if p.mig != nil {
			tmplLabels[migConfigKey] = p.configKey
		}
		limits := corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(p.pool.Count*p.pool.VCPUs), resource.DecimalSI)}
		var taints []corev1.Taint
		if len(p.pool.GPUs) > 0 {
			limits[gpuResource] = *resource.NewQuantity(int64(float64(p.pool.Count)*p.gpus+0.5), resource.DecimalSI)
			taints = []corev1.Taint{{Key: gpuTaintKey, Effect: corev1.TaintEffectNoSchedule}}
		}
		np := &NodePool{TypeMeta: typeMeta("karpenter.sh/v1", "NodePool"),
			ObjectMeta: metav1.ObjectMeta{Name: p.nodePool, Labels: b.labels("nodes")},
			Spec: NodePoolSpec{
				Template: NodeClaimTemplate{Metadata: NodeClaimMetadata{Labels: tmplLabels},
					Spec: NodeClaimTemplateSpec{
						Taints: taints,
						Requirements: []NodeRequirement{
							{NodeSelectorRequirement: corev1.NodeSelectorRequirement{Key: instanceTypeKey, Operator: corev1.NodeSelectorOpIn, Values: []string{p.pool.InstanceType}}},
							{NodeSelectorRequirement: corev1.NodeSelectorRequirement{Key: "karpenter.sh/capacity-type", Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}},
						},
						NodeClassRef: &NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: b.o.NodeClass},
					}},
				// only empty nodes go: consolidating would move workers off the layout the plan chose; a minute
				// keeps a node whose pod is being replaced
				Disruption: Disruption{ConsolidationPolicy: "WhenEmpty", ConsolidateAfter: "1m"},
				Limits:     limits,
			}}
		count := fmt.Sprintf("%d node%s", p.pool.Count, plural(p.pool.Count))
		if p.scaled {
			count = fmt.Sprintf("%d–%d nodes", max(p.pool.MinCount, 1), p.pool.Count)
		}
		b.add(FileNodePools, fmt.Sprintf("NodePool %s: %s, on demand, %s (limits %s)", p.nodePool, p.pool.InstanceType, count, describeList(limits)), np)
	}
}

// workers writes a Deployment and a Service per worker group.
func (b *builder) workers() {
	for _, p := range b.pools {
		replicas := int32(p.pool.Count)
		if sc := b.p.Cluster.Schedule; sc != nil && len(sc.Windows) > 0 {
			replicas = int32(sc.Windows[0].Counts[p.index])
		}
		for gi, g := range p.groups {
			sel := map[string]string{"app.kubernetes.io/name": "inferplan-worker", "app.kubernetes.io/instance": g.Name}
			extra := []string{"app.kubernetes.io/name", "inferplan-worker", "app.kubernetes.io/instance", g.Name, labelPrefix + "pool", p.nodePool}
			meta := b.meta(g.Name, "worker", extra...)
			meta.Annotations = map[string]string{labelPrefix + "service": g.Worker.Service}
			args := []string{"workers", "--plan", ConfigMountPath + "/plan.json", "--host", fleet.HostName(p.index, 0),
				"--only", g.LocalID, "--listen", fmt.Sprintf("0.0.0.0:%d", WorkerPort)}
			if b.o.Harness != "" {
				args = append(args, "--harness", b.o.Harness)
			}
			res := corev1.ResourceRequirements{Requests: corev1.ResourceList{g.Resource: g.Quantity}}
			if g.GPU != nil { // extended resources: the limit is the request
				res.Limits = corev1.ResourceList{g.Resource: g.Quantity}
			}
			env := []corev1.EnvVar{secretEnv(authTokenEnv, WorkersAuth, false)}
			if g.GPU != nil && g.GPU.Sharing == plan.SharingMPS && g.Worker.MPSActiveThreadPct > 0 {
				env = append(env, corev1.EnvVar{Name: mpsThreadsEnv, Value: strconv.Itoa(g.Worker.MPSActiveThreadPct)})
			}
			affinity := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				// one worker of a position per instance, as the plan lays them out
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": g.Name}}, TopologyKey: hostnameKey}}}}
			if gi > 0 {
				// the other positions go where the pool's first group is: Karpenter launches a node per instance
				// for the first group, and counts no replicas of a shared GPU, so it must not launch one per worker
				affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/instance": p.groups[0].Name}}, TopologyKey: hostnameKey}}}
			}
			var tolerations []corev1.Toleration
			if len(p.pool.GPUs) > 0 {
				tolerations = []corev1.Toleration{{Key: gpuTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			}
			zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
			dep := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta,
				Spec: appsv1.DeploymentSpec{
					Replicas: ptr(replicas),
					Selector: &metav1.LabelSelector{MatchLabels: sel},
					// no surge: a surge pod would need an instance the plan does not have
					Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
						RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &one}},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: b.labels("worker", extra...),
							Annotations: map[string]string{labelPrefix + "plan-sha256": b.sha, labelPrefix + "service": g.Worker.Service}},
						Spec: corev1.PodSpec{
							NodeSelector: map[string]string{nodePoolLabel: p.nodePool, instanceTypeKey: p.pool.InstanceType},
							Tolerations:  tolerations,
							Affinity:     affinity,
							Containers: []corev1.Container{{
								Name: "worker", Image: b.o.Image, Command: []string{"inferplan"}, Args: args, Env: env,
								Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: WorkerPort, Protocol: corev1.ProtocolTCP}},
								ReadinessProbe: readiness(WorkerPort),
								Resources:      res,
								VolumeMounts:   []corev1.VolumeMount{{Name: "plan", MountPath: ConfigMountPath, ReadOnly: true}},
							}},
							Volumes: []corev1.Volume{planVolume("plan.json")},
						},
					},
				}}
			svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: b.meta(g.Name, "worker", extra...),
				Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: WorkerPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}}
			svc.Annotations = map[string]string{labelPrefix + "service": g.Worker.Service}
			b.add(FileWorkers, fmt.Sprintf("Deployment+Service %s: %s, %d replica%s, %s %s", g.Name, g.Worker.Service, replicas, plural(int(replicas)), g.Resource, g.Quantity.String())+mpsNote(g), dep, svc)
		}
	}
}

func mpsNote(g *group) string {
	if g.GPU != nil && g.GPU.Sharing == plan.SharingMPS && g.Worker.MPSActiveThreadPct > 0 {
		return fmt.Sprintf(", MPS %d%%", g.Worker.MPSActiveThreadPct)
	}
	return ""
}

func readiness(port int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: ReadyPath, Port: intstr.FromInt32(port)}},
		PeriodSeconds: 5, FailureThreshold: 3}
}

// secretEnv is an environment variable from the key "token" of a Secret; an optional Secret that does not exist
// leaves the variable unset.
func secretEnv(name, secret string, optional bool) corev1.EnvVar {
	sel := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "token"}
	if optional {
		sel.Optional = ptr(true)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: sel}}
}

func planVolume(keys ...string) corev1.Volume {
	var items []corev1.KeyToPath
	for _, k := range keys {
		items = append(items, corev1.KeyToPath{Key: k, Path: k})
	}
	return corev1.Volume{Name: "plan", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: PlanConfigMap}, Items: items}}}
}

// scaling writes, for a scaled plan, what follows its schedule: a KEDA ScaledObject per group of every pool whose
// count changes, or CronJobs that scale the pool's groups together.
func (b *builder) scaling() {
	sc := b.p.Cluster.Schedule
	if sc == nil {
		return
	}
	scaled := false
	for _, p := range b.pools {
		if !p.scaled {
			continue
		}
		scaled = true
		if b.o.CronJobs {
			b.cronJobs(p)
			continue
		}
		for _, g := range p.groups {
			var triggers []ScaleTrigger
			for _, w := range p.windows {
				triggers = append(triggers, ScaleTrigger{Type: "cron", Name: fmt.Sprintf("windows-%d-%d", w.Run.FirstWindow, w.Run.LastWindow),
					Metadata: map[string]string{"timezone": b.o.Timezone, "start": cronAt(w.Start), "end": cronAt(w.End), "desiredReplicas": strconv.Itoa(w.Count)}})
			}
			so := &ScaledObject{TypeMeta: typeMeta("keda.sh/v1alpha1", "ScaledObject"), ObjectMeta: b.meta(g.Name, "worker", labelPrefix+"pool", p.nodePool),
				Spec: ScaledObjectSpec{
					ScaleTargetRef:  &ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: g.Name},
					MinReplicaCount: ptr(int32(max(p.pool.MinCount, 1))),
					MaxReplicaCount: ptr(int32(p.pool.Count)),
					// the HPA follows the triggers at once: its default waits 5 minutes before scaling down
					Advanced: &AdvancedConfig{HorizontalPodAutoscalerConfig: &HorizontalPodAutoscalerConfig{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
						ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(0))}}}},
					Triggers: triggers,
				}}
			b.add(FileScaling, fmt.Sprintf("ScaledObject %s: %d–%d replicas, %d cron triggers (%s)", g.Name, max(p.pool.MinCount, 1), p.pool.Count, len(triggers), b.o.Timezone), so)
		}
	}
	if scaled && b.o.CronJobs {
		b.scalerRBAC()
	}
}

// cronJobs writes one CronJob per change of a pool's desired count in the day; each scales all the pool's groups.
func (b *builder) cronJobs(p *poolInfo) {
	var targets []string
	for _, g := range p.groups {
		targets = append(targets, "deployment/"+g.Name)
	}
	changes := Changes(Desired(p.windows, max(p.pool.MinCount, 1)))
	for _, ch := range changes {
		name := fmt.Sprintf("p%d-scale-%02d%02d", p.index, ch.Minute/60, ch.Minute%60)
		args := append([]string{"scale", "--namespace", b.o.Namespace, fmt.Sprintf("--replicas=%d", ch.Count)}, targets...)
		cj := &batchv1.CronJob{TypeMeta: typeMeta("batch/v1", "CronJob"), ObjectMeta: b.meta(name, "scaler", labelPrefix+"pool", p.nodePool),
			Spec: batchv1.CronJobSpec{
				Schedule: cronAt(ch.Minute), TimeZone: ptr(b.o.Timezone),
				ConcurrencyPolicy:          batchv1.ForbidConcurrent,
				StartingDeadlineSeconds:    ptr(int64(120)),
				SuccessfulJobsHistoryLimit: ptr(int32(1)), FailedJobsHistoryLimit: ptr(int32(3)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
					BackoffLimit: ptr(int32(3)), ActiveDeadlineSeconds: ptr(int64(120)),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: b.labels("scaler")},
						Spec: corev1.PodSpec{ServiceAccountName: ScalerName, RestartPolicy: corev1.RestartPolicyOnFailure,
							Containers: []corev1.Container{{Name: "kubectl", Image: b.o.KubectlImage, Command: []string{"kubectl"}, Args: args}}},
					}}},
			}}
		b.add(FileScaling, "", cj)
	}
	b.add(FileScaling, fmt.Sprintf("CronJobs p%d-scale-*: %d a day (%s), scaling %s between %d and %d replicas", p.index, len(changes), b.o.Timezone, strings.Join(targets, ", "), max(p.pool.MinCount, 1), p.pool.Count))
}

// scalerRBAC lets the CronJobs scale the namespace's Deployments, and nothing else.
func (b *builder) scalerRBAC() {
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: b.meta(ScalerName, "scaler")}
	role := &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: b.meta(ScalerName, "scaler"),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update", "patch"}},
		}}
	rb := &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: b.meta(ScalerName, "scaler"),
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ScalerName, Namespace: b.o.Namespace}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ScalerName}}
	b.add(FileScaling, fmt.Sprintf("ServiceAccount, Role, RoleBinding %s: get and scale Deployments", ScalerName), sa, role, rb)
}

// gateway writes the gateway: `inferplan serve` over the plan and the worker mapping.
func (b *builder) gateway() {
	extra := []string{"app.kubernetes.io/name", GatewayName}
	sel := map[string]string{"app.kubernetes.io/name": GatewayName}
	args := []string{"serve", "--plan", ConfigMountPath + "/plan.json", "--workers", ConfigMountPath + "/workers.json",
		"--listen", fmt.Sprintf("0.0.0.0:%d", GatewayPort)}
	for _, sp := range b.spills {
		args = append(args, "--spill-lambda", sp.service+"="+sp.function)
	}
	mapping, _ := b.mapping.Marshal()
	msum := sha256.Sum256(mapping)
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: b.meta(GatewayName, "gateway", extra...)}
	dep := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: b.meta(GatewayName, "gateway", extra...),
		Spec: appsv1.DeploymentSpec{
			// one gateway: it routes round-robin and forms the batches, so two would each see half the traffic
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: b.labels("gateway", extra...), Annotations: map[string]string{
					labelPrefix + "plan-sha256": b.sha, labelPrefix + "workers-sha256": hex.EncodeToString(msum[:])}},
				Spec: corev1.PodSpec{
					ServiceAccountName: GatewayName,
					Containers: []corev1.Container{{
						Name: "gateway", Image: b.o.Image, Command: []string{"inferplan"}, Args: args,
						Env:            []corev1.EnvVar{secretEnv(authTokenEnv, GatewayAuth, false), secretEnv(upstreamTokenEnv, WorkersAuth, false)},
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: GatewayPort, Protocol: corev1.ProtocolTCP}},
						ReadinessProbe: readiness(GatewayPort),
						LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: LivePath, Port: intstr.FromInt32(GatewayPort)}},
							PeriodSeconds: 10, FailureThreshold: 6},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}},
						VolumeMounts: []corev1.VolumeMount{{Name: "plan", MountPath: ConfigMountPath, ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{planVolume("plan.json", "workers.json")},
				},
			},
		}}
	svc := &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: b.meta(GatewayName, "gateway", extra...),
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: GatewayPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}}}
	line := fmt.Sprintf("ServiceAccount, Deployment, Service %s: inferplan serve on port %d, bearer token from Secret %s", GatewayName, GatewayPort, GatewayAuth)
	if len(b.spills) > 0 {
		line += ", spilling to Lambda: " + b.spillList()
	}
	b.add(FileGateway, line, sa, dep, svc)
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func ptr[T any](v T) *T { return &v }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func describeList(l corev1.ResourceList) string {
	var out []string
	for _, k := range sortedKeys(l) {
		q := l[k]
		out = append(out, fmt.Sprintf("%s %s", k, q.String()))
	}
	return strings.Join(out, ", ")
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
