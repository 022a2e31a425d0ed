package workerhost

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/fleet"
	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/profiler/hw"
)

// Worker is one of the plan's workers as this host runs it.
type Worker struct {
	fleet.Worker
	Local       string // host-relative id: "gpu0/w1", "cpu/w0"
	ServiceName string
	Model       string // the service's model in the plan ("" when it names none)
	// OnCPU: a GPU worker run on this machine's CPU with the built-in model (no GPU here and no harness).
	OnCPU bool
	// MPSPct is an MPS worker's CUDA_MPS_ACTIVE_THREAD_PERCENTAGE; MIGDevice a MIG worker's device UUID.
	MPSPct    int
	MIGDevice string
	// Env is what the worker's harness gets on top of this process's environment (see harnessEnv).
	Env []string
}

// Local is a worker's id without its host: "p0-0/gpu0/w1" → "gpu0/w1".
func Local(id string) string {
	_, rest, _ := strings.Cut(id, "/")
	return rest
}

// Select is the workers of host the run starts: all of them, or those only names (host-relative ids, or full
// ones of this host), in the host's order. Its errors name what the plan has instead.
func Select(f *fleet.Fleet, host string, only []string) ([]fleet.Worker, error) {
	h, ok := f.Host(host)
	if !ok {
		return nil, &ConfigError{Flag: "host", Err: fmt.Errorf("%q is not a host of the plan: its hosts are %s", host, strings.Join(cut(f.HostNames(), 12), ", "))}
	}
	var local []string
	for _, i := range h.Workers {
		local = append(local, Local(f.Workers[i].ID))
	}
	want := map[string]bool{}
	for _, o := range only {
		id := strings.TrimPrefix(strings.TrimSpace(o), host+"/")
		if !slices.Contains(local, id) {
			return nil, &ConfigError{Flag: "only", Err: fmt.Errorf("%q is not a worker of host %s: its workers are %s", o, host, strings.Join(local, ", "))}
		}
		if want[id] {
			return nil, &ConfigError{Flag: "only", Err: fmt.Errorf("%q is named twice", o)}
		}
		want[id] = true
	}
	var out []fleet.Worker
	for k, i := range h.Workers {
		if len(want) == 0 || want[local[k]] {
			out = append(out, f.Workers[i])
		}
	}
	return out, nil
}

// checkMPSSplit refuses a selection that starts some of an MPS-split GPU's workers but not all: the MPS daemon a
// run starts serves all of a GPU's MPS workers, so they run in one process (unless the GPU environment is
// external, where the device plugin's daemon serves each worker's own process).
func checkMPSSplit(f *fleet.Fleet, host string, selected []fleet.Worker) error {
	h, _ := f.Host(host)
	for _, i := range h.Workers {
		w := f.Workers[i]
		if w.Sharing != plan.SharingMPS || slices.ContainsFunc(selected, func(s fleet.Worker) bool { return s.ID == w.ID }) {
			continue
		}
		for _, s := range selected {
			if s.GPU == w.GPU && s.Sharing == plan.SharingMPS {
				return &ConfigError{Flag: "only", Err: fmt.Errorf("it starts %s but not %s, and the plan splits GPU %d between them by MPS: the MPS daemon workers starts serves all of a GPU's MPS workers, so start them in one process (name all of them, or drop --only), or, where a device plugin runs the MPS daemon (Kubernetes), give --gpu-env external", Local(s.ID), Local(w.ID), w.GPU)}
			}
		}
	}
	return nil
}

// gpuInfo is what a placement needs to know about this machine's GPUs.
type gpuInfo struct {
	count  int    // NVIDIA GPUs here
	reason string // why none, when count is 0
}

// DetectGPUs counts this machine's NVIDIA GPUs: through NVML, else (no library, or a build without cgo) by the
// driver's device files. With none it says why.
func DetectGPUs() (int, string) {
	reason := ""
	g, err := hw.OpenNVML()
	if err == nil {
		list, lerr := g.List()
		_ = g.Close()
		if lerr == nil && len(list) > 0 {
			return len(list), ""
		}
		if lerr != nil {
			reason = lerr.Error()
		} else {
			reason = "NVML found no devices"
		}
	} else {
		reason = strings.TrimPrefix(err.Error(), hw.ErrNoGPU.Error()+": ")
	}
	if devs, _ := filepath.Glob("/dev/nvidia[0-9]*"); len(devs) > 0 {
		return len(devs), ""
	}
	return 0, reason
}

