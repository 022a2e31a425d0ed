package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/inferplan/inferplan/planner/job/channel"
)

// Platform is the plan document's platform tag.
const Platform = "dataparallel"

// Version is the plan document's version.
const Version = 1

// Plan is the planner's result: a self-contained document (the job, the prices and channel parameters it was
// costed with, every configuration, the recommendation). Numbers are plain JSON numbers.
type Plan struct {
	Version  int     `json:"version"`
	Platform string  `json:"platform"`
	Job      Job     `json:"job"`
	Inputs   Inputs  `json:"inputs"`
	Pricing  Pricing `json:"pricing"`
	// ChannelParams are the parameters every configuration was predicted with.
	ChannelParams  channel.Params  `json:"channel_params"`
	Configurations []Configuration `json:"configurations"`
	// Recommended is a copy of the configuration to run: the cheapest that meets the deadline, else the
	// fastest within the budget, else the cheapest; nil when none qualifies.
	Recommended *Configuration `json:"recommended"`
	// Objective says how Recommended was chosen.
	Objective string   `json:"objective"`
	Warnings  []string `json:"warnings,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// Inputs identify the files a plan was made from.
type Inputs struct {
	JobFile             string `json:"job_file,omitempty"`
	JobSHA256           string `json:"job_sha256,omitempty"`
	ChannelParamsFile   string `json:"channel_params_file,omitempty"`
	ChannelParamsSHA256 string `json:"channel_params_sha256,omitempty"`
}

// Pricing are the prices configurations were costed at.
type Pricing struct {
	Arch          string  `json:"arch"`
	GBSecondUSD   float64 `json:"gb_second_usd"`
	RequestUSD    float64 `json:"request_usd"`
	AsOf          string  `json:"as_of"`
	CatalogSource string  `json:"catalog_source"`
}

// Configuration is one way to run the job and the model's prediction for it.
type Configuration struct {
	ID       string `json:"id"`
	Platform string `json:"platform"` // lambda or ec2
	Workers  int    `json:"workers"`
	// MemoryMB is each Lambda worker's memory.
	MemoryMB int `json:"memory_mb,omitempty"`
	// EC2Type and Instances describe an EC2 cluster: Workers workers, one per vCPU, on Instances instances.
	EC2Type   string  `json:"ec2_type,omitempty"`
	Instances int     `json:"instances,omitempty"`
	Channel   string  `json:"channel"`
	VCPUs     float64 `json:"vcpus"` // all workers together
	TimeS     float64 `json:"time_s"`
	CostUSD   float64 `json:"cost_usd"`
	// Efficiency is strong-scaling efficiency against the smallest worker count of the same series (platform,
	// memory or EC2 type, channel): T(n₀)·n₀ / (T(n)·n).
	Efficiency float64 `json:"efficiency"`
	Speedup    float64 `json:"speedup"`
	// Feasible is false when the configuration cannot run: its workers lack memory for their partitions, or a
	// Lambda would exceed its time limit. Infeasible configurations are never recommended.
	Feasible      bool      `json:"feasible"`
	Reasons       []string  `json:"reasons,omitempty"`
	MeetsDeadline *bool     `json:"meets_deadline,omitempty"`
	WithinBudget  *bool     `json:"within_budget,omitempty"`
	Breakdown     Breakdown `json:"breakdown"`
	Cost          Cost      `json:"cost"`
}

// Breakdown splits a configuration's time.
type Breakdown struct {
	SetupS   float64     `json:"setup_s"`
	ComputeS float64     `json:"compute_s"`
	CommS    float64     `json:"comm_s"`
	Stages   []StageTime `json:"stages"`
}

// StageTime is one stage's predicted time.
type StageTime struct {
	Op       string  `json:"op"`
	ComputeS float64 `json:"compute_s"`
	CommS    float64 `json:"comm_s"`
}

// Cost splits a configuration's cost.
type Cost struct {
	ComputeUSD  float64 `json:"compute_usd"`  // Lambda GB-seconds and invocations, or EC2 instance time
	RequestsUSD float64 `json:"requests_usd"` // S3 requests
	ServerUSD   float64 `json:"server_usd"`   // the rendezvous server or Redis node for the job's duration
}

// Series names the line a configuration belongs to in a strong-scaling table: everything but the worker count.
func (c *Configuration) Series() string {
	if c.Platform == "ec2" {
		return "ec2 " + c.EC2Type
	}
	return fmt.Sprintf("lambda %d MB %s", c.MemoryMB, c.Channel)
}

// Describe is a configuration in words: "64 × 1769 MB Lambda over direct", "64 workers on 2 × c6in.8xlarge".
func (c *Configuration) Describe() string {
	if c.Platform == "ec2" {
		return fmt.Sprintf("%d workers on %d × %s", c.Workers, c.Instances, c.EC2Type)
	}
	return fmt.Sprintf("%d × %d MB Lambda over %s", c.Workers, c.MemoryMB, c.Channel)
}

// Marshal writes the plan as indented JSON with a final newline.
func (p *Plan) Marshal() ([]byte, error) {
	if err := p.checkNumbers(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func (p *Plan) checkNumbers() error {
	for _, c := range p.Configurations {
		for _, v := range []float64{c.TimeS, c.CostUSD, c.Efficiency, c.Speedup, c.VCPUs} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("job plan: configuration %s has a non-finite number", c.ID)
			}
		}
	}
	return nil
}

// IsPlan says whether a JSON document is a data-parallel plan (its platform is "dataparallel").
func IsPlan(data []byte) bool {
	var head struct {
		Platform string `json:"platform"`
	}
	return json.Unmarshal(data, &head) == nil && head.Platform == Platform
}

// ParsePlan reads a plan document and checks its version and platform.
func ParsePlan(data []byte) (*Plan, error) {
	var p Plan
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&p); err != nil {
		return nil, fmt.Errorf("job plan: %w", err)
	}
	if p.Platform != Platform {
		return nil, fmt.Errorf("job plan: platform %q, want %q", p.Platform, Platform)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("job plan: version %d; this inferplan reads version %d", p.Version, Version)
	}
	if len(p.Configurations) == 0 {
		return nil, fmt.Errorf("job plan: no configurations")
	}
	return &p, nil
}
