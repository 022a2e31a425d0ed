package channel

import (
	"slices"
	"strings"
)

// Node is a Redis node type: its network bandwidth (the aggregate every client shares) and hourly price.
type Node struct {
	Name       string
	NetworkBps float64
	USDPerHour float64
	Source     string
}

// FMINode is the node FMI's published defaults describe.
const FMINode = "fmi-default"

// nodeSources: network bandwidth is the baseline of the EC2 instance the node runs on (Karpenter's
// instance-network-bandwidth label, below); prices are ElastiCache (Redis OSS) on-demand in us-east-1 as
// transcribed from https://aws.amazon.com/elasticache/pricing/. That page builds its tables in the browser, so
// they could not be re-read offline here: check them before quoting a cost.
const (
	nodeSource = "network: EC2 m7g baseline (Karpenter instance-types.md); price: ElastiCache on-demand us-east-1, transcribed"
	fmiSource  = "FMI config/fmi.json: bandwidth_multiple 400 MB/s, instance_price 0.0038 $/h"
)

var nodes = []Node{
	{Name: FMINode, NetworkBps: 400e6, USDPerHour: 0.0038, Source: fmiSource},
	{Name: "cache.m7g.large", NetworkBps: 937e6 / 8, USDPerHour: 0.158, Source: nodeSource},
	{Name: "cache.m7g.xlarge", NetworkBps: 1876e6 / 8, USDPerHour: 0.316, Source: nodeSource},
	{Name: "cache.m7g.2xlarge", NetworkBps: 3750e6 / 8, USDPerHour: 0.632, Source: nodeSource},
	{Name: "cache.m7g.4xlarge", NetworkBps: 7500e6 / 8, USDPerHour: 1.264, Source: nodeSource},
}

// Nodes is the small Redis node catalog.
func Nodes() []Node { return slices.Clone(nodes) }

// LookupNode finds a node type by name.
func LookupNode(name string) (Node, bool) {
	for _, n := range nodes {
		if strings.EqualFold(n.Name, name) {
			return n, true
		}
	}
	return Node{}, false
}

// NodeNames lists the catalog's node names.
func NodeNames() []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// EC2NetworkSource is where the instance network bandwidths come from.
const EC2NetworkSource = "aws/karpenter-provider-aws website/content/en/docs/reference/instance-types.md " +
	"(commit 0c5e7d8112409aff07b0f17a0f51c87bdba52ed1), label karpenter.k8s.aws/instance-network-bandwidth: " +
	"the instance's baseline bandwidth in Mbit/s, each way"

// ec2NetworkMbps is the baseline network bandwidth of the compute families a data-parallel cluster is built
// from, as EC2's DescribeInstanceTypes reports it through Karpenter's generated reference.
var ec2NetworkMbps = map[string]float64{
	"a1.medium": 500, "a1.large": 750, "a1.xlarge": 1250, "a1.2xlarge": 2500, "a1.4xlarge": 5000, "a1.metal": 5000,
	"c3.8xlarge": 10000, "c4.8xlarge": 10000, "c5.large": 750,
	"c6gd.12xlarge": 20000, "c6gd.16xlarge": 25000, "c6gd.metal": 25000,
	"c6gn.medium": 1600, "c6gn.large": 3000, "c6gn.xlarge": 6300, "c6gn.2xlarge": 12500, "c6gn.4xlarge": 25000,
	"c6gn.8xlarge": 50000, "c6gn.12xlarge": 75000, "c6gn.16xlarge": 100000,
	"c6i.large": 781, "c6i.xlarge": 1562, "c6i.2xlarge": 3125, "c6i.4xlarge": 6250, "c6i.8xlarge": 12500, "c6i.12xlarge": 18750,
	"c6id.12xlarge": 18750, "c6id.16xlarge": 25000, "c6id.24xlarge": 37500, "c6id.32xlarge": 50000, "c6id.metal": 50000,
	"c6in.large": 3125, "c6in.xlarge": 6250, "c6in.2xlarge": 12500, "c6in.4xlarge": 25000, "c6in.8xlarge": 50000,
	"c6in.12xlarge": 75000, "c6in.16xlarge": 100000, "c6in.24xlarge": 150000, "c6in.32xlarge": 200000, "c6in.metal": 200000,
	"c7a.medium": 390, "c7a.large": 781,
	"m7a.12xlarge": 18750, "m7a.16xlarge": 25000, "m7a.24xlarge": 37500, "m7a.32xlarge": 50000, "m7a.48xlarge": 50000,
	"m7g.medium": 520, "m7g.large": 937, "m7g.xlarge": 1876, "m7g.2xlarge": 3750, "m7g.4xlarge": 7500, "m7g.8xlarge": 15000,
	"m7g.12xlarge": 22500, "m7g.16xlarge": 30000, "m7g.metal": 30000,
	"m7gd.medium": 520, "m7gd.large": 937, "m7gd.xlarge": 1876,
	"m8gd.12xlarge": 22500, "m8gd.16xlarge": 30000, "m8gd.24xlarge": 40000, "m8gd.48xlarge": 50000,
}

// EC2NetworkBps is an instance type's baseline network bandwidth in bytes per second, when known.
func EC2NetworkBps(instanceType string) (float64, bool) {
	mbps, ok := ec2NetworkMbps[instanceType]
	return mbps * 1e6 / 8, ok
}
