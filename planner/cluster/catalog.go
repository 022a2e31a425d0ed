package cluster

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
	"github.com/inferplan/inferplan/profiler/interference"
	"github.com/inferplan/inferplan/profiler/latency"
	"github.com/inferplan/inferplan/profiler/profile"
	"github.com/inferplan/inferplan/profiler/tables"
)

// defaultCPUFamilies are the Intel x86-64 families a CPU measured on a host (not on an EC2 type) is applied to when
// the workload does not list instance types: current compute- and general-purpose generations.
var defaultCPUFamilies = []string{"c6i", "c7i", "m6i", "m7i"}

// defaultMaxCPUVCPUs bounds the CPU sizes considered by default (larger ones only add cost per instance).
const defaultMaxCPUVCPUs = 32

// migGPUs are the GPUs that can be split into MIG slices.
var migGPUs = map[string]bool{"a100": true, "h100": true, "h200": true, "a30": true}

// source is where one service's latency on one kind of hardware comes from.
type source struct {
	hw       string           // the profile's hardware id
	platform profile.Platform // gpu or cpu
	gpu      string           // EC2's GPU name, for a GPU source
	exact    string           // the EC2 type a CPU profile was measured on ("ec2-c6i.2xlarge"), if any
	// threads → curve for a CPU source; one curve (threads 0) for a GPU
	curves []curve
	slope  float64 // GPU: marginal ms per token (interference.Slope)
	// derived sources scale another service's curves by ratio
	derived bool
	from    string // the service whose curves were scaled
	ratio   float64
	file    string // the profile file of a measured source
	kind    string // measured, published (a table someone else measured) or derived
	note    string
}

type curve struct {
	threads  float64
	c        scaled
	maxBatch int
}

// scaled is a latency curve times a factor (1 for a measured one).
type scaled struct {
	c     *latency.Curve
	ratio float64
}

func (s scaled) At(n int, size float64) float64 { return s.c.At(n, size) * s.ratio }

// vcpusPerThread is how many EC2 vCPUs one measured thread stands for: a thread measured on a host's physical core
// is given a whole core of an EC2 Intel type, two vCPUs (hyperthreads); a profile measured on the EC2 type itself
// maps one to one.
func (s *source) vcpusPerThread() float64 {
	if s.exact != "" {
		return 1
	}
	return 2
}

// itype is an instance type the search may use.
type itype struct {
	name     string
	usd      float64 // per hour
	vcpus    int
	gpu      string // EC2 GPU name; "" for a CPU type
	gpus     int
	mig      bool
	x86      bool
	intel    bool
	family   string
	default_ bool // from the default families (not listed by the workload)
}

// catalog is the hardware the search may use: instance types, and per service the sources of its latency.
type catalog struct {
	types      []*itype
	sources    []map[string]*source // per service: hardware id → source
	provenance []plan.HardwareSource
	skipped    []plan.Skipped
	warnings   []string
}