// place decides how each selected worker runs: the built-in model in this process (no harness; a GPU worker
// then only where this machine has no GPU, on its CPU) or the harness with the environment of its GPU share.
// host is every worker of the host, so MIG devices are given out the same way whichever workers --only starts.
// With an external GPU environment the harness keeps the GPU settings it inherits.
func place(cfg *Config, f *fleet.Fleet, host []fleet.Worker, selected []fleet.Worker, external bool, gpus func() gpuInfo, migList func() (string, error)) ([]*Worker, []string, error) {
	var (
		out      []*Worker
		warnings []string
		gi       *gpuInfo
	)
	info := func() gpuInfo {
		if gi == nil {
			g := gpus()
			gi = &g
		}
		return *gi
	}
	mig := map[string]string{} // worker id → MIG device
	if cfg.Harness != "" && !external && slices.ContainsFunc(selected, func(w fleet.Worker) bool { return w.Sharing == plan.SharingMIG }) {
		text, err := migList()
		if err != nil {
			return nil, nil, err
		}
		started := map[string]bool{}
		for _, w := range selected {
			started[w.ID] = true
		}
		if mig, err = assignMIG(cfg.Host, host, started, parseSMIList(text)); err != nil {
			return nil, nil, err
		}
	}
	onCPU := 0
	for _, fw := range selected {
		svc := f.Services[fw.Service]
		w := &Worker{Worker: fw, Local: Local(fw.ID), ServiceName: svc.Name, Model: modelOf(cfg.Plan, svc.Name)}
		if fw.GPU >= 0 {
			if cfg.Harness == "" {
				if n := info().count; n > 0 {
					return nil, nil, &ConfigError{Flag: "harness", Err: fmt.Errorf("host %s has GPU workers (%s) and this machine has %d NVIDIA GPU(s): give --harness to run them there (the built-in model runs on the CPU only)", cfg.Host, w.Local, n)}
				}
				w.OnCPU = true
				onCPU++
			} else if n := info().count; !external && n > 0 && fw.GPU >= n {
				return nil, nil, fmt.Errorf("worker %s runs on GPU %d, and this machine has %d NVIDIA GPU(s) (0–%d)", fw.ID, fw.GPU, n, n-1)
			}
			switch fw.Sharing {
			case plan.SharingMPS:
				w.MPSPct = fw.MPSActiveThreadPct
				if w.MPSPct <= 0 { // a plan that gives only the SM share
					w.MPSPct = int(math.Round(fw.SMShare * 100))
				}
				w.MPSPct = min(max(w.MPSPct, 1), 100)
			case plan.SharingMIG:
				w.MIGDevice = mig[fw.ID]
			}
		}
		if cfg.Harness != "" {
			w.Env = harnessEnv(w, external)
		}
		out = append(out, w)
	}
	if onCPU > 0 {
		warnings = append(warnings, fmt.Sprintf("no NVIDIA GPU here (%s) and no --harness: the %d GPU worker(s) of host %s run on this machine's CPU with the built-in %s; their MPS shares and MIG slices are not applied", info().reason, onCPU, cfg.Host, cfg.BuiltinModel))
	}
	if cfg.Harness != "" && !external && slices.ContainsFunc(out, func(w *Worker) bool { return w.GPU >= 0 }) && info().count == 0 {
		warnings = append(warnings, fmt.Sprintf("no NVIDIA GPU here (%s): the harness gets its GPU's CUDA_VISIBLE_DEVICES all the same", info().reason))
	}
	return out, warnings, nil
}

func modelOf(p *plan.Plan, service string) string {
	for _, s := range p.Cluster.Services {
		if s.Name == service {
			return s.Model
		}
	}
	return ""
}

// harnessEnv is what a worker's harness gets on top of this process's environment: which worker and model it is,
// and its share of the machine. A CPU worker sees no GPU and gets its profile's threads; a GPU worker sees only its
// GPU (by the PCI order NVML and nvidia-smi number GPUs in) or its MIG device; an MPS worker also the daemon's
// folders and its active thread percentage. With an external GPU environment a GPU worker keeps what it inherits,
// and an MPS worker gets the plan's thread percentage only when the environment sets none.
func harnessEnv(w *Worker, external bool) []string {
	env := []string{
		"INFERPLAN_WORKER_ID=" + w.ID,
		"INFERPLAN_SERVICE=" + w.ServiceName,
		"INFERPLAN_MODEL=" + w.Model,
		"INFERPLAN_BATCH_SIZE=" + strconv.Itoa(w.BatchSize),
	}
	if w.GPU < 0 {
		env = append(env, "CUDA_VISIBLE_DEVICES=")
		if w.Threads > 0 {
			env = append(env, "OMP_NUM_THREADS="+strconv.Itoa(max(int(math.Round(w.Threads)), 1)))
		}
		return env
	}
	if external {
		if _, set := os.LookupEnv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"); w.Sharing == plan.SharingMPS && !set {
			env = append(env, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="+strconv.Itoa(w.MPSPct))
		}
		return env
	}
	env = append(env, "CUDA_DEVICE_ORDER=PCI_BUS_ID")
	if w.MIGDevice != "" {
		return append(env, "CUDA_VISIBLE_DEVICES="+w.MIGDevice)
	}
	env = append(env, "CUDA_VISIBLE_DEVICES="+strconv.Itoa(w.GPU))
	if w.Sharing == plan.SharingMPS {
		env = append(env, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="+strconv.Itoa(w.MPSPct))
	}
	return env
}

// processEnv is a harness's whole environment: this process's, less any MPS settings it has (a worker that is
// not under our MPS daemon must not join another; with an external GPU environment they are kept), plus the
// worker's and, for an MPS worker, our daemon's.
func processEnv(w *Worker, mps []string, external bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		if external || !strings.HasPrefix(kv, "CUDA_MPS_") {
			env = append(env, kv)
		}
	}
	env = append(env, w.Env...)
	if w.Sharing == plan.SharingMPS && !w.OnCPU {
		env = append(env, mps...)
	}
	return env
}

