package pricing

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The shared price files a snapshot is built from.
const (
	LambdaPriceFile = "aws_lambda_pricing_us_east_1.json"
	EC2PriceFile    = "ec2_instances_us_east_1.csv"
)

// SnapshotAsOf is the date of the embedded snapshot's EC2 prices (Karpenter's table "generated at
// 2026-07-20T13:44:30Z"); the Lambda rates have not changed since 2022 and were corroborated by 2026 sources.
const SnapshotAsOf = "2026-07-20"

type lambdaFile struct {
	Region   string `json:"region"`
	Currency string `json:"currency"`
	Billing  struct {
		DurationRoundingMs int `json:"duration_rounding_ms"`
		MemoryMin          int `json:"memory_mb_min"`
		MemoryMax          int `json:"memory_mb_max"`
		MBPerVCPU          int `json:"memory_mb_per_vcpu_equivalent"`
	} `json:"billing"`
	Requests struct {
		USDPerRequest float64 `json:"usd_per_request"`
	} `json:"requests"`
	Duration map[string][]struct {
		From float64  `json:"from_gb_s_per_month"`
		To   *float64 `json:"to_gb_s_per_month"`
		USD  float64  `json:"usd_per_gb_s"`
	} `json:"duration_usd_per_gb_second"`
	Free struct {
		Requests  float64 `json:"requests"`
		GBSeconds float64 `json:"gb_seconds"`
	} `json:"free_tier_per_month"`
}

// BuildSnapshot builds a snapshot from the shared price data: the Lambda price file and the EC2 instance CSV
// described in ../shared/data/prices/README.md. asOf is the date of the prices.
func BuildSnapshot(lraw, eraw []byte, asOf string) (*Snapshot, error) {
	const lambdaPath, ec2Path = LambdaPriceFile, EC2PriceFile
	var lf lambdaFile
	if err := json.Unmarshal(lraw, &lf); err != nil {
		return nil, fmt.Errorf("%s: %w", lambdaPath, err)
	}
	snap := &Snapshot{
		Schema:   SnapshotSchema,
		Region:   lf.Region,
		Currency: lf.Currency,
		AsOf:     asOf,
		Lambda:   map[string]LambdaPrice{},
		LambdaLimits: LambdaLimits{
			MemoryMBMin: lf.Billing.MemoryMin, MemoryMBMax: lf.Billing.MemoryMax,
			MBPerVCPU: lf.Billing.MBPerVCPU, BillingGranularityMs: lf.Billing.DurationRoundingMs,
		},
	}
	for arch, tiers := range lf.Duration {
		lp := LambdaPrice{RequestUSD: lf.Requests.USDPerRequest, FreeRequests: lf.Free.Requests, FreeGBSeconds: lf.Free.GBSeconds}
		for _, t := range tiers {
			tier := Tier{FromGBSeconds: t.From, USDPerGBSec: t.USD}
			if t.To != nil {
				tier.ToGBSeconds = *t.To
			}
			lp.Tiers = append(lp.Tiers, tier)
		}
		snap.Lambda[arch] = lp
	}

	rows, err := csv.NewReader(bytes.NewReader(eraw)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ec2Path, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	get := func(r []string, name string) string { return strings.TrimSpace(r[col[name]]) }
	num := func(r []string, name string) float64 {
		v, _ := strconv.ParseFloat(get(r, name), 64)
		return v
	}
	for li, r := range rows[1:] {
		in := Instance{
			Type:            get(r, "instance_type"),
			Family:          get(r, "family"),
			VCPUs:           int(num(r, "vcpus")),
			MemoryGiB:       num(r, "memory_gib"),
			Arch:            get(r, "arch"),
			CPUManufacturer: get(r, "cpu_manufacturer"),
		}
		if in.Type == "" {
			return nil, fmt.Errorf("%s:%d: empty instance_type", ec2Path, li+2)
		}
		if name := get(r, "gpu_name"); name != "" {
			count := num(r, "gpu_count")
			if count == 0 { // fractional-GPU types report 0 in EC2; the curated column has the share
				count = num(r, "gpu_count_ec2instances_info")
			}
			in.GPU = &GPU{
				Name: name, Manufacturer: get(r, "gpu_manufacturer"), Model: get(r, "gpu_model_ec2instances_info"),
				Count: count, MemoryMiB: int(num(r, "gpu_memory_mib_per_gpu")),
				ComputeCapability: get(r, "gpu_compute_capability_ec2instances_info"),
			}
		}
		if name := get(r, "accelerator_name"); name != "" {
			in.Accelerator = &Accelerator{Name: name, NeuronDevice: int(num(r, "neuron_devices")), NeuronCores: int(num(r, "neuron_cores"))}
		}
		if p := get(r, "on_demand_usd_per_hour_us_east_1"); p != "" {
			v, err := strconv.ParseFloat(p, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("%s:%d: on_demand_usd_per_hour_us_east_1 %q", ec2Path, li+2, p)
			}
			in.OnDemandUSDPerHour = &v
		}
		snap.Instances = append(snap.Instances, in)
	}
	slices.SortFunc(snap.Instances, func(a, b Instance) int { return strings.Compare(a.Type, b.Type) })
	snap.Sources = []Source{
		{What: "AWS Lambda on-demand prices, us-east-1 (AWS Lambda pricing page, Compute Blog on tiered pricing, developer guide)", File: LambdaPriceFile, SHA256: sha(lraw),
			Note: "rates unchanged since tiered pricing began (2022-08); corroborated in 2026"},
		{What: "EC2 instance specs (Karpenter reference, ec2instances.info GPU table) and Linux on-demand prices, us-east-1 (Karpenter zz_generated.pricing_aws.go, generated 2026-07-20)", File: EC2PriceFile, SHA256: sha(eraw)},
	}
	return snap, nil
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
