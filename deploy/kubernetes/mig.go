package kubernetes

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/inferplan/inferplan/planner/plan"
	"github.com/inferplan/inferplan/pricing"
)

// migProfiles are the MIG profiles of the GPUs that have them, by EC2's GPU name and memory in GiB (rounded), as
// NVIDIA's MIG user guide names them (the "Supported MIG Profiles" tables): the first profile of each compute
// size is the one a bare size ("3g") means. The device plugin, under the mixed MIG strategy, advertises each as
// the resource nvidia.com/mig-<profile>. EC2 has A100 40 GB (p4d), A100 80 GB (p4de), H100 80 GB (p5) and
// H200 141 GB (p5e, p5en); the A30 is here for clusters that are not on EC2.
var migProfiles = map[migGPU][]string{
	{"a100", 40}:  {"1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb", "1g.10gb"},
	{"a100", 80}:  {"1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", "1g.20gb"},
	{"h100", 80}:  {"1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", "1g.20gb"},
	{"h200", 141}: {"1g.18gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb", "1g.35gb"},
	{"a30", 24}:   {"1g.6gb", "2g.12gb", "4g.24gb", "1g.12gb"},
}

type migGPU struct {
	name  string
	memGB int
}

// MIGResource is the device plugin's resource name for a worker's MIG profile on an instance type's GPU:
// "nvidia.com/mig-3g.40gb" for "3g" (or "3g.40gb") on a p5.4xlarge's H100 80 GB. A profile the GPU does not
// have, or a GPU with no MIG table here, is an error naming what would do.
func MIGResource(cat *pricing.Catalog, instanceType, profile string) (string, error) {
	in, ok := cat.Instance(instanceType)
	if !ok || in.GPU == nil {
		return "", fmt.Errorf("MIG on %s: the price catalog does not know its GPU, so its MIG profiles are unknown", instanceType)
	}
	g := migGPU{strings.ToLower(in.GPU.Name), int(math.Round(float64(in.GPU.MemoryMiB) / 1024))}
	profiles, ok := migProfiles[g]
	if !ok {
		var known []string
		for k := range migProfiles {
			known = append(known, fmt.Sprintf("%s %d GB", k.name, k.memGB))
		}
		slices.Sort(known)
		return "", fmt.Errorf("MIG on %s: no MIG profiles known for its GPU (%s %d GB); known: %s", instanceType, g.name, g.memGB, strings.Join(known, ", "))
	}
	size, _, full := strings.Cut(profile, ".")
	if _, ok := plan.MIGShare(size); !ok {
		return "", fmt.Errorf("MIG profile %q is not one of 1g…7g", profile)
	}
	for _, p := range profiles {
		if full && p == profile || !full && strings.HasPrefix(p, size+".") {
			return "nvidia.com/mig-" + p, nil
		}
	}
	return "", fmt.Errorf("MIG profile %q does not exist on %s's %s %d GB (its profiles: %s)", profile, instanceType, g.name, g.memGB, strings.Join(profiles, ", "))
}