// migDevice is one MIG device nvidia-smi -L lists.
type migDevice struct {
	GPU     int
	Profile string // "3g.40gb"
	UUID    string // "MIG-…", what CUDA_VISIBLE_DEVICES takes
}

var (
	smiGPU = regexp.MustCompile(`^GPU (\d+):`)
	smiMIG = regexp.MustCompile(`^\s+MIG\s+(\S+)\s+Device\s+\d+:\s+\(UUID:\s*(MIG-[^)\s]+)\)`)
)

// parseSMIList reads the MIG devices out of `nvidia-smi -L`:
//
//	GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-5d5ba0d6-…)
//	  MIG 3g.40gb     Device  0: (UUID: MIG-c6d4f1ef-…)
func parseSMIList(text string) []migDevice {
	var out []migDevice
	gpu := -1
	for _, line := range strings.Split(text, "\n") {
		if m := smiGPU.FindStringSubmatch(line); m != nil {
			gpu, _ = strconv.Atoi(m[1])
			continue
		}
		if m := smiMIG.FindStringSubmatch(line); m != nil && gpu >= 0 {
			out = append(out, migDevice{GPU: gpu, Profile: m[1], UUID: m[2]})
		}
	}
	return out
}

// listMIG runs `nvidia-smi -L` (smi looked up on PATH).
func listMIG(smi string) (string, error) {
	path, err := exec.LookPath(smi)
	if err != nil {
		return "", fmt.Errorf("MIG: %s not found on PATH: a MIG split needs the NVIDIA driver's nvidia-smi to find its MIG devices", smi)
	}
	out, err := exec.Command(path, "-L").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("MIG: %s -L: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// migMatches says whether a device of profile have serves a worker that asks for want ("3g.40gb", or "3g" for
// any memory size).
func migMatches(want, have string) bool {
	want, have = strings.ToLower(want), strings.ToLower(have)
	if strings.Contains(want, ".") {
		return want == have
	}
	return strings.HasPrefix(have, want+".")
}

// assignMIG gives each MIG worker of the host a MIG device of its profile on its GPU, in the host's worker order
// (so a worker gets the same device whichever workers a run starts). It never creates one: when a device that a
// started worker (started[id]; nil: all) needs is not there, it says which nvidia-smi commands would make them.
func assignMIG(host string, workers []fleet.Worker, started map[string]bool, devs []migDevice) (map[string]string, error) {
	used := map[string]bool{}
	out := map[string]string{}
	missing := map[int][]string{} // GPU → profiles without a device
	var gpus []int
	for _, w := range workers {
		if w.GPU < 0 || w.Sharing != plan.SharingMIG {
			continue
		}
		found := false
		for _, d := range devs {
			if d.GPU == w.GPU && !used[d.UUID] && migMatches(w.MIGProfile, d.Profile) {
				used[d.UUID], out[w.ID], found = true, d.UUID, true
				break
			}
		}
		if !found && (started == nil || started[w.ID]) {
			if len(missing[w.GPU]) == 0 {
				gpus = append(gpus, w.GPU)
			}
			missing[w.GPU] = append(missing[w.GPU], w.MIGProfile)
		}
	}
	if len(gpus) == 0 {
		return out, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "MIG: the plan's MIG slices for host %s are not all on this machine, and inferplan never creates MIG instances or changes GPU settings.", host)
	for _, g := range gpus {
		var have []string
		for _, d := range devs {
			if d.GPU == g {
				have = append(have, d.Profile)
			}
		}
		haveText := "none"
		if len(have) > 0 {
			haveText = strings.Join(have, ", ")
		}
		fmt.Fprintf(&b, "\nGPU %d lacks %s (its MIG devices: %s). An operator would run, with no process on GPU %d:", g, strings.Join(missing[g], ", "), haveText, g)
		if len(have) == 0 {
			fmt.Fprintf(&b, "\n  nvidia-smi -i %d -mig 1                        # MIG mode on (it may ask for a GPU reset)", g)
		}
		fmt.Fprintf(&b, "\n  nvidia-smi mig -i %d -cgi %s -C   # the GPU instances, each with its compute instance", g, strings.Join(missing[g], ","))
		if slices.ContainsFunc(missing[g], func(p string) bool { return !strings.Contains(p, ".") }) {
			fmt.Fprintf(&b, "\n  (nvidia-smi mig -i %d -lgip lists the GPU's full profile names, such as 3g.40gb)", g)
		}
	}
	b.WriteString("\nand check with nvidia-smi -L.")
	return nil, fmt.Errorf("%s", b.String())
}

func cut(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