// gpuName recovers EC2's GPU name from a profile's hardware id: the token of the id ("nvidia-h100-80gb-hbm3") that
// names a GPU some instance type has. Longest names first, so "l40s" is not read as "l4".
func gpuName(hw string, known []string) string {
	toks := strings.FieldsFunc(strings.ToLower(hw), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	for _, k := range known {
		if slices.Contains(toks, k) {
			return k
		}
	}
	return ""
}

// exactType is the EC2 type a CPU profile's hardware id names ("ec2-c6i.2xlarge"), if any.
func exactType(hw string) string {
	if t, ok := strings.CutPrefix(hw, "ec2-"); ok {
		return t
	}
	return ""
}

// buildCatalog joins the price catalog with the services' profiles.
func buildCatalog(w *Workload, prices *pricing.Catalog) (*catalog, error) {
	snap := prices.Snapshot()
	var known []string
	seenGPU := map[string]bool{}
	for _, in := range snap.Instances {
		if in.GPU != nil && !seenGPU[in.GPU.Name] {
			seenGPU[in.GPU.Name] = true
			known = append(known, strings.ToLower(in.GPU.Name))
		}
	}
	slices.SortFunc(known, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })

	cat := &catalog{sources: make([]map[string]*source, len(w.Services))}
	for i, s := range w.Services {
		cat.sources[i] = map[string]*source{}
		for j, prof := range s.Profiles {
			tab := latency.NewTable(prof)
			for _, k := range tab.Keys() {
				if k.Platform != profile.GPU && k.Platform != profile.CPU || k.Colocated > 0 || k.Sharing != "" {
					continue
				}
				c, _ := tab.Curve(k)
				src := cat.sources[i][k.Hardware]
				if src == nil {
					src = &source{hw: k.Hardware, platform: k.Platform, file: s.ProfilePaths[j], kind: "measured"}
					if pv, ok := tables.ProvenanceOf(prof); ok && pv.Kind != "" {
						src.kind = pv.Kind
						src.note = publishedNote(pv)
					}
					if k.Platform == profile.GPU {
						src.gpu = gpuName(k.Hardware, known)
					} else {
						src.exact = exactType(k.Hardware)
					}
					cat.sources[i][k.Hardware] = src
				} else if src.file != s.ProfilePaths[j] {
					cat.warnings = append(cat.warnings, fmt.Sprintf("service %s: %s measures %s again; %s's curves are used",
						s.Name, s.ProfilePaths[j], k.Hardware, src.file))
					continue
				}
				if k.Platform == profile.GPU {
					if len(src.curves) == 0 {
						src.curves = []curve{{0, scaled{c, 1}, c.MaxBatch()}}
						src.slope = interference.Slope(c)
					}
					continue
				}
				th := k.VCPUs
				if th <= 0 {
					continue // a CPU measurement without a thread count cannot be placed on vCPUs
				}
				if !slices.ContainsFunc(src.curves, func(x curve) bool { return x.threads == th }) {
					src.curves = append(src.curves, curve{th, scaled{c, 1}, c.MaxBatch()})
				}
			}
		}
		for _, src := range cat.sources[i] {
			slices.SortFunc(src.curves, func(a, b curve) int { return cmp.Compare(a.threads, b.threads) })
		}
	}
	cat.derive(w)
	if err := cat.pickTypes(w, snap); err != nil {
		return nil, err
	}
	cat.describe(w)
	return cat, nil
}

// derive fills, for every service, the hardware another service was measured on and it was not, by scaling that
// service's curves with the ratio of the two models' latencies on hardware both were measured on: the median
// ratio over their common large (compute-bound) shapes there. A GPU target prefers a GPU reference, a CPU target
// a CPU one; of several services that could lend their curves, the one whose model costs most like this one's
// (the ratio nearest 1) does, ties to the first in the workload.
func (cat *catalog) derive(w *Workload) {
	for i := range w.Services {
		type lend struct {
			j     int
			ratio float64
			ref   string
		}
		best := map[string]lend{}
		for j := range w.Services {
			if i == j {
				continue
			}
			for hw, src := range cat.sources[j] {
				if _, ok := cat.sources[i][hw]; ok || src.derived || len(src.curves) == 0 {
					continue
				}
				ratio, ref := cat.ratio(i, j, src.platform)
				if !(ratio > 0) {
					continue
				}
				if b, ok := best[hw]; !ok || math.Abs(math.Log(ratio)) < math.Abs(math.Log(b.ratio))-1e-12 {
					best[hw] = lend{j, ratio, ref}
				}
			}
		}
		for hw, l := range best {
			src := cat.sources[l.j][hw]
			d := &source{hw: hw, platform: src.platform, gpu: src.gpu, exact: src.exact, slope: src.slope * l.ratio,
				derived: true, from: w.Services[l.j].Name, ratio: l.ratio, file: src.file, kind: "derived"}
			for _, c := range src.curves {
				d.curves = append(d.curves, curve{c.threads, scaled{c.c.c, c.c.ratio * l.ratio}, c.maxBatch})
			}
			d.note = fmt.Sprintf("%s's latency on %s (%s) × %.3f, the median ratio of %s to %s over their large shapes on %s",
				w.Services[l.j].Name, hw, src.file, l.ratio, w.Services[i].Model, w.Services[l.j].Model, l.ref)
			cat.sources[i][hw] = d
		}
	}
}

