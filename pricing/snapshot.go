package pricing

import "encoding/json"

// Snapshot is the price-file schema: the embedded snapshot, the `prices update` cache and the generator's output.
type Snapshot struct {
	Schema   int      `json:"schema"`
	Region   string   `json:"region"`
	Currency string   `json:"currency"`
	AsOf     string   `json:"as_of"` // date the prices were read from their source (YYYY-MM-DD)
	Sources  []Source `json:"sources"`

	Lambda       map[string]LambdaPrice `json:"lambda"` // by architecture: x86_64, arm64
	LambdaLimits LambdaLimits           `json:"lambda_limits"`
	Instances    []Instance             `json:"instances"`
}

// SnapshotSchema is the schema version of Snapshot.
const SnapshotSchema = 1

// Source says where part of a snapshot came from.
type Source struct {
	What   string `json:"what"`
	File   string `json:"file,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Note   string `json:"note,omitempty"`
}

// LambdaLimits are Lambda's configuration and billing rules.
type LambdaLimits struct {
	MemoryMBMin          int `json:"memory_mb_min"`
	MemoryMBMax          int `json:"memory_mb_max"`
	MBPerVCPU            int `json:"mb_per_vcpu"`
	BillingGranularityMs int `json:"billing_granularity_ms"`
}

// LambdaPrice is the on-demand price of Lambda on one architecture.
type LambdaPrice struct {
	RequestUSD    float64 `json:"request_usd"`
	Tiers         []Tier  `json:"tiers"` // by monthly GB-seconds, ascending
	FreeRequests  float64 `json:"free_requests_per_month"`
	FreeGBSeconds float64 `json:"free_gb_seconds_per_month"`
}

// Tier is a price per GB-second for the monthly GB-seconds in [FromGBSeconds, ToGBSeconds); ToGBSeconds 0 means
// no upper bound.
type Tier struct {
	FromGBSeconds float64 `json:"from_gb_s"`
	ToGBSeconds   float64 `json:"to_gb_s,omitempty"`
	USDPerGBSec   float64 `json:"usd_per_gb_s"`
}

// Instance is an EC2 instance type: its capacity and, when known, its on-demand price.
type Instance struct {
	Type            string       `json:"type"`
	Family          string       `json:"family"`
	VCPUs           int          `json:"vcpus"`
	MemoryGiB       float64      `json:"memory_gib"`
	Arch            string       `json:"arch"` // amd64 | arm64
	CPUManufacturer string       `json:"cpu_manufacturer,omitempty"`
	GPU             *GPU         `json:"gpu,omitempty"`
	Accelerator     *Accelerator `json:"accelerator,omitempty"`
	// OnDemandUSDPerHour is the Linux on-demand price; nil when the source has none (p5e, trn2, …).
	OnDemandUSDPerHour *float64 `json:"on_demand_usd_per_hour,omitempty"`
}

// GPU describes the GPUs of an instance type.
type GPU struct {
	Name              string  `json:"name"` // short name as EC2 reports it: t4, a10g, h100
	Manufacturer      string  `json:"manufacturer"`
	Model             string  `json:"model,omitempty"` // e.g. "NVIDIA H100"
	Count             float64 `json:"count"`           // fractional for shared-GPU types (g6f: 0.125 of an L4)
	MemoryMiB         int     `json:"memory_mib"`      // per GPU (or per GPU share), as EC2 reports it
	ComputeCapability string  `json:"compute_capability,omitempty"`
}

// Accelerator describes non-GPU accelerators (AWS Inferentia and Trainium).
type Accelerator struct {
	Name         string `json:"name"`
	NeuronDevice int    `json:"neuron_devices,omitempty"`
	NeuronCores  int    `json:"neuron_cores,omitempty"`
}

// Marshal encodes the snapshot the way the embedded file and the cache are written.
func (s *Snapshot) Marshal() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