// ratio is the median latency ratio of service i's model to service j's over the large shapes both measured on
// one hardware (of the platform preferred when there is a choice), and that hardware; 0 when they share none.
func (cat *catalog) ratio(i, j int, prefer profile.Platform) (float64, string) {
	type cand struct {
		r  float64
		hw string
		ok bool
	}
	var best cand
	hws := make([]string, 0, len(cat.sources[i]))
	for hw := range cat.sources[i] {
		hws = append(hws, hw)
	}
	slices.Sort(hws)
	for _, hw := range hws {
		a, b := cat.sources[i][hw], cat.sources[j][hw]
		if b == nil || a.derived || b.derived || len(a.curves) == 0 || len(b.curves) == 0 {
			continue
		}
		r := shapeRatio(a.curves[len(a.curves)-1].c.c, b.curves[len(b.curves)-1].c.c)
		if !(r > 0) {
			continue
		}
		if !best.ok || refRank(a, b, prefer) < refRank(cat.sources[i][best.hw], cat.sources[j][best.hw], prefer) {
			best = cand{r, hw, true}
		}
	}
	return best.r, best.hw
}

// refRank orders reference hardware for a ratio: the preferred platform first, then both models measured by us
// rather than taken from a published table.
func refRank(a, b *source, prefer profile.Platform) int {
	r := 0
	if a.platform != prefer {
		r += 2
	}
	if a.kind != "measured" || b.kind != "measured" {
		r++
	}
	return r
}

// shapeRatio is the median of a(n, s)/b(n, s) over the shapes both measured whose tokens are at least half the
// largest common token count.
func shapeRatio(a, b *latency.Curve) float64 {
	type shape struct {
		n int
		s float64
	}
	la := map[shape]float64{}
	for _, p := range latency.CurvePoints(a) {
		la[shape{p.N, p.Size}] = p.LatencyMs
	}
	var common []latency.Point
	maxT := 0.0
	for _, p := range latency.CurvePoints(b) {
		if _, ok := la[shape{p.N, p.Size}]; ok && p.LatencyMs > 0 {
			common = append(common, p)
			maxT = math.Max(maxT, float64(p.N)*p.Size)
		}
	}
	var rs []float64
	for _, p := range common {
		if float64(p.N)*p.Size >= maxT/2 {
			rs = append(rs, la[shape{p.N, p.Size}]/p.LatencyMs)
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2]
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
}

// pickTypes chooses the instance types the search may use — those the workload lists, or by default every
// priced type whose GPU some service has a latency for, and the default CPU families — and records the rest.
func (cat *catalog) pickTypes(w *Workload, snap pricing.Snapshot) error {
	byName := map[string]pricing.Instance{}
	for _, in := range snap.Instances {
		byName[in.Type] = in
	}
	usable := func(in pricing.Instance) (string, bool) {
		if in.OnDemandUSDPerHour == nil {
			return "no on-demand price in the catalog", false
		}
		if in.GPU != nil && in.GPU.Count >= 1 {
			name := strings.ToLower(in.GPU.Name)
			for i := range w.Services {
				for _, src := range cat.sources[i] {
					if src.gpu == name {
						return "", true
					}
				}
			}
			return fmt.Sprintf("no service has a latency profile for its GPU (%s)", in.GPU.Name), false
		}
		if in.GPU != nil || in.Accelerator != nil {
			return "a fractional GPU or an accelerator no profile covers", false
		}
		for i := range w.Services {
			for _, src := range cat.sources[i] {
				if src.platform != profile.CPU {
					continue
				}
				if src.exact == in.Type || src.exact == "" && in.Arch == "amd64" && in.CPUManufacturer == "intel" {
					return "", true
				}
			}
		}
		return "no service has a CPU profile that applies to it (host measurements apply to Intel x86-64 types)", false
	}
	add := func(in pricing.Instance, listed bool) {
		t := &itype{name: in.Type, usd: *in.OnDemandUSDPerHour, vcpus: in.VCPUs, x86: in.Arch == "amd64",
			intel: in.CPUManufacturer == "intel", family: in.Family, default_: !listed}
		if in.GPU != nil {
			t.gpu, t.gpus = strings.ToLower(in.GPU.Name), int(in.GPU.Count)
			t.mig = migGPUs[t.gpu]
		}
		cat.types = append(cat.types, t)
	}
	if len(w.InstanceTypes) > 0 {
		for _, name := range w.InstanceTypes {
			in, ok := byName[name]
			if !ok {
				return w.instanceError(name, "%q is not an EC2 instance type the price catalog knows (as of %s)", name, snap.AsOf)
			}
			if reason, ok := usable(in); !ok {
				cat.skipped = append(cat.skipped, plan.Skipped{InstanceType: name, Reason: reason})
				continue
			}
			add(in, true)
		}
		if len(cat.types) == 0 {
			return w.instanceError(w.InstanceTypes[0], "none of the listed instance types can serve any service: %s", cat.skipped[0].Reason)
		}
	} else {
		// by default: GPU types of the profiled GPUs, and the default CPU families; everything else is summed up
		// by family so the list stays readable
		skippedByFamily := map[string][]string{}
		reasonOf := map[string]string{}
		for _, in := range snap.Instances {
			reason, ok := usable(in)
			cpuDefault := in.GPU == nil && in.Accelerator == nil && slices.Contains(defaultCPUFamilies, in.Family) && in.VCPUs <= defaultMaxCPUVCPUs
			if ok && in.GPU == nil && !cpuDefault {
				ok, reason = false, fmt.Sprintf("not in the default CPU families (%s up to %d vCPUs); list it in instance_types to consider it",
					strings.Join(defaultCPUFamilies, ", "), defaultMaxCPUVCPUs)
			}
			if ok {
				add(in, false)
				continue
			}
			key := in.Family + "\x00" + reason
			if _, seen := reasonOf[key]; !seen {
				reasonOf[key] = reason
			}
			skippedByFamily[key] = append(skippedByFamily[key], in.Type)
		}
		keys := make([]string, 0, len(skippedByFamily))
		for k := range skippedByFamily {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ts := skippedByFamily[k]
			name := ts[0]
			if len(ts) > 1 {
				name = fmt.Sprintf("%s.* (%d types)", strings.SplitN(k, "\x00", 2)[0], len(ts))
			}
			cat.skipped = append(cat.skipped, plan.Skipped{InstanceType: name, Reason: reasonOf[k]})
		}
	}
	slices.SortStableFunc(cat.types, func(a, b *itype) int { return cmp.Or(cmp.Compare(a.usd, b.usd), strings.Compare(a.name, b.name)) })
	return nil
}

// describe records where every usable (service, hardware) latency came from and what it applies to.
func (cat *catalog) describe(w *Workload) {
	for i, s := range w.Services {
		hws := make([]string, 0, len(cat.sources[i]))
		for hw := range cat.sources[i] {
			hws = append(hws, hw)
		}
		slices.Sort(hws)
		for _, hw := range hws {
			src := cat.sources[i][hw]
			var types []string
			for _, t := range cat.types {
				if cat.fits(src, t) {
					types = append(types, t.name)
				}
			}
			if len(types) == 0 {
				if !src.derived {
					use := "it is not used"
					if src.platform == profile.CPU {
						use = "it is not used for instances (Lambda may still be emulated from it)"
					}
					cat.warnings = append(cat.warnings, fmt.Sprintf("service %s: %s (%s) stands for no instance type the search may use; %s",
						s.Name, hw, src.file, use))
				}
				continue
			}
			h := plan.HardwareSource{Service: s.Name, Hardware: hw, Kind: src.kind, Source: src.file,
				Applies: strings.Join(types, ", "), Note: src.note}
			if src.platform == profile.CPU && src.exact == "" {
				h.Note = HostCPUNote
			}
			if src.derived {
				h.Kind, h.FromHW, h.Ratio = "derived", src.from, math.Round(src.ratio*1000)/1000
				h.Source = src.note
			}
			cat.provenance = append(cat.provenance, h)
		}
	}
}

// publishedNote is the caveat of a latency table someone else published.
func publishedNote(pv tables.Provenance) string {
	note := "published by others"
	if pv.Software != "" {
		note += " (" + pv.Software + ")"
	}
	if strings.Contains(strings.ToLower(pv.Software), "tensorrt") {
		note += ": fixed-shape TensorRT engines without host copies, faster than a stock PyTorch server on the same GPU"
	}
	return note
}

// HostCPUNote is how CPU measurements taken on a host (not on an EC2 type) are applied.
const HostCPUNote = "measured on a host's physical cores: each measured thread is given 2 vCPUs of an Intel EC2 type (a core with its hyperthread)"

// fits reports whether a source's latency stands for an instance type.
func (cat *catalog) fits(src *source, t *itype) bool {
	if src.platform == profile.GPU {
		return t.gpu != "" && src.gpu == t.gpu
	}
	if t.gpu != "" {
		return false
	}
	if src.exact != "" {
		return src.exact == t.name
	}
	return t.x86 && t.intel
}
